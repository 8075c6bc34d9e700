"""Warnings about a class that ``ccc validate``, ``ccc plan`` and the class status share.

Each warning names a field path and says what ccc will (not) do and, where there is one, how to
change it. Pure functions of the class and its compiled tiers:

* :func:`outside_cluster` - rules (or zones of rules) outside the cluster's region are skipped
  (reference gke-computeclass.md §3.2: one cluster, one region);
* :func:`auto_creation_warning` - ``nodePoolAutoCreation`` disabled or unset: no pool is
  created (§2.1, default ``enabled: false``);
* :func:`best_effort_warnings` - ``AnyBestEffort`` falls back to on-demand inside GCE, so the
  rules after it are reached only when that attempt fails (§2.3);
* :func:`policies.unacted.unacted_fields` - fields accepted but not acted on.
"""

from __future__ import annotations

from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from policies.tiers import CompiledClass, RuleProblem, compile_class
from policies.unacted import unacted_fields


def outside_cluster(compiled: CompiledClass) -> tuple[RuleProblem, ...]:
    """Problems of rules whose zones (all, or some) lie outside the cluster's region."""
    return tuple(
        p for p in compiled.problems if p.kind in ("outside-cluster", "zones-outside-cluster")
    )


def auto_creation_warning(cc: ComputeClass, compiled: CompiledClass) -> str | None:
    """Why no pool will be created, when ``nodePoolAutoCreation`` is off and some rule
    describes nodes (a class of only ``nodepools`` rules needs no creation)."""
    if compiled.auto_create or all(r.nodepools for r in cc.spec.priorities):
        return None
    state = "disabled" if cc.spec.node_pool_auto_creation is not None else "unset (disabled)"
    return (
        f"spec.nodePoolAutoCreation: {state}, so ccc creates no node pool for this class; it "
        "only scales existing pools (nodepools rules, and manual pools labelled and tainted "
        "for the class that match a rule). Set spec.nodePoolAutoCreation.enabled: true to let "
        "ccc create pools"
    )


def best_effort_warnings(cc: ComputeClass, compiled: CompiledClass) -> tuple[str, ...]:
    """``AnyBestEffort`` rules that have rules after them in walk order."""
    out: list[str] = []
    order = list(compiled.order)
    for pos, i in enumerate(order):
        res = cc.spec.priorities[i].reservations
        if res is None or res.affinity != "AnyBestEffort" or pos == len(order) - 1:
            continue
        later = ", ".join(str(j) for j in order[pos + 1 :])
        out.append(
            f"spec.priorities[{i}].reservations.affinity: AnyBestEffort consumes a matching "
            "reservation if one has room, else creates on-demand nodes inside GCE, so the "
            f"rules after it ({later}) are reached only when that attempt fails (stockout, "
            "quota); use Specific to fall through to them when the reservation is full"
        )
    return tuple(out)


def class_warnings(cc: ComputeClass, compiled: CompiledClass) -> tuple[str, ...]:
    """Every warning about ``cc``, in a stable order."""
    out = [f"{p.path}: {p.message}" for p in outside_cluster(compiled)]
    nac = auto_creation_warning(cc, compiled)
    if nac:
        out.append(nac)
    out.extend(best_effort_warnings(cc, compiled))
    out.extend(str(n) for n in unacted_fields(cc))
    return tuple(out)


def validation_warnings(cc: ComputeClass, catalog: Catalog) -> tuple[str, ...]:
    """Warnings ``ccc validate`` prints for a valid class, without a cluster: the class is
    compiled in the region of the first zone it names (else the default region)."""
    return class_warnings(cc, compile_class(cc, catalog))
