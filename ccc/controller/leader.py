"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

Two ``ccc run`` replicas must never both act: only the holder of the Lease runs the controller.

- **Acquire.** Create the Lease, or take it over when it is released (empty holder) or expired.
  Expiry is judged on the *local* clock: a Lease counts as expired ``leaseDurationSeconds``
  after this process last saw its record change, so clock skew between replicas cannot make
  two leaders (client-go does the same; a newcomer therefore waits one full lease duration
  before taking over from a silent holder).
- **Optimistic concurrency.** Every update is a PUT carrying the ``resourceVersion`` that was
  read; a concurrent writer makes it fail with 409 Conflict and the attempt simply counts as
  failed, so of several candidates exactly one wins.
- **Renew.** The leader renews every ``retry_period_s``. If it cannot renew for
  ``renew_deadline_s``, or finds another holder, it stops ``lead()`` and raises
  :class:`LeadershipLost`. The process should then exit and be restarted: its caches and
  in-flight work belong to a term that is over (client-go's ``OnStoppedLeading`` convention).
- **Release.** When ``run()`` is cancelled or ``lead()`` returns, the Lease is released (empty
  holder, ``leaseDurationSeconds: 1``) so a successor takes over at once instead of waiting for
  expiry.
- **Followers watch the Lease.** Besides trying every ``retry_period_s``, a waiting candidate
  watches its Lease and tries again as soon as the holder changes or is released, so a released
  Lease is taken over within a round trip rather than a retry period.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from ccc.api.apicall import ApiCall, watched
from ccc.controller.informer import Informer, Resource
from ccc.controller.kube import ApiClient, KubeApiError, request_json

_log = structlog.get_logger("ccc.controller.leader")
_JITTER = 1.2
_LEASES = Resource("coordination.k8s.io", "v1", "leases", True)

#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    ApiCall("coordination.k8s.io", "leases", "get", "read the Lease"),
    ApiCall("coordination.k8s.io", "leases", "create", "create the Lease"),
    ApiCall("coordination.k8s.io", "leases", "update", "renew, take over or release the Lease"),
    *watched("coordination.k8s.io", "leases", "a waiting replica watches the Lease"),
)


