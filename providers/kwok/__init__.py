"""The kwok provider: node pools as KWOK Nodes in a real API server, state in ConfigMaps.

See :mod:`providers.kwok.provider` and docs/design/008-kwok-provider.md.
"""

from providers.kwok.capacity import CAPACITY_CONFIGMAP, CAPACITY_KEY, CloudSettings
from providers.kwok.model import (
    CLOUD_LABEL,
    DEFAULT_NAMESPACE,
    IMPENDING_TERMINATION_TAINT,
    POOL_MARKER_LABEL,
    POOL_UID_LABEL,
)
from providers.kwok.provider import KwokProvider

__all__ = [
    "CAPACITY_CONFIGMAP",
    "CAPACITY_KEY",
    "CLOUD_LABEL",
    "DEFAULT_NAMESPACE",
    "IMPENDING_TERMINATION_TAINT",
    "POOL_MARKER_LABEL",
    "POOL_UID_LABEL",
    "CloudSettings",
    "KwokProvider",
]
