"""Workload files as ``ccc plan`` reads them: every kind that makes pods is understood, with
its pod count, and documents of other kinds (Services, ConfigMaps…) are skipped and counted,
never fatal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api import labels as L
from ccc.api.workload import pod_requests_from_manifest
from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
CLASS = REPO / "examples" / "computeclasses" / "h100-obtainability.yaml"


def _template(gpus: int = 8) -> dict[str, Any]:
    return {
        "spec": {
            "nodeSelector": {L.CLASS_LABEL: "h100-obtainability"},
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "requests": {"cpu": "4", "memory": "16Gi"},
                        "limits": {L.GPU_RESOURCE: str(gpus)},
                    },
                }
            ],
        }
    }


def _doc(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}


@pytest.mark.parametrize(
    ("kind", "spec", "counts"),
    [
        ("Pod", _template()["spec"], [1]),
        ("Deployment", {"replicas": 3, "template": _template()}, [3]),
        ("StatefulSet", {"replicas": 2, "template": _template()}, [2]),
        ("ReplicaSet", {"replicas": 0, "template": _template()}, []),
        ("Job", {"parallelism": 4, "template": _template()}, [4]),
        (
            "CronJob",
            {"schedule": "@daily", "jobTemplate": {"spec": {"template": _template()}}},
            [1],
        ),
        (
            "CronJob",
            {"jobTemplate": {"spec": {"parallelism": 2, "template": _template()}}},
            [2],
        ),
        (
            "LeaderWorkerSet",
            {"replicas": 2, "leaderWorkerTemplate": {"size": 4, "workerTemplate": _template()}},
            [8],
        ),
        (
            "LeaderWorkerSet",
            {
                "replicas": 2,
                "leaderWorkerTemplate": {
                    "size": 4,
                    "leaderTemplate": _template(gpus=1),
                    "workerTemplate": _template(),
                },
            },
            [2, 6],
        ),
    ],
)
def test_every_workload_kind_makes_the_pods_its_controller_would(
    kind: str, spec: dict[str, Any], counts: list[int]
) -> None:
    pods = pod_requests_from_manifest(_doc(kind, spec))
    assert [p.count for p in pods] == counts
    assert all(p.compute_class == "h100-obtainability" for p in pods)


def test_a_cronjob_error_names_the_path_inside_its_job_template() -> None:
    bad = _template()
    bad["spec"]["containers"][0]["resources"]["limits"][L.GPU_RESOURCE] = "many"
    with pytest.raises(Exception, match=r"spec\.jobTemplate\.spec\.template\.spec"):
        pod_requests_from_manifest(_doc("CronJob", {"jobTemplate": {"spec": {"template": bad}}}))


def test_items_of_other_kinds_in_a_list_make_no_pods() -> None:
    items = [
        _doc("Service", {"ports": [{"port": 80}]}),
        _doc("Deployment", {"template": _template()}),
    ]
    pods = pod_requests_from_manifest({"kind": "List", "items": items})
    assert [p.count for p in pods] == [1]


def test_a_workload_file_with_services_and_configmaps_plans_and_counts_what_it_skipped(
    tmp_path: Path,
) -> None:
    docs = [
        _doc("Service", {"ports": [{"port": 80}]}),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        {**_doc("Deployment", {"replicas": 2, "template": _template()}), "apiVersion": "apps/v1"},
    ]
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = CliRunner().invoke(app, ["plan", str(CLASS), "-w", str(path), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    assert f"{path}: 2 document(s) of other kinds skipped (no pods)" in result.stderr
    chosen = next(a for a in json.loads(result.stdout)["attempts"] if a["decision"] != "skip")
    assert chosen["nodes"] == 2
