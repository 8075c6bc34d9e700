"""The projection cache behind an :class:`~ccc.controller.informer.Informer` (client-go's
store): one small frozen value per object key, and the change notifications consumers rely on.

The informer decides *when* the store changes (a complete list, a watch event); the store
decides *what* a change is: it projects raw objects, diffs a fresh list against what it held
(synthetic ``ADDED`` / ``MODIFIED`` / ``DELETED`` after a relist), and calls ``on_change`` in
event order after it was updated. A projection that raises, or a handler that raises, is
logged and never stops the informer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog

T = TypeVar("T")

ChangeHandler = Callable[[str, T | None, T | None], None]
"""``on_change(event_type, old, new)``, called synchronously in event order after the store was
updated: ``ADDED`` exactly when ``old`` is None, ``DELETED`` exactly when ``new`` is None,
``MODIFIED`` otherwise (a server ``ADDED`` for a key already stored is reported as
``MODIFIED``)."""


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def describe(error: BaseException) -> str:
    """An exception for a log line: its type and at most 300 characters of its text."""
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text[:300]}"


def _safe_key(obj: dict[str, Any]) -> str:
    with contextlib.suppress(Exception):
        return object_key(obj)
    return "?"


class Store(Generic[T]):
    """``project(obj)`` per ``key(obj)``, with change notifications (module docstring)."""

    def __init__(
        self,
        *,
        project: Callable[[dict[str, Any]], T],
        key: Callable[[dict[str, Any]], str] = object_key,
        on_change: ChangeHandler[T] | None = None,
        log: Any = None,
    ) -> None:
        self._project = project
        self._key = key
        self._on_change = on_change
        self._items: dict[str, T] = {}
        self._log = log if log is not None else structlog.get_logger("ccc.controller.informer")

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def values(self) -> list[T]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def project_into(self, items: dict[str, T], obj: dict[str, Any]) -> None:
        """Add ``obj``'s projection to ``items`` (a list being built); a projection error is
        logged (``informer.project_error``) and the object left out."""
        try:
            items[self._key(obj)] = self._project(obj)
        except Exception as error:
            self._log.error("informer.project_error", error=describe(error), key=_safe_key(obj))

    def replace(self, items: dict[str, T]) -> None:
        """Swap in a fresh list and notify the differences against the old contents."""
        old = self._items
        self._items = items
        if self._on_change is None:
            return
        for key, new in items.items():
            previous = old.get(key)
            if previous is None:
                self._notify("ADDED", None, new)
            elif previous != new:
                self._notify("MODIFIED", previous, new)
        for key, previous in old.items():
            if key not in items:
                self._notify("DELETED", previous, None)

    def apply(self, kind: str, obj: dict[str, Any]) -> None:
        """Apply one watch event (``ADDED``, ``MODIFIED`` or ``DELETED``) and notify it. An
        object whose projection raises keeps its stale value (a projection bug must not stop
        the informer) and is logged."""
        key = self._key(obj)
        previous = self._items.get(key)
        if kind == "DELETED":
            self._items.pop(key, None)
            if previous is not None:
                self._notify("DELETED", previous, None)
            return
        try:
            new = self._project(obj)
        except Exception as error:
            self._log.error("informer.project_error", error=describe(error), key=key)
            return
        self._items[key] = new
        self._notify("ADDED" if previous is None else "MODIFIED", previous, new)

    def _notify(self, kind: str, old: T | None, new: T | None) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(kind, old, new)
        except Exception as error:
            self._log.error("informer.handler_error", error=describe(error), type=kind)
