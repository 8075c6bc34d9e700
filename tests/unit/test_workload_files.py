"""`ccc plan --workload`: every kind that creates pods is understood (Deployments, StatefulSets,
Jobs, CronJobs, bare Pods, LeaderWorkerSets with leader and worker templates), other kinds are
skipped and counted, and a field of the wrong type is an error naming its path, never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api.errors import ConfigError
from ccc.api.workload import pod_requests_from_manifest
from ccc.cli.main import app

REPO = Path(__file__).resolve().parents[2]
H100 = REPO / "examples/computeclasses/h100-obtainability.yaml"
SELECT = {"ccc.dev/compute-class": "h100-obtainability"}


def _pod_spec(gpus: int = 8, cpu: str = "48") -> dict[str, Any]:
    return {
        "nodeSelector": SELECT,
        "tolerations": [{"operator": "Exists"}],
        "containers": [
            {
                "name": "c",
                "resources": {"requests": {"cpu": cpu}, "limits": {"nvidia.com/gpu": gpus}},
            }
        ],
    }


def _template(**kw: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": _pod_spec(**kw)}


def _obj(kind: str, spec: dict[str, Any], api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, "spec": spec}


@pytest.mark.parametrize(
    ("manifest", "counts"),
    [
        (_obj("Pod", _pod_spec(), "v1"), [1]),
        (_obj("Deployment", {"replicas": 3, "template": _template()}), [3]),
        (_obj("Deployment", {"template": _template()}), [1]),
        (_obj("StatefulSet", {"replicas": 2, "template": _template()}), [2]),
        (_obj("ReplicaSet", {"replicas": 0, "template": _template()}), []),
        (_obj("Job", {"parallelism": 4, "template": _template()}, "batch/v1"), [4]),
        (
            _obj("Job", {"parallelism": 4, "completions": 2, "template": _template()}, "batch/v1"),
            [2],
        ),
        (_obj("Job", {"parallelism": 0, "template": _template()}, "batch/v1"), []),
        (_obj("Job", {"suspend": True, "template": _template()}, "batch/v1"), []),
        (
            _obj(
                "CronJob",
                {
                    "schedule": "0 * * * *",
                    "jobTemplate": {"spec": {"parallelism": 2, "template": _template()}},
                },
                "batch/v1",
            ),
            [2],
        ),
    ],
    ids=[
        "pod",
        "deployment",
        "deployment-default",
        "statefulset",
        "zero",
        "job",
        "job-completions",
        "job-parallelism-0",
        "job-suspended",
        "cronjob",
    ],
)
def test_each_workload_kind_yields_the_pods_it_would_create(
    manifest: dict[str, Any], counts: list[int]
) -> None:
    assert [r.count for r in pod_requests_from_manifest(manifest)] == counts


def test_a_leader_worker_set_has_a_leader_and_workers_per_group() -> None:
    lws = _obj(
        "LeaderWorkerSet",
        {
            "replicas": 2,
            "leaderWorkerTemplate": {
                "size": 4,
                "leaderTemplate": _template(gpus=0, cpu="4"),
                "workerTemplate": _template(gpus=8),
            },
        },
        "leaderworkerset.x-k8s.io/v1",
    )
    leader, workers = pod_requests_from_manifest(lws)
    assert (leader.name, leader.count, leader.gpus, leader.group_size) == ("w-leader", 2, 0, 4)
    assert (workers.name, workers.count, workers.gpus, workers.group_size) == ("w-worker", 6, 8, 4)


def test_a_leader_worker_set_without_a_leader_template_uses_the_worker_template() -> None:
    lws = _obj(
        "LeaderWorkerSet",
        {"replicas": 3, "leaderWorkerTemplate": {"size": 2, "workerTemplate": _template()}},
        "leaderworkerset.x-k8s.io/v1",
    )
    [pods] = pod_requests_from_manifest(lws)
    assert (pods.count, pods.group_size) == (6, 2)


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"replicas": "3", "template": _template()}, "spec.replicas", "must be a whole number"),
        ({"replicas": -1, "template": _template()}, "spec.replicas", "of at least 0"),
        ({"template": []}, "spec.template", "must be an object (a mapping of fields), got a list"),
        (
            {"template": {"spec": {"containers": {"name": "c"}}}},
            "spec.template.spec.containers",
            "must be a list",
        ),
        (
            {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}}},
            "spec.template.spec.containers[0].resources.requests.cpu",
            "'lots' is not a Kubernetes quantity",
        ),
        (
            {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": [1]}}}]}}},
            "spec.template.spec.containers[0].resources.requests.cpu",
            "must be a quantity",
        ),
        (
            {"template": {"spec": {"nodeSelector": {"gpu": 1}}}},
            "spec.template.spec.nodeSelector.gpu",
            "must be a string",
        ),
        (
            {"template": {"spec": {"tolerations": [{"key": 5}]}}},
            "spec.template.spec.tolerations[0].key",
            "must be a string",
        ),
        (
            {"template": {"spec": {"containers": [{"resources": {"limits": {"memory": "1e40"}}}]}}},
            "spec.template.spec.containers[0].resources.limits.memory",
            "larger than Kubernetes allows",
        ),
    ],
)
def test_a_wrongly_typed_field_is_an_error_naming_its_path(
    spec: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        pod_requests_from_manifest(_obj("Deployment", spec))
    assert caught.value.path == path
    assert message in caught.value.message


def _plan(
    tmp_path: Path, *docs: dict[str, Any], extra: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    workload = tmp_path / "workload.yaml"
    workload.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = CliRunner().invoke(app, ["plan", str(H100), "-w", str(workload), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_other_kinds_in_a_workload_file_are_skipped_and_counted(tmp_path: Path) -> None:
    code, out, err = _plan(
        tmp_path,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}},
        _obj("Deployment", {"replicas": 2, "template": _template()}),
        extra=("-o", "json"),
    )
    assert code == 0, err
    assert sum(a["nodes"] for a in json.loads(out)["attempts"][:1]) == 2
    assert "3 other document(s) skipped (2 ConfigMap, 1 Service)" in err


def test_the_table_header_mentions_the_skipped_documents(tmp_path: Path) -> None:
    code, out, _ = _plan(
        tmp_path,
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}},
        _obj("StatefulSet", {"replicas": 1, "template": _template()}),
    )
    assert code == 0
    assert "1 other document(s) skipped (1 DaemonSet)" in " ".join(out.split())


def test_a_wrongly_typed_workload_field_is_one_located_line(tmp_path: Path) -> None:
    code, _, err = _plan(tmp_path, _obj("Deployment", {"replicas": "two", "template": _template()}))
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'workload.yaml'}:1: Deployment/w: spec.replicas: must be a whole"
        " number of at least 0 (got the string 'two'; write e.g. 3, without quotes)"
    ]
