"""`ccc plan --workload` plans pods as ccc's admission webhook admits them: a GKE workload (only
the node selector) is tolerated, a Namespace in the file can name the default class, and
``--default-compute-class`` is the cluster default; ``--no-admission`` plans pods as written.

The same function serves the webhook (tests/unit/test_policies_class_admission.py); that the cluster
admits pods the same way is shown in tests/e2e/test_admission.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api.labels import DEFAULT_CLASS_LABEL, GKE_DEFAULT_CLASS_LABEL
from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
CLASS = REPO / "examples" / "computeclasses" / "l4-serving.yaml"
runner = CliRunner()


def job(namespace: str, selector: dict[str, str] | None, cpu: str = "6") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "embed",
                "image": "x",
                "resources": {"requests": {"cpu": cpu, "memory": "12Gi"}},
            }
        ],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    if selector is not None:
        spec["nodeSelector"] = selector
    spec["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": 1}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "embed", "namespace": namespace},
        "spec": {"parallelism": 3, "template": {"spec": spec}},
    }


def namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def plan(tmp_path: Path, docs: list[dict[str, Any]], *args: str) -> tuple[int, Any, str]:
    path = tmp_path / "workload.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = runner.invoke(app, ["plan", str(CLASS), "-w", str(path), "-o", "json", *args])
    body = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, body, result.stderr


def test_pods_with_only_the_node_selector_are_planned_as_tolerated(tmp_path: Path) -> None:
    code, body, err = plan(tmp_path, [job("batch", {"ccc.dev/compute-class": "l4-serving"})])
    assert code == 0, err
    assert body["attempts"][0]["decision"] == "create"
    assert not any("tolerate" in a["reason"] for a in body["attempts"])


def test_without_admission_the_class_taint_is_not_tolerated(tmp_path: Path) -> None:
    # A pod that fits the smallest g2 shape, so the taint is the only reason it is refused
    # (resources are reported first when both fail).
    code, body, err = plan(
        tmp_path,
        [job("batch", {"ccc.dev/compute-class": "l4-serving"}, cpu="2")],
        "--no-admission",
    )
    assert code == 0, err
    assert {a["decision"] for a in body["attempts"]} == {"skip"}
    assert (
        "does not tolerate taint ccc.dev/compute-class=l4-serving" in body["attempts"][0]["reason"]
    )


@pytest.mark.parametrize("label", [DEFAULT_CLASS_LABEL, GKE_DEFAULT_CLASS_LABEL])
def test_a_namespace_in_the_workload_file_names_the_default_class(
    tmp_path: Path, label: str
) -> None:
    docs = [namespace("batch", {label: "l4-serving"}), job("batch", None)]
    code, body, err = plan(tmp_path, docs)
    assert code == 0, err
    first = body["attempts"][0]
    assert (first["decision"], first["nodes"]) == ("create", 3)


def test_the_cluster_default_class_applies_to_pods_that_select_none(tmp_path: Path) -> None:
    code, _, err = plan(tmp_path, [job("batch", None)])
    assert code != 0 and "no pod selects the class" in err
    code, body, err = plan(tmp_path, [job("batch", None)], "--default-compute-class", "l4-serving")
    assert code == 0, err
    assert body["attempts"][0]["decision"] == "create"


def test_a_pod_naming_another_class_keeps_it(tmp_path: Path) -> None:
    docs = [
        namespace("batch", {"ccc.dev/default-compute-class": "l4-serving"}),
        job("batch", {"ccc.dev/compute-class": "h100"}),
    ]
    code, _, err = plan(tmp_path, docs)
    assert code != 0 and "no pod selects the class 'l4-serving'" in err