class LeadershipLost(Exception):
    """The Lease could not be renewed within the renew deadline, or another holder took it.

    ``lead()`` has been cancelled when this is raised; the process should exit.
    """


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Runs a coroutine only while holding a Lease.

    Args:
        api: the ApiClient.
        namespace: namespace of the Lease.
        name: name of the Lease (one per controller, e.g. ``ccc-controller``).
        identity: unique per process (e.g. pod name plus a random suffix).
        lease_duration_s: how long followers wait after the last observed renewal before
            taking over.
        renew_deadline_s: how long the leader keeps trying to renew before giving up.
        retry_period_s: interval between acquire or renew attempts (jittered up to ×1.2).
        release_on_cancel: release the Lease when ``run()`` is cancelled. Tests switch it off
            to simulate a crashed leader.
        request_timeout_s: budget of each API request; by default a quarter of the renew
            deadline (at least 1 s), so that a request stuck on a dead connection still leaves
            time for another attempt on a fresh one before the deadline.
        reconnect: called after an attempt that failed for want of an answer (a timeout, a
            broken connection), before the next one: ``ccc run`` gives the elector a client
            of its own and replaces its pooled connections here, since they may all be dead.

    Raises:
        ValueError: unless ``lease_duration_s > renew_deadline_s > 1.2 × retry_period_s > 0``.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: float = 15,
        renew_deadline_s: float = 10,
        retry_period_s: float = 2,
        release_on_cancel: bool = True,
        request_timeout_s: float | None = None,
        reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if not lease_duration_s > renew_deadline_s > _JITTER * retry_period_s > 0:
            raise ValueError(
                "leader election needs lease_duration_s > renew_deadline_s > "
                f"1.2 × retry_period_s > 0; got {lease_duration_s}, {renew_deadline_s}, "
                f"{retry_period_s}"
            )
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self._api = api
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._lease_duration_s = lease_duration_s
        self._renew_deadline_s = renew_deadline_s
        self._retry_period_s = retry_period_s
        self._release_on_cancel = release_on_cancel
        self._reconnect = reconnect
        self._request_timeout_s = (
            request_timeout_s if request_timeout_s is not None else max(1.0, renew_deadline_s / 4)
        )
        self._is_leader = False
        # The last lease record seen (spec only) and when (monotonic) it last changed.
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._observed_version = ""
        self._log = _log.bind(lease=f"{namespace}/{name}", identity=identity)

    @property
    def is_leader(self) -> bool:
        """True while this process holds the Lease and runs ``lead()``."""
        return self._is_leader

    @property
    def observed_holder(self) -> str | None:
        """Holder identity in the last Lease record seen (None if none or released)."""
        if self._observed_spec is None:
            return None
        return self._observed_spec.get("holderIdentity") or None

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait for the Lease, then run ``lead()`` while renewing it.

        Returns when ``lead()`` returns (the Lease is released first); re-raises what
        ``lead()`` raises (likewise after release).

        Raises:
            LeadershipLost: renewal failed for ``renew_deadline_s`` or another holder took the
                Lease; ``lead()`` was cancelled.
            asyncio.CancelledError: ``run()`` was cancelled; ``lead()`` was cancelled and the
                Lease released (unless ``release_on_cancel`` is false).
        """
        await self._acquire()
        lead_task: asyncio.Task[None] = asyncio.ensure_future(lead())
        renew_task = asyncio.create_task(self._renew_until_lost())
        released = False
        try:
            await asyncio.wait({lead_task, renew_task}, return_when=asyncio.FIRST_COMPLETED)
            if renew_task.done():
                self._is_leader = False
                await _cancel(lead_task)
                cause = None if renew_task.cancelled() else renew_task.exception()
                raise LeadershipLost(f"lost lease {self._namespace}/{self._name}") from cause
            self._is_leader = False
            await _cancel(renew_task)
            await self._release()
            released = True
            lead_task.result()
        except asyncio.CancelledError:
            await _cancel(lead_task)
            await _cancel(renew_task)
            if self._release_on_cancel and not released:
                await self._release()
            self._is_leader = False
            raise
        finally:
            self._is_leader = False

    async def _acquire(self) -> None:
        self._log.info("leader.waiting")
        changed = asyncio.Event()

        def on_change(_: str, old: str | None, new: str | None) -> None:
            # Renewals by the current holder are no news; a new or empty holder is.
            if new is None or new == "" or new != old:
                self._log.info("leader.lease_changed", holder=new or None)
                changed.set()

        watch: Informer[str] = Informer(
            self._api,
            _LEASES,
            project=lambda lease: str((lease.get("spec") or {}).get("holderIdentity") or ""),
            namespace=self._namespace,
            field_selector=f"metadata.name={self._name}",
            on_change=on_change,
            name=f"lease/{self._name}",
        )
        watcher = asyncio.create_task(watch.run())
        try:
            while True:
                changed.clear()
                if await self._try_acquire_or_renew():
                    break
                delay_s = self._retry_period_s * random.uniform(1.0, _JITTER)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay_s):
                        await changed.wait()
        finally:
            await _cancel(watcher)
        self._is_leader = True
        self._log.info("leader.acquired")

    async def _renew_until_lost(self) -> None:
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(self._retry_period_s * random.uniform(1.0, _JITTER))
            remaining_s = self._renew_deadline_s - (time.monotonic() - last_renewal)
            renewed = False
            if remaining_s > 0:
                try:
                    async with asyncio.timeout(remaining_s):
                        renewed = await self._try_acquire_or_renew()
                except TimeoutError:
                    renewed = False
                    await self._after_no_answer()
            if renewed:
                last_renewal = time.monotonic()
                continue
            holder = self.observed_holder
            if holder not in (None, self.identity):
                self._log.warning("leader.lost", reason="taken_over", holder=holder)
                return
            if time.monotonic() - last_renewal >= self._renew_deadline_s:
                self._log.warning(
                    "leader.lost", reason="renew_deadline", renew_deadline_s=self._renew_deadline_s
                )
                return

    async def _try_acquire_or_renew(self) -> bool:
        """One attempt; False on any failure (logged), True when we hold the Lease now."""
        now = datetime.now(UTC)
        try:
            lease = await self._get()
            if lease is None:
                spec = self._spec(now, acquire_time=now, transitions=0)
                body = {"metadata": {"name": self._name}, "spec": spec}
                created = await request_json(
                    self._api,
                    "POST",
                    self._collection,
                    body=body,
                    timeout_s=self._request_timeout_s,
                )
                self._observe(created)
                return True
            self._observe(lease)
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            if holder and holder != self.identity and not self._expired(spec):
                return False
            if holder == self.identity:
                acquire_time, transitions = spec.get("acquireTime"), spec.get("leaseTransitions")
            else:
                acquire_time, transitions = now, int(spec.get("leaseTransitions") or 0) + 1
            lease["spec"] = self._spec(now, acquire_time=acquire_time, transitions=transitions)
            updated = await request_json(
                self._api, "PUT", self._path, body=lease, timeout_s=self._request_timeout_s
            )
            self._observe(updated)
            return True
        except KubeApiError as error:
            if error.status == 409:
                # Another candidate wrote first (create race or stale resourceVersion).
                self._log.info("leader.conflict", reason=error.reason)
            else:
                self._log.warning("leader.attempt_failed", status=error.status, reason=error.reason)
            return False
        except Exception as error:  # connection errors, timeouts: retried on the next tick
            self._log.warning("leader.attempt_failed", error=f"{type(error).__name__}: {error}")
            await self._after_no_answer()
            return False

    async def _after_no_answer(self) -> None:
        if self._reconnect is None:
            return
        try:
            await self._reconnect()
        except Exception as error:
            self._log.warning("leader.reconnect_failed", error=f"{type(error).__name__}: {error}")

    async def _get(self) -> dict[str, Any] | None:
        try:
            lease: dict[str, Any] = await request_json(
                self._api, "GET", self._path, timeout_s=self._request_timeout_s
            )
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise
        return lease

    def _spec(self, now: datetime, *, acquire_time: object, transitions: object) -> dict[str, Any]:
        acquired = _micro_time(acquire_time) if isinstance(acquire_time, datetime) else acquire_time
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._lease_duration_s)),
            "acquireTime": acquired,
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions,
        }

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if spec != self._observed_spec:
            if (spec.get("holderIdentity") or None) != self.observed_holder:
                self._log.info("leader.observed", holder=spec.get("holderIdentity") or None)
            self._observed_spec = spec
            self._observed_at = time.monotonic()
        self._observed_version = version

    def _expired(self, spec: dict[str, Any]) -> bool:
        duration_s = float(spec.get("leaseDurationSeconds") or self._lease_duration_s)
        return time.monotonic() > self._observed_at + duration_s

    async def _release(self) -> None:
        """Give the Lease up so a successor need not wait for expiry (best effort)."""
        try:
            lease = await self._get()
            if lease is None:
                return
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            now = _micro_time(datetime.now(UTC))
            lease["spec"] = {
                **spec,
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "acquireTime": now,
                "renewTime": now,
            }
            await request_json(
                self._api, "PUT", self._path, body=lease, timeout_s=self._request_timeout_s
            )
            self._log.info("leader.released")
        except Exception as error:
            self._log.warning("leader.release_failed", error=f"{type(error).__name__}: {error}")


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to finish without raising its outcome."""
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        _log.warning("leader.task_failed", error=repr(task.exception()))
