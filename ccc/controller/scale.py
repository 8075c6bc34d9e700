"""Scalable workloads: reading a ServingGroup variant's target and executing ``ScaleTarget``.

:class:`Workloads` is the seam: ``ccc run`` reads and writes through the API server
(:class:`KubeWorkloads`: the workload's ``/scale`` subresource, its pod template's ComputeClass,
the pods its ``/scale`` selector matches); tests and ``ccc simulate`` use in-memory Deployments
(:mod:`ccc.controller.memworkloads`).

Replicas are only ever written through ``/scale`` (a merge patch of ``spec.replicas`` on the
subresource). Before a scale-down, the pods the command names in ``delete_first`` (on nodes being
lost or drained) get the lowest ``controller.kubernetes.io/pod-deletion-cost``, so the
ReplicaSet removes those and keeps the replicas on healthy nodes (a StatefulSet removes its
highest ordinals whatever the mark). ccc never edits a workload's template, and any kind with a
scale subresource works (Deployment, StatefulSet, LeaderWorkerSet, a custom resource). The
plural of a kind is found by API discovery once per group/version.

:class:`ScaleExecutor` runs each :class:`~policies.commands.ScaleTarget` as a task (the pass
never waits for a write); a failed write is logged and retried by the next pass, which decides
again from what it observes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import structlog

from ccc.api import labels as L
from ccc.api.apicall import ApiCall
from ccc.api.cluster import pod_info
from ccc.api.servinggroup import TargetRef
from ccc.controller.kube import KubeApiError, request_json
from policies.commands import ScaleTarget
from policies.serving_control import TargetView

log = structlog.get_logger("ccc.serving")

#: ``(apiVersion, kind)`` -> resource of the workloads a variant may name that
#: :class:`KubeWorkloads` knows without API discovery.
WELL_KNOWN: Mapping[tuple[str, str], str] = {
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("apps/v1", "ReplicaSet"): "replicasets",
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "leaderworkersets",
}

#: ``(group, resource)`` the chart grants ``/scale`` on: every kind of :data:`WELL_KNOWN` (another
#: kind, found by discovery, needs a rule in the chart's ClusterRole).
SCALE_KINDS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys(
        (api_version.rpartition("/")[0], resource)
        for (api_version, _), resource in WELL_KNOWN.items()
    )
)
#: Requests of this module (ccc.api.apicall; collected by ccc.controller.apicalls).
API_CALLS = (
    *(
        ApiCall(group, resource, verb, f"a ServingGroup variant's {kind}: {why}")
        for group, kind in SCALE_KINDS
        for resource, verb, why in (
            (kind, "get", "its pod template"),
            (f"{kind}/scale", "get", "replicas and selector"),
            (f"{kind}/scale", "patch", "set its replicas"),
        )
    ),
    ApiCall("", "pods", "list", "a variant's pods, by its selector"),
    ApiCall("", "pods", "patch", "mark pods on leaving nodes to go first on a scale-down"),
)
#: The annotation a ReplicaSet reads to choose which pods to remove on a scale-down (lower goes
#: first; Kubernetes >= 1.22, on by default), and the lowest value it takes (int32).
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
LOWEST_DELETION_COST = str(-(2**31))


@runtime_checkable
class Workloads(Protocol):
    """Read a variant's workload and set its replicas."""

    async def read(self, namespace: str, ref: TargetRef) -> TargetView:
        """What the workload looks like now (``found=False`` with an ``error`` when it cannot
        be read; never raises for a missing workload)."""
        ...

    async def set_replicas(self, command: ScaleTarget) -> None:
        """Write ``command.replicas`` through the workload's ``/scale``. Raises on failure."""
        ...


def class_of_template(obj: Any) -> str | None:
    """The ComputeClass a workload's pod template selects: the first ``nodeSelector`` found in
    ``spec`` (a Deployment's template, a LeaderWorkerSet's leader or worker template) that names
    one with ``ccc.dev/compute-class`` or GKE's key."""
    stack: list[Any] = [obj.get("spec") if isinstance(obj, Mapping) else None]
    while stack:
        item = stack.pop(0)
        if isinstance(item, Mapping):
            sel = item.get("nodeSelector")
            if isinstance(sel, Mapping):
                found = sel.get(L.CLASS_LABEL) or sel.get(L.GKE_CLASS_LABEL)
                if found:
                    return str(found)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def accelerator_of_template(obj: Any) -> str:
    """``TPU`` or ``GPU`` when a workload's pod template asks for one (``""`` otherwise)."""
    text = json.dumps((obj or {}).get("spec") or {})
    if L.TPU_RESOURCE in text:
        return "TPU"
    if L.GPU_RESOURCE in text:
        return "GPU"
    return ""


