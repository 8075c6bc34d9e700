"""The GKE provider: node pools through google-cloud-container, capacity signals through
google-cloud-compute. The only package of ccc that imports Google SDKs.

Public API: :class:`GKEProvider` (``GKEProvider.from_config(GKEConfig(...))``), :class:`GKEConfig`
and :func:`translate_error`.
"""

from providers.gke.config import GKEConfig
from providers.gke.errors import translate_error
from providers.gke.provider import GKEProvider

__all__ = ["GKEConfig", "GKEProvider", "translate_error"]
