"""The inputs of ``ccc plan``, read from files and flags with errors a person can act on.

* :func:`load_class`: the one ComputeClass of a file (``-`` for standard input);
* :func:`load_workload`: the pods of a workload file; documents of kinds that create no pods
  (Services, ConfigMaps, DaemonSets, ...) are skipped and counted, never fatal;
* :func:`parse_unavailable` and :func:`check_zones`: ``--unavailable`` and ``--zones``, checked
  against the catalog (an unknown machine type or zone is an error with a suggestion, because a
  typo there would silently plan as if nothing were stocked out).

Every failure is a :class:`PlanInputError` whose lines are printed as they are.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ccc.api.catalog import Catalog
from ccc.api.computeclass import KIND, ComputeClass
from ccc.api.errors import ConfigError
from ccc.api.manifest import (
    Document,
    InvalidManifest,
    ManifestError,
    Problem,
    classify,
    load_documents,
    load_file,
    parse_compute_class,
    skipped_summary,
)
from ccc.api.values import CapacityType, OfferingKey, region_of
from ccc.api.workload import POD_KINDS, PodRequest, pod_requests_from_manifest
from policies.obtainability import ObtainabilityMemory, Unavailability


class PlanInputError(ConfigError):
    """Input ``ccc plan`` cannot use; ``lines`` are printed one per line, each self-contained."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "invalid input")
        self.lines = lines


def _documents(path: Path) -> list[Document]:
    try:
        return load_file(path)
    except ManifestError as exc:
        raise PlanInputError(str(exc)) from None


def load_class(path: Path) -> ComputeClass:
    """The single ComputeClass in ``path``; other kinds of documents are ignored.

    Raises:
        PlanInputError: no class, several, a near miss (``kind: CustomComputeClass``), or an
            invalid class: one line per problem, ``FILE: ComputeClass/NAME: field.path: fix``.
    """
    docs = _documents(path)
    near_misses = [
        (doc, what)
        for doc in docs
        if isinstance(what := classify(doc), Problem) and doc.kind is not None
    ]
    classes = [doc for doc in docs if doc.kind == KIND]
    if near_misses and not classes:
        raise PlanInputError(
            *(f"{d.source}:{d.line}: {d.kind}/{d.name or '?'}: {p}" for d, p in near_misses)
        )
    if len(classes) != 1:
        raise PlanInputError(
            f"{path}: expected exactly one ComputeClass document, found {len(classes)}; "
            "split the file or pass the one you want to plan"
        )
    doc = classes[0]
    try:
        return parse_compute_class(doc.body)
    except InvalidManifest as exc:
        raise PlanInputError(
            *(f"{doc.source}: ComputeClass/{doc.name or '?'}: {p}" for p in exc.problems)
        ) from None


@dataclass
class Workload:
    """The pods of a workload file, the labels of its Namespaces by name (their default-class
    labels apply to the file's pods as admission would apply them), and what was skipped
    (kind -> documents)."""

    pods: list[PodRequest] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)

    def skipped_text(self) -> str:
        """``3 other document(s) skipped (1 ConfigMap, 2 Service)`` or ``""``."""
        return skipped_summary(self.skipped)


def load_workload(path: Path) -> Workload:
    """Every pod the workload file's Pods, Deployments, StatefulSets, Jobs, CronJobs and
    LeaderWorkerSets would create; other kinds are counted in ``skipped``.

    Raises:
        PlanInputError: unreadable YAML, or a workload field of the wrong type, with its path.
    """
    out = Workload()
    for doc in _documents(path):
        kind = doc.kind
        if kind == "Namespace" and isinstance(doc.body, Mapping):
            meta = doc.body.get("metadata")
            meta = meta if isinstance(meta, Mapping) else {}
            labels = meta.get("labels")
            labels = labels if isinstance(labels, Mapping) else {}
            out.namespaces[str(meta.get("name", ""))] = {str(k): str(v) for k, v in labels.items()}
            continue
        if kind not in POD_KINDS:
            if kind is None:
                raise PlanInputError(
                    f"{doc.source}:{doc.line}: {doc.describe()}: not a Kubernetes object with a"
                    " kind; remove it or add apiVersion and kind"
                )
            out.skipped[kind] += 1
            continue
        try:
            out.pods.extend(pod_requests_from_manifest(doc.body))
        except ConfigError as exc:
            where = f"{exc.path}: " if exc.path else ""
            raise PlanInputError(
                f"{doc.source}:{doc.line}: {kind}/{doc.name or '?'}: {where}{exc.message}"
            ) from None
    return out


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def parse_unavailable(
    values: Sequence[str], catalog: Catalog, now: datetime
) -> ObtainabilityMemory:
    """``MACHINE_TYPE:ZONE:CAPACITY_TYPE`` flags as an obtainability memory (one hour each).

    ``ZONE`` may be a region (a regional quota). Machine type and zone or region must be in the
    catalog.

    Raises:
        PlanInputError: a malformed flag or an unknown machine type, zone or capacity type.
    """
    entries = []
    zones = set(catalog.zones())
    regions = {region_of(z) for z in zones}
    for v in values:
        parts = v.split(":")
        if len(parts) != 3:
            raise PlanInputError(f"--unavailable {v!r}: expected MACHINE_TYPE:ZONE:CAPACITY_TYPE")
        mt, zone, ct = parts
        try:
            cap = CapacityType(ct)
        except ValueError:
            choices = ", ".join(c.value for c in CapacityType)
            raise PlanInputError(
                f"--unavailable {v!r}: capacity type must be one of {choices}"
            ) from None
        if catalog.machine_type(mt) is None:
            names = [m.name for m in catalog.machine_types]
            raise PlanInputError(
                f"--unavailable {v!r}: machine type {mt!r} is not in the catalog"
                + _suggest(mt, names)
                + " (`ccc catalog` lists them)"
            )
        if zone not in zones and zone not in regions:
            raise PlanInputError(
                f"--unavailable {v!r}: {zone!r} is neither a zone nor a region of the catalog"
                + _suggest(zone, sorted(zones | regions))
            )
        key = OfferingKey(machine_type=mt, zone=zone, capacity_type=cap)
        entries.append(
            Unavailability(key, "MARKED_BY_USER", "--unavailable", 1, now, now + timedelta(hours=1))
        )
    return ObtainabilityMemory.of(entries)


def check_zones(zones: Sequence[str], catalog: Catalog, *, flag: str = "--zones") -> list[str]:
    """``zones`` (blank entries dropped), each checked against the catalog's zones.

    Raises:
        PlanInputError: a zone the catalog does not know, with the closest names.
    """
    known = set(catalog.zones())
    out = [z.strip() for z in zones if z.strip()]
    for zone in out:
        if zone not in known:
            raise PlanInputError(
                f"{flag}: {zone!r} is not a zone of the catalog" + _suggest(zone, sorted(known))
            )
    if not out:
        raise PlanInputError(f"{flag}: give at least one zone (comma-separated)")
    return out


#: the ServingGroup kind, named here so that telling a group's file from a class's does not load
#: the ServingGroup models (``ccc plan CLASS`` never needs them)
SERVING_GROUP_KIND = "ServingGroup"


def holds_serving_group(path: Path) -> bool:
    """True when ``path`` is a directory, or a file with a ServingGroup document."""
    if path.is_dir():
        return True
    try:
        return any(doc.kind == SERVING_GROUP_KIND for doc in load_documents(path))
    except ConfigError:
        return False
