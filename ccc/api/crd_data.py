"""The CustomResourceDefinitions as stored data: what ``ccc crd`` prints, without the models.

``data/crds.json`` holds :func:`ccc.api.crd.all_crds` (generated from the pydantic models)
exactly, key order included; ``tests/unit/test_crd_data.py`` fails as soon as a model change
makes them differ, with the command that regenerates the file. ``ccc crd`` reads this file
instead of generating the schema at each start: building every ComputeClass and ServingGroup
model and their JSON Schema took about two thirds of that command (benchmarks/cli_startup.py).
Everything else that needs a CRD (the Helm chart's copies, the control-plane tests) compares
with or uses the generated one.

Regenerate: ``.venv/bin/python -m ccc.api.crd_data``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

RESOURCE = "crds.json"
"""The file under ``ccc/api/data/``."""


def stored_crds() -> list[dict[str, Any]]:
    """Every CRD, in install order (ComputeClass, then ServingGroup), as stored."""
    text = resources.files("ccc.api").joinpath("data", RESOURCE).read_text(encoding="utf-8")
    crds: list[dict[str, Any]] = json.loads(text)
    return crds


def generated_text() -> str:
    """The content ``data/crds.json`` must have: the CRDs generated from the models."""
    from ccc.api.crd import all_crds

    return json.dumps(all_crds(), indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    """Write ``data/crds.json`` from the models."""
    from pathlib import Path

    path = Path(__file__).with_name("data") / RESOURCE
    path.write_text(generated_text(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
