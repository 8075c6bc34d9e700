"""The loop: observe -> decide -> execute -> record.

Each pass is level-triggered and starts from whatever the world looks like (a restart, a crash
mid-create, a lost event):

1. **Outcomes** of provider calls that ended since the last pass are reduced into the state.
2. **Observe** (:mod:`ccc.controller.observe`): a snapshot from the cluster view and the
   provider's listings; the state's timers advance from it.
3. **Decide** (:func:`policies.decide.decide`): commands with reasons, plans, next wake.
4. **Execute** (:mod:`ccc.controller.execute`): the commands are reduced into the state, and
   provider calls start as tasks; the pass does not wait for them.
5. **Record** (:mod:`ccc.controller.record`): logs, Events, metrics, status (which persists the
   state that must survive a restart).

When to pass again: at once when a provider call ended (a stockout is walked again within one
pass); after a batching window (``batch_idle_s`` of quiet, at most ``batch_max_s``) when the
cluster changed; at the decide step's next wake; and at least every ``resync_s``. Every wait is
on the injected :class:`~providers.clock.Clock`, so over a virtual clock the loop jumps from
event to event and does not tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.location import ClusterLocation
from ccc.controller.config import ControllerConfig
from ccc.controller.execute import Executor, Inbox
from ccc.controller.location import learn_location
from ccc.controller.metrics import Metrics
from ccc.controller.nodeops import NodeExecutor, NodeWriter
from ccc.controller.notices import Notices
from ccc.controller.observe import Observation, Observer
from ccc.controller.record import Recorder
from ccc.controller.signals import Signals
from ccc.controller.sinks import EventSink, StatusSink
from ccc.controller.status import restore_state
from ccc.controller.view import ClusterView
from ccc.controller.waiting import first_of
from policies.commands import Command, Cordon, Delete, Drain, Provision, Replace
from policies.decide import Decision, decide
from policies.room import PodRef, pool_of
from policies.snapshot import ServingCovers
from policies.state import ControllerState, Issued, Observed, ProviderDone, reduce
from providers.base import Provider, SelfRepairing
from providers.clock import Clock

log = structlog.get_logger("ccc.controller")

#: Shortest wait for a wake time that is already due (a pass cannot spin on it).
_MIN_WAIT_S = 0.01


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did (for tests, benchmarks and ``ccc simulate``)."""

    at: datetime
    pending: int
    absorbed: int
    commands: tuple[Command, ...]
    outcomes: tuple[ProviderDone, ...]
    orphans: tuple[str, ...]
    decision: Decision


