"""Render the generated catalog files: compact, stable, diff-friendly.

``gcp-catalog.json`` keeps one machine type per line and shares repeated zone lists through
``zone_sets``; prices go to ``gcp-prices.csv`` (one row per machine type and region), which the
catalog reads per machine type on first use. JSON and CSV because YAML parsing of this much data
costs ~0.1 s at every CLI start (measured; see docs/catalog.md).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml


def _shared_lists(
    machines: list[dict[str, Any]], fields: tuple[str, ...]
) -> Counter[tuple[str, ...]]:
    seen: Counter[tuple[str, ...]] = Counter()
    for m in machines:
        for f in fields:
            if f in m:
                seen[tuple(m[f])] += 1
        for att in m.get("gpu_attachments", ()):
            for f in ("zones", "unverified_zones"):
                if f in att:
                    seen[tuple(att[f])] += 1
    return seen


def catalog_json(head: dict[str, Any], machines: list[dict[str, Any]]) -> str:
    """The whole gcp-catalog.json text: one machine type per line, repeated zone lists shared
    through ``zone_sets`` (a machine type's ``zones`` may name one)."""
    lists = _shared_lists(machines, ("zones", "unverified_zones"))
    names = {
        zones: f"z{i + 1}"
        for i, (zones, _n) in enumerate(z for z in lists.most_common() if z[1] > 1)
    }

    def ref(value: list[str]) -> Any:
        return names.get(tuple(value), value)

    rows = []
    for m in machines:
        row = dict(m)
        for f in ("zones", "unverified_zones"):
            if f in row:
                row[f] = ref(row[f])
        if "gpu_attachments" in row:
            row["gpu_attachments"] = [
                {k: ref(v) if k in ("zones", "unverified_zones") else v for k, v in a.items()}
                for a in row["gpu_attachments"]
            ]
        rows.append(row)
    out = ["{\n"]
    for key, value in head.items():
        out.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.append('  "zone_sets": {\n')
    sets = [f"    {json.dumps(n)}: {json.dumps(list(z))}" for z, n in names.items()]
    out.append(",\n".join(sets) + "\n  },\n")
    out.append('  "machine_types": [\n')
    out.append(",\n".join(f"    {json.dumps(r)}" for r in rows) + "\n  ]\n}\n")
    return "".join(out)


def billing_yaml(header_comment: str, data: dict[str, Any]) -> str:
    return header_comment.rstrip() + "\n" + yaml.safe_dump(data, sort_keys=False, width=100)
