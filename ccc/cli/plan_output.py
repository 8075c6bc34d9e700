"""How ``ccc plan`` prints a plan: a table that fits the terminal, ``-o wide`` with every
column, and JSON/YAML for scripts.

The narrow table (the default) is readable at 80 columns: one row per attempt with the columns
a person compares (rule, zone, capacity, machine type, nodes, price, when it is tried, step);
the reason of a skipped attempt is a numbered note under the table, written once however many
attempts share it, and viable attempts say only "first choice" or "fallback N", since their
reason would repeat the other columns. ``-o wide`` adds the accelerator, the pool size, the
wait, the node pool name and the full reason.

Waits: GKE (and ccc) keep retrying a stocked-out flex-start or TPU attempt for the rule's
``capacityCheckWaitTimeSeconds`` before walking on, so an attempt further down the list is
reached, at worst, after the waits of the viable attempts above it; "tried after" shows that
worst case. JSON attempts gain ``waitSeconds`` and ``triedAfterSeconds``.

Warnings: GKE limits a node pool to 1,000 nodes per zone
(https://cloud.google.com/kubernetes-engine/quotas, "Nodes per node pool zone"); an attempt
that would grow a pool beyond that is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccc.api.workload import PodRequest
from ccc.cli.text_table import paragraph, render
from policies.plan import Attempt, Plan

GKE_MAX_NODES_PER_POOL_ZONE = 1000
"""GKE's "Nodes per node pool zone" limit (https://cloud.google.com/kubernetes-engine/quotas)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One attempt with what the table shows beyond :class:`Attempt`."""

    number: int
    attempt: Attempt
    step: str  # "first choice", "fallback 2", "skip"
    tried_after_s: int | None  # worst-case time before this attempt is tried; None for skips


def rows(plan: Plan) -> list[Row]:
    """Every attempt of ``plan`` numbered as in the JSON list, with its step and wait."""
    out: list[Row] = []
    n = 0
    for group in plan.groups:
        viable = 0
        elapsed = 0
        for a in group.attempts:
            n += 1
            if a.decision == "skip":
                out.append(Row(n, a, "skip", None))
                continue
            step = "first choice" if viable == 0 else f"fallback {viable}"
            out.append(Row(n, a, step, elapsed))
            viable += 1
            elapsed += a.wait_s or 0
    return out


def pending_groups(plan: Plan) -> int:
    """How many pod groups no attempt can place (their pods stay Pending)."""
    return sum(1 for g in plan.groups if g.chosen is None)


def warnings(plan: Plan) -> list[str]:
    """The plan's own warnings, then ccc's checks of GKE limits (one line per check)."""
    out = list(plan.warnings)
    too_big: list[tuple[int, int]] = []
    for row in rows(plan):
        a = row.attempt
        size = a.target_nodes if a.target_nodes is not None else a.nodes
        if a.decision != "skip" and size > GKE_MAX_NODES_PER_POOL_ZONE:
            too_big.append((row.number, size))
    if too_big:
        numbers = ", ".join(str(n) for n, _ in too_big[:8]) + (", ..." if len(too_big) > 8 else "")
        out.append(
            f"GKE allows at most {GKE_MAX_NODES_PER_POOL_ZONE:,} nodes per node pool per zone;"
            f" attempt(s) {numbers} would make a pool of up to {max(s for _, s in too_big):,}"
            " nodes, which GKE refuses: spread the pods over more zones (location.zones,"
            " locationPolicy: BALANCED) or use a bigger machine type"
        )
    return out


def to_json(plan: Plan) -> dict[str, object]:
    """:meth:`Plan.to_json` plus each attempt's ``waitSeconds`` and ``triedAfterSeconds``, and
    the ``warnings`` list (fields are only ever added to this interface)."""
    data = plan.to_json()
    attempts = data["attempts"]
    assert isinstance(attempts, list)
    for entry, row in zip(attempts, rows(plan), strict=True):
        entry["waitSeconds"] = row.attempt.wait_s
        entry["triedAfterSeconds"] = row.tried_after_s
    data["warnings"] = warnings(plan)
    return data


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds == 0:
        return "now"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 or seconds > 3600:
        return f"{seconds // 60}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"
    return f"{seconds}s"


def _price(a: Attempt) -> str:
    return "" if a.price_per_hour is None else f"{a.price_per_hour:,.2f}"


