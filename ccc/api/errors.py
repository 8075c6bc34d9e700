"""Root of the typed error tree that callers branch on.

``ProviderError`` and its children live in :mod:`providers.errors`; configuration problems are
:class:`ConfigError` and carry the field path so messages can name it.
"""

from __future__ import annotations


class CCCError(Exception):
    """Base class of every error ccc raises on purpose."""


class ConfigError(CCCError):
    """Permanent problem in user input (a ComputeClass, a workload file, a flag).

    Attributes:
        path: dotted field path inside the object (``spec.priorities[2].machineType``), or ``""``.
        message: what is wrong and how to fix it.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