class KubeWorkloads:
    """:class:`Workloads` over the API server."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._plurals: dict[tuple[str, str], str] = dict(WELL_KNOWN)

    async def _plural(self, api_version: str, kind: str) -> str:
        key = (api_version, kind)
        if key not in self._plurals:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            body = await request_json(self._api, "GET", base)
            for r in (body or {}).get("resources") or []:
                if r.get("kind") == kind and "/" not in str(r.get("name", "")):
                    self._plurals[key] = str(r["name"])
                    break
            else:
                raise LookupError(f"{api_version} has no resource of kind {kind}")
        return self._plurals[key]

    async def _path(self, namespace: str, api_version: str, kind: str, name: str) -> str:
        plural = await self._plural(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        return f"{base}/namespaces/{namespace}/{plural}/{name}"

    async def read(self, namespace: str, ref: TargetRef) -> TargetView:
        try:
            path = await self._path(namespace, ref.api_version, ref.kind, ref.name)
            scale = await request_json(self._api, "GET", f"{path}/scale")
            obj = await request_json(self._api, "GET", path)
        except (KubeApiError, LookupError) as exc:
            return TargetView(found=False, error=f"{ref.kind} {ref.name}: {exc}"[:300])
        spec = (scale or {}).get("spec") or {}
        selector = str(((scale or {}).get("status") or {}).get("selector") or "")
        pods: tuple[Any, ...] = ()
        if selector:
            body = await request_json(
                self._api,
                "GET",
                f"/api/v1/namespaces/{namespace}/pods",
                query={"labelSelector": selector},
            )
            pods = tuple(pod_info(p) for p in (body or {}).get("items") or [])
        lws = ((obj or {}).get("spec") or {}).get("leaderWorkerTemplate") or {}
        return TargetView(
            found=True,
            replicas=int(spec.get("replicas") or 0),
            class_name=class_of_template(obj),
            pods=pods,
            lws_size=int(lws.get("size") or 1),
            accelerator=accelerator_of_template(obj),
        )

    async def set_replicas(self, command: ScaleTarget) -> None:
        path = await self._path(command.namespace, command.api_version, command.kind, command.name)
        for pod in command.delete_first:
            await self._delete_first(command.namespace, pod)
        await request_json(
            self._api,
            "PATCH",
            f"{path}/scale",
            body={"spec": {"replicas": command.replicas}},
            content_type="application/merge-patch+json",
        )

    async def _delete_first(self, namespace: str, pod: str) -> None:
        """Give ``pod`` the lowest deletion cost, so its ReplicaSet removes it before healthy
        replicas when the replicas go down. Best effort: a pod already gone, or a refused
        write, only means the ReplicaSet chooses by its other rules."""
        try:
            await request_json(
                self._api,
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{pod}",
                body={"metadata": {"annotations": {DELETION_COST: LOWEST_DELETION_COST}}},
                content_type="application/merge-patch+json",
            )
        except KubeApiError as exc:
            error = str(exc)[:200]
            log.info("scale.delete_first_failed", namespace=namespace, pod=pod, error=error)


class ScaleExecutor:
    """Runs ``ScaleTarget`` commands as tasks (module docstring).

    Attributes:
        on_done: called with each command and its error (``None`` on success) when it ends.
    """

    def __init__(self, workloads: Workloads) -> None:
        self.workloads = workloads
        self.on_done: Callable[[ScaleTarget, BaseException | None], None] = lambda c, e: None
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}

    def in_flight(self, namespace: str, kind: str, name: str) -> bool:
        """A write to this workload has not ended yet."""
        return (namespace, kind, name) in self._tasks

    def start(self, command: ScaleTarget) -> None:
        """Start the write (a newer command for the same workload waits for the older one)."""
        key = (command.namespace, command.kind, command.name)
        previous = self._tasks.get(key)
        task = asyncio.create_task(self._run(command, previous), name=f"scale-{command.name}")
        self._tasks[key] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is t:
                del self._tasks[key]

        task.add_done_callback(done)

    async def _run(self, command: ScaleTarget, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await previous
        error: BaseException | None = None
        try:
            await self.workloads.set_replicas(command)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
            log.warning(
                "scale.failed",
                namespace=command.namespace,
                kind=command.kind,
                name=command.name,
                replicas=command.replicas,
                error=str(exc)[:300],
            )
        self.on_done(command, error)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def wait_idle(self) -> None:
        """Until every write started so far has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