def _pods_line(group_pods: int, example: str, pod: PodRequest | None) -> str:
    shape = ""
    if pod is not None:
        parts = []
        if pod.gpus:
            parts.append(f"{pod.gpus} GPU")
        if pod.tpus:
            parts.append(f"{pod.tpus} TPU chips")
        if pod.cpu_m:
            parts.append(f"{pod.cpu_m / 1000:.3g} CPU")
        if pod.memory_bytes:
            parts.append(f"{pod.memory_bytes / 2**30:.1f} GiB")
        if pod.group_size > 1:
            parts.append(f"groups of {pod.group_size}")
        shape = f" ({', '.join(parts)} each)" if parts else ""
    return f"{group_pods} pod(s) of {example}{shape}"


def render_table(
    plan: Plan,
    *,
    width: int | None,
    wide: bool = False,
    pods: Sequence[PodRequest] = (),
    header: Sequence[str] = (),
) -> str:
    """``plan`` for a person: a table per pod group, the skip notes, warnings and the outcome,
    in lines of at most ``width`` characters (``None``: no limit, as ``-o wide`` prints)."""
    by_group = {p.group_id(): p for p in pods}
    all_rows = rows(plan)
    has_waits = any(r.attempt.wait_s for r in all_rows)
    lines = [f"ccc plan: ComputeClass/{plan.class_name}"]
    for line in header:
        lines += paragraph(line, width, indent="  ")
    notes: dict[str, int] = {}
    start = 0
    for group in plan.groups:
        group_rows = all_rows[start : start + len(group.attempts)]
        start += len(group.attempts)
        lines += paragraph(
            _pods_line(group.pods, group.example, by_group.get(group.key)), width, indent="  "
        )
        lines += _table(group_rows, notes, wide=wide, has_waits=has_waits, width=width)
    if notes and not wide:
        for reason, number in notes.items():
            lines += paragraph(f"[{number}] {reason}", width, indent="    ")
    if has_waits:
        lines += paragraph(
            "after: when the attempt is tried at the latest, if every earlier viable attempt"
            " stocks out only after its rule's capacityCheckWaitTimeSeconds",
            width,
        )
    for warning in warnings(plan):
        lines += paragraph(f"warning: {warning}", width, indent="  ")
    lines += paragraph(f"outcome: {plan.outcome}", width, indent="  ")
    return "\n".join(lines) + "\n"


def _table(
    group_rows: Sequence[Row],
    notes: dict[str, int],
    *,
    wide: bool,
    has_waits: bool,
    width: int | None,
) -> list[str]:
    columns = ["#", "rule", "zone", "capacity", "machine" if not wide else "machine type"]
    if wide:
        columns.append("accelerator")
    columns.append("nodes")
    if wide:
        columns.append("pool size")
    columns.append("$/h")
    if wide:
        columns += ["wait", "tried after", "node pool"]
    elif has_waits:
        columns.append("after")
    columns.append("step")
    if wide:
        columns.append("reason")
    cells: list[list[str]] = []
    for row in group_rows:
        a = row.attempt
        if a.decision == "skip":
            step = "skip" if wide else f"skip [{notes.setdefault(a.reason, len(notes) + 1)}]"
        elif wide or a.decision != "create":
            step = f"{a.decision}: {row.step}"
        else:
            step = row.step
        values = {
            "#": str(row.number),
            "rule": str(a.rule),
            "zone": a.zone or "-",
            "capacity": a.capacity_type.value if a.capacity_type else "-",
            "machine": a.machine_type or "-",
            "machine type": a.machine_type or "-",
            "accelerator": f"{a.accelerator.type} x{a.accelerator.count}" if a.accelerator else "",
            "nodes": str(a.nodes) if a.nodes else "-",
            "pool size": str(a.target_nodes) if a.target_nodes else "",
            "$/h": _price(a),
            "wait": _duration(a.wait_s) if a.wait_s else "",
            "tried after": _duration(row.tried_after_s),
            "after": _duration(row.tried_after_s),
            "node pool": a.node_pool or "",
            "step": step,
            "reason": a.reason,
        }
        cells.append([values[c] for c in columns])
    return render(
        columns,
        cells,
        width=width,
        right={"#", "nodes", "pool size", "$/h"},
        wrap=("zone", "machine", "step"),
    )
