"""Decisions about what the provider did: failed requests, nodes that never came, pools that
drifted. Part of :func:`policies.decide.decide`; pure.

* A failed request is judged once: a stockout or quota error marks the offering unavailable
  (zone, region or everywhere, by the error's scope) unless the rule's
  ``capacityCheckWaitTimeSeconds`` window is still open, in which case the same pool is retried
  after ``capacity_check_retry_s``; a transient error pauses the pool for ``error_retry_s``;
  a permanent one marks the offering so one broken rule cannot stall the class. A failed delete
  holds its pool for ``error_retry_s``, doubling with each failure in a row (up to
  ``delete_retry_max_s``); no Delete of a held pool is issued (:func:`policies.decide.decide`).
* Nodes a pool was asked for that have not registered are given up when the provider reports
  why (a late stockout, GKE's instance-group errors) or after the registration timeout (the
  rule's capacity-check wait if longer): the offering is marked and the pool shrinks back to the
  nodes that registered.
* Nodes missing from a managed pool, in the node cache and in a direct read of the API server,
  while the provider's fresh listing still counts them and no request of ours is bringing them,
  are asked for again after ``repair_after_s`` (a crash mid-create); an interrupted pool deletion
  is finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccc.api.values import CapacityType, NodePool, NodePoolStatus, OfferingKey
from policies.commands import (
    CapacityCheck,
    Cause,
    Command,
    Delete,
    MarkUnavailable,
    Provision,
    WaitUntil,
)
from policies.obtainability import ObtainabilityMemory
from policies.plan import Attempt
from policies.settings import Settings
from policies.snapshot import ClusterSnapshot
from policies.state import ControllerState, ErrorInfo, Failure, mark_key
from policies.tiers import CompiledClass

_CAUSE_OF = {"stockout": Cause.STOCKOUT, "quota": Cause.QUOTA}


@dataclass(slots=True)
class Judged:
    """What judging produced: commands, the updated memories, and per pod group the offerings
    that failed before (for "after stockout in …")."""

    commands: list[Command] = field(default_factory=list)
    memory: dict[str, ObtainabilityMemory] = field(default_factory=dict)
    after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: pools whose size changes this pass (given up, repaired, deleted)
    touched: set[str] = field(default_factory=set)


def _where(zone: str, ct: CapacityType | None) -> str:
    return f"{zone} ({ct.value if ct else ''})"


def _mark(
    judged: Judged,
    state: ControllerState,
    class_name: str,
    key: OfferingKey,
    *,
    code: str,
    message: str,
    reason: str,
    cause: Cause,
    now: datetime,
    pool: str | None,
    rule: int | None,
) -> MarkUnavailable:
    memory = judged.memory.get(class_name) or state.memory_of(class_name)
    updated = memory.record_failure(key, reason=code, message=message[:500], now=now)
    judged.memory[class_name] = updated
    entry = updated.entries[key]
    text = f"{reason}; skipped until {entry.until:%Y-%m-%dT%H:%M:%SZ}"
    command = MarkUnavailable(
        class_name=class_name,
        entry=entry,
        backoff_s=(entry.until - now).total_seconds(),
        reason=text,
        cause=cause,
        pool=pool,
        rule=rule,
    )
    judged.commands.append(command)
    return command


def retry_pause(c: Provision | Delete, state: ControllerState, settings: Settings) -> float:
    """Seconds before a pool whose call failed gets another request: ``error_retry_s``, and
    for deletes doubling with each failure in a row up to ``delete_retry_max_s`` (a delete the
    provider keeps refusing is not re-issued on every pass)."""
    if not isinstance(c, Delete):
        return settings.error_retry_s
    failed = max(1, state.delete_failures.get(c.pool, 1))
    pause: float = settings.error_retry_s * 2.0 ** min(failed - 1, 20)
    return min(pause, settings.delete_retry_max_s)


def judge_failures(
    failures: Sequence[Failure], state: ControllerState, settings: Settings, now: datetime
) -> Judged:
    """One verdict per failed provider call (see the module docstring)."""
    judged = Judged()
    for f in failures:
        c, e = f.command, f.error
        if isinstance(c, Delete) or c.cause is Cause.REPAIR or e.result == "transient":
            judged.commands.append(
                WaitUntil(
                    at=now + timedelta(seconds=retry_pause(c, state, settings)),
                    what=f"retry node pool {c.pool}",
                    reason=f"{c.pool}: {e.code}: {e.message[:200]}; retrying",
                    cause=Cause.PROVIDER_ERROR,
                    class_name=c.class_name,
                    hold=c.pool,
                )
            )
            continue
        a = c.attempt
        assert a.machine_type is not None and a.capacity_type is not None
        if a.wait_s and e.result in ("stockout", "quota"):
            check = state.capacity_checks.get(c.pool) or CapacityCheck(
                since=f.at, ends_at=f.at + timedelta(seconds=a.wait_s), class_name=c.class_name
            )
            if now < check.ends_at:
                retry = min(check.ends_at, now + timedelta(seconds=settings.capacity_check_retry_s))
                judged.commands.append(
                    WaitUntil(
                        at=retry,
                        what=f"capacity check of {c.pool}",
                        reason=(
                            f"{a.machine_type} {a.capacity_type.value} in {a.zone}: {e.code}; "
                            f"retrying within capacityCheckWaitTimeSeconds={a.wait_s} (waited "
                            f"{(now - check.since).total_seconds():.0f}s)"
                        ),
                        cause=Cause.CAPACITY_CHECK,
                        class_name=c.class_name,
                        hold=c.pool,
                        check=check,
                    )
                )
                continue
        key = mark_key(a.machine_type, a.zone, a.capacity_type, e)
        _mark(
            judged,
            state,
            c.class_name,
            key,
            code=e.code,
            message=e.message,
            reason=(
                f"{key.machine_type} {key.capacity_type.value} in {key.zone} (rule {a.rule}): "
                f"{e.code}"
            ),
            cause=_CAUSE_OF.get(e.result, Cause.PROVIDER_ERROR),
            now=now,
            pool=c.pool,
            rule=a.rule,
        )
        judged.after[a.group] = (*c.after, _where(a.zone, a.capacity_type))
    return judged


def registration_timeout(
    pool: NodePool, compiled: Mapping[str, CompiledClass], settings: Settings
) -> float:
    timeout = settings.node_registration_timeout_s
    cc = compiled.get(pool.class_name or "")
    tier = next((t for t in cc.tiers if t.rule_index == pool.rule_index), None) if cc else None
    if tier is not None and tier.wait_s:
        timeout = max(timeout, float(tier.wait_s))
    return timeout


def _late_error(errors: Sequence[ErrorInfo]) -> ErrorInfo | None:
    return next((e for e in errors if e.result in ("stockout", "quota")), None)


def give_up(
    snapshot: ClusterSnapshot,
    state: ControllerState,
    expected: Sequence[NodePool],
    compiled: Mapping[str, CompiledClass],
    settings: Settings,
    judged: Judged,
) -> None:
    """Give up on nodes that never registered (module docstring); wake at the next timeout.

    Args:
        expected: the pools at the size they were asked for (:func:`effective_pools`)."""
    if not snapshot.pools_fresh:
        return
    now = snapshot.now
    pools = {str(p.name): p for p in expected}
    for name, missing in sorted(state.missing.items()):
        pool = pools.get(name)
        if pool is None or name in state.calls or pool.status is NodePoolStatus.STOPPING:
            continue
        timeout = registration_timeout(pool, compiled, settings)
        error = _late_error(state.late_errors.get(name, ()))
        deadline = missing.since + timedelta(seconds=timeout)
        if error is None and now < deadline:
            judged.commands.append(
                WaitUntil(
                    at=deadline,
                    what=f"registration of {missing.count} node(s) of {name}",
                    reason=f"nodes of {name} must register within {timeout:.0f}s",
                    cause=Cause.REGISTRATION,
                    class_name=pool.class_name,
                )
            )
            continue
        zone = pool.zones[0] if pool.zones else ""
        code = error.code if error is not None else "NODES_NOT_REGISTERED"
        message = (
            error.message
            if error is not None
            else f"{missing.count} node(s) of {name} did not register within {timeout:.0f}s"
        )
        cause = _CAUSE_OF.get(error.result, Cause.STOCKOUT) if error else Cause.REGISTRATION
        reason = (
            f"{pool.machine_type} {pool.capacity_type.value} in {zone}: {code}: "
            f"{message[:200]}; giving up on {missing.count} node(s) of {name}"
        )
        if pool.class_name:
            key = (
                mark_key(pool.machine_type, zone, pool.capacity_type, error)
                if error is not None
                else OfferingKey(
                    machine_type=pool.machine_type, zone=zone, capacity_type=pool.capacity_type
                )
            )
            _mark(
                judged,
                state,
                pool.class_name,
                key,
                code=code,
                message=message,
                reason=reason,
                cause=cause,
                now=now,
                pool=name,
                rule=pool.rule_index,
            )
        registered = pool.node_count - missing.count
        judged.commands.append(
            Delete(
                pool=name,
                class_name=pool.class_name,
                reason=reason,
                cause=cause,
                whole_pool=registered <= 0,
                pool_size=registered if registered > 0 else None,
            )
        )
        judged.touched.add(name)


def repairs_due(state: ControllerState, settings: Settings, now: datetime) -> list[str]:
    """Pools whose missing nodes are due for a repair (the shell reads the API server for
    these before deciding, so a lagging node cache cannot trigger one)."""
    after = timedelta(seconds=settings.repair_after_s)
    due = []
    for name, missing in state.missing.items():
        last = max(missing.since, state.repaired_at.get(name, missing.since))
        if now - last >= after and name not in state.calls and name not in state.requests:
            due.append(name)
    return sorted(due)


def repair(
    snapshot: ClusterSnapshot,
    state: ControllerState,
    expected: Sequence[NodePool],
    settings: Settings,
    judged: Judged,
) -> None:
    """Ask again for nodes missing from the node cache and the API server while the provider
    still counts them; finish interrupted deletes."""
    if not snapshot.pools_fresh:
        return
    now = snapshot.now
    pools = {str(p.name): p for p in expected}
    for p in snapshot.node_pools:
        name = str(p.name)
        if p.managed and p.status is NodePoolStatus.STOPPING and name not in state.calls:
            judged.commands.append(
                Delete(
                    pool=name,
                    class_name=p.class_name,
                    reason=f"finish the interrupted deletion of node pool {name}",
                    cause=Cause.REPAIR,
                    whole_pool=True,
                )
            )
            judged.touched.add(name)
    due = set(repairs_due(state, settings, now))
    for name, missing in sorted(state.missing.items()):
        pool = pools.get(name)
        if pool is None or name in judged.touched or name in state.calls:
            continue
        if name in state.requests:
            continue  # nodes on their way: the registration timeout watches them
        if pool.status is NodePoolStatus.STOPPING or name in state.holds:
            continue
        if name not in due:
            last = max(missing.since, state.repaired_at.get(name, missing.since))
            judged.commands.append(
                WaitUntil(
                    at=last + timedelta(seconds=settings.repair_after_s),
                    what=f"repair of {name}",
                    reason=f"{missing.count} node(s) of {name} missing",
                    cause=Cause.REPAIR,
                    class_name=pool.class_name,
                )
            )
            continue
        confirmed = snapshot.node_counts.get(name)
        if confirmed is None or confirmed >= pool.node_count:
            continue  # the API server has them (or could not tell): the cache lags
        judged.commands.append(
            Provision(
                class_name=pool.class_name or "",
                attempt=_repair_attempt(pool, missing.count),
                reason=(
                    f"repair: {missing.count} node(s) of node pool {name} missing for "
                    f"{settings.repair_after_s:.0f}s or more; asking again for {pool.node_count}"
                ),
                cause=Cause.REPAIR,
            )
        )
        judged.touched.add(name)


def _repair_attempt(pool: NodePool, missing: int) -> Attempt:
    return Attempt(
        rule=pool.rule_index if pool.rule_index is not None else -1,
        zone=pool.zones[0] if pool.zones else "",
        capacity_type=pool.capacity_type,
        machine_type=pool.machine_type,
        node_pool=str(pool.name),
        accelerator=pool.accelerator,
        nodes=missing,
        price_per_hour=None,
        decision="scale",
        reason="repair",
        target_nodes=pool.node_count,
    )