class Reconciler:
    """One controller's loop. Not thread-safe; run on one event loop.

    Args:
        view: where pods, nodes and ComputeClasses are read.
        events, status: where Events and ComputeClass status go (``None``: nowhere).
    """

    def __init__(
        self,
        *,
        provider: Provider,
        catalog: Catalog,
        config: ControllerConfig,
        clock: Clock,
        metrics: Metrics,
        view: ClusterView,
        events: EventSink | None = None,
        status: StatusSink | None = None,
        nodes: NodeWriter | None = None,
    ) -> None:
        self.provider = provider
        self.catalog = catalog
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.view = view
        self.settings = config.settings()
        self.inbox = Inbox()
        self.executor = Executor(provider, clock, self.inbox, timeout_s=config.provider_timeout_s)
        self.observer = Observer(
            provider=provider, view=view, clock=clock, config=config, inbox=self.inbox
        )
        self.notices = Notices(events, metrics, clock)
        self.recorder = Recorder(metrics, self.notices, status)
        self.executor.on_done = self.recorder.finished
        self.node_executor = NodeExecutor(nodes, clock, metrics) if nodes is not None else None
        self.signals = Signals(clock, keep_s=self.settings.preemption_backoff_s)
        self._urgent = asyncio.Event()
        self.state = ControllerState(backoff=self.settings.backoff)
        self._restored = False
        self._changed = asyncio.Event()
        self._last: Observation | None = None
        # The pods each running provider call was decided for, by the command's identity: its
        # outcome Events name them even when they were bound (and left the pending set) before
        # the call returned.
        self._served: dict[int, Mapping[str, list[PodRef]]] = {}
        self._decision: Decision | None = None
        self._in_pass = False
        self._until: Callable[[], bool] = lambda: False
        self.next_wake: datetime | None = None
        self.passes = 0
        #: the ServingGroup controller's verdicts for drains, when it runs beside this loop
        self.serving_covers: Callable[[], ServingCovers] | None = None

    # -- triggering ------------------------------------------------------------------------
    def notify(self, *_: object) -> None:
        """The cluster changed: pass again after the batching window."""
        self._changed.set()

    def on_node(self, event: str, old: NodeInfo | None, new: NodeInfo | None) -> None:
        """Cache hook for nodes: a leaving signal passes at once (:mod:`ccc.controller.signals`),
        any other change after the batching window."""
        if self.signals.node_changed(event, old, new):
            self._urgent.set()
        self.notify()

    def on_pod(self, event: str, old: PodInfo | None, new: PodInfo | None) -> None:
        """Cache hook for pods. Only a change of demand opens the batching window: a new pod
        that wants capacity, or a bound pod leaving (room freed). The scheduler's retries of a
        pending pod, which rewrite its PodScheduled condition at up to 50/s, do not."""
        if new is not None and new.node_name and (old is None or not old.node_name):
            self.notices.pod_bound(new)
        shut = Signals.pod_shut_down(old, new)
        if shut is not None:
            node = next((n for n in self.view.nodes() if n.name == shut), None)
            if self.signals.node_shut_down(node):
                self._urgent.set()
                self.notify()
        if (new is not None and new.wants_capacity and (old is None or not old.wants_capacity)) or (
            event == "DELETED" and old is not None and old.node_name
        ):
            self.notify()

    async def start_leading(self) -> None:
        """Learn where the cluster lives, rebuild the state from the cluster (and let a provider
        whose records can drift after a crash repair them) before the first pass."""
        await self.learn_location()
        if isinstance(self.provider, SelfRepairing):
            try:
                await self.provider.reconcile()
            except Exception as exc:
                log.warning("provider.reconcile_failed", error=str(exc)[:300])
        self._restore()

    async def learn_location(self) -> None:
        """Ask the provider where the cluster lives (:mod:`ccc.controller.location`); the
        decide step plans only there."""
        location = await learn_location(self.provider, self.catalog, self.config)
        self.settings = replace(self.settings, cluster=location)

    @property
    def cluster(self) -> ClusterLocation | None:
        """The region and zones the decide step plans in (``None``: per class)."""
        return self.settings.cluster

    def _restore(self) -> None:
        self.state = restore_state(self.view.classes(), self.settings.backoff)
        self._restored = True
        log.info(
            "state.restored",
            classes=len(self.state.memory),
            requests=len(self.state.requests),
            capacity_checks=len(self.state.capacity_checks),
        )

    @property
    def busy(self) -> bool:
        """A pass runs or provider calls are in flight (a graceful shutdown lets them end)."""
        return self._in_pass or self.executor.busy

    async def run(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Lead: rebuild the state, then pass until ``until()`` or cancellation.

        When ``until()`` turns true (checked after every pass and wake-up; :meth:`notify` wakes
        the loop), no new decision is taken: provider calls in flight are let end and their
        outcomes are recorded in the classes' status, then this returns. Cancellation cancels
        the calls (the next leader reads the cloud's state)."""
        self._until = until
        await self.start_leading()
        try:
            while not until():
                started = self.clock.now()
                self._in_pass = True
                try:
                    await self.reconcile_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconcile.failed")
                finally:
                    self._in_pass = False
                    took = (self.clock.now() - started).total_seconds()
                    self.metrics.reconcile_duration.observe(max(0.0, took))
                await self._wait()
            await self._finish()
        finally:
            await self.executor.cancel_all()
            if self.node_executor is not None:
                await self.node_executor.cancel_all()
            await self.observer.close()

    async def _finish(self) -> None:
        """Let running provider calls end and persist what they taught (no new decision)."""
        while self.executor.busy:
            await self.executor.wait_any()
        inputs = self.inbox.take()
        for item in inputs:
            self.state = reduce(self.state, item)
        last, decision = self._last, self._decision
        if last is None or decision is None:
            return
        for item in inputs:
            if isinstance(item, ProviderDone):
                await self.recorder.outcome_events(item, last.classes, self._refs_of(item, last))
        await self.recorder.statuses(self.state, decision, last)

    def _refs_of(self, done: ProviderDone, last: Observation | None) -> Mapping[str, list[PodRef]]:
        """The pods a finished call served: those it was decided for, else the last pass's."""
        refs = dict(last.refs) if last else {}
        refs.update(self._served.pop(id(done.command), {}))
        return refs

    async def _wait(self) -> None:
        """Until the next pass is due (see the module docstring)."""
        cfg = self.config
        timeout = cfg.resync_s
        if self.next_wake is not None:
            due = (self.next_wake - self.clock.now()).total_seconds()
            timeout = min(timeout, max(due, _MIN_WAIT_S))
        if len(self.inbox) or not await self._sleep(timeout) or self._until():
            return  # an outcome, the timer, or a stop (which :meth:`notify` signals) ends it
        deadline = self.clock.now().timestamp() + cfg.batch_max_s
        while not len(self.inbox) and not self._until() and not self._urgent.is_set():
            self._changed.clear()
            left = deadline - self.clock.now().timestamp()
            if left <= 0 or not await self._sleep(min(cfg.batch_idle_s, left)):
                return

    async def _sleep(self, seconds: float) -> bool:
        """Sleep on the clock; True when the cluster changed first, False on the timer or an
        outcome."""
        if self._urgent.is_set():
            return False
        if self._changed.is_set() and not len(self.inbox):
            return True
        if seconds <= 0:
            return False
        await first_of(
            self._changed.wait(),
            self.inbox.ready.wait(),
            self._urgent.wait(),
            self.clock.sleep(seconds),
        )
        return self._changed.is_set() and not len(self.inbox) and not self._urgent.is_set()

    # -- one pass --------------------------------------------------------------------------
    async def reconcile_once(self) -> PassReport:
        """One pass. Never raises for provider or input errors."""
        if not self._restored:
            self._restore()
        self.passes += 1
        self._changed.clear()
        self._urgent.clear()
        inputs = self.inbox.take()
        for item in inputs:
            self.state = reduce(self.state, item)
        # Events about outcomes name the pods and classes the commands were decided for.
        outcomes = tuple(i for i in inputs if isinstance(i, ProviderDone))
        for done in outcomes:
            failed = done.command if done.error is not None else None
            if isinstance(failed, Delete) and (failed.nodes or failed.whole_pool):
                self.signals.delete_failed(failed.pool, failed.nodes)
        last = self._last
        for done in outcomes:
            await self.recorder.outcome_events(
                done, last.classes if last else {}, self._refs_of(done, last)
            )
        covers = self.serving_covers() if self.serving_covers is not None else None
        obs = self._last = await self.observer.observe(self.state, self.signals.notices(), covers)
        self.state = reduce(self.state, Observed(obs.snapshot))
        decision = self._decision = decide(obs.snapshot, self.state, self.catalog, self.settings)
        now = obs.snapshot.now
        self.state = reduce(self.state, Issued(decision.commands, now))
        for c in decision.commands:
            if isinstance(c, Provision):
                group = c.attempt.group
                self._served[id(c)] = {group: list(obs.refs.get(group, []))}
        self.executor.start(decision.commands)
        await self._start_node_verbs(decision, obs)
        poll = self.observer.late_error_poll_due(self.state, now)
        self.next_wake = min(filter(None, (decision.next_wake, poll)), default=None)
        await self.recorder.commands(decision.commands, obs.classes, now)
        await self.recorder.decision(decision, obs)
        await self.recorder.statuses(self.state, decision, obs)
        return PassReport(
            at=now,
            pending=sum(p.count for p in obs.snapshot.pending),
            absorbed=decision.absorbed_existing + decision.absorbed_expected,
            commands=decision.commands,
            outcomes=outcomes,
            orphans=tuple(sorted(decision.orphans)),
            decision=decision,
        )

    async def _start_node_verbs(self, decision: Decision, obs: Observation) -> None:
        commands = decision.commands
        # Nodes that leave because ccc removes them (or their whole pool) are no preemption.
        whole = {c.pool for c in commands if isinstance(c, Delete) and c.whole_pool}
        for c in commands:
            if isinstance(c, Delete) and c.nodes:
                self.signals.deletes(c.pool, c.nodes)
        for n in obs.snapshot.nodes if whole else ():
            pool = pool_of(n)
            if pool in whole:
                self.signals.deletes(pool, [n.name])
        if self.node_executor is not None:
            annotations = {n.name: n.annotations for n in obs.snapshot.nodes}
            self.node_executor.start(commands, annotations)
        elif any(isinstance(c, Replace | Cordon | Drain) for c in commands):
            log.error("command.not_executed", verb="node", reason="no node writer configured")
        await self.recorder.lifecycle(decision, obs, self.signals)

    async def settle(self, *, max_passes: int = 100) -> list[PassReport]:
        """Pass until no provider call runs and no outcome waits (tests, ``ccc plan``-like
        one-shot use). Returns every pass's report."""
        reports = [await self.reconcile_once()]
        while (self.executor.busy or len(self.inbox)) and len(reports) < max_passes:
            if not len(self.inbox):
                await self.executor.wait_any()
            reports.append(await self.reconcile_once())
        return reports


__all__ = ["PassReport", "Reconciler"]
