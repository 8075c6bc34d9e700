"""Where the controller's reports go: Events and ComputeClass status, as small Protocols.

``ccc run`` writes to the API server (:class:`~ccc.controller.events.EventRecorder`,
:class:`~ccc.controller.status.StatusWriter`); tests and ``ccc simulate`` use the in-memory
cluster's sinks (:mod:`ccc.controller.memcluster`). Both are best effort from the loop's point
of view: a failed write is logged by the caller and never stops a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ccc.controller.events import EventType, ObjectRef


@runtime_checkable
class EventSink(Protocol):
    """Records a Kubernetes Event about ``ref``; repeats of the same Event may be folded into a
    count. Never raises (failures are logged by the implementation)."""

    async def emit(
        self, ref: ObjectRef, *, type_: EventType, reason: str, message: str, now: datetime
    ) -> None: ...


@runtime_checkable
class StatusSink(Protocol):
    """Writes the whole ``status`` of a ComputeClass. May skip a write equal to the last one
    (returns False then); raises on failure (the caller logs and retries next pass)."""

    async def write(self, name: str, status: Mapping[str, Any]) -> bool: ...

    def forget(self, name: str) -> None:
        """The class is gone: drop what is remembered about it."""
        ...
