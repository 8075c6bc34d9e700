"""The Helm chart, proven with the real tools: ``helm lint --strict``, the values schema and the
rendered objects' essentials (a server-side dry run and ``helm install`` / ``upgrade`` /
``uninstall`` into the local cluster are in test_helm_chart_cluster.py).

The chart's pods never run here (no image registry; kwok marks pods Running only on its own
nodes), so readiness is not waited for: installs are checked through the objects they create.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccc.api import labels as L
from tests.support.controlplane import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHART = REPO_ROOT / "charts" / "ccc"
#: The provider has no default: every install names it.
KWOK_VALUES = ("provider=kwok",)
GKE_VALUES = (
    "provider=gke",
    "gke.project=my-project",
    "gke.location=us-central1",
    "gke.cluster=c1",
)
EVERYTHING_ON = (
    "metrics.serviceMonitor.enabled=true",
    "networkPolicy.enabled=true",
    "serviceAccount.gcpServiceAccount=ccc@p1.iam.gserviceaccount.com",
    "controller.zones={us-central1-a,us-central1-b}",
)
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def run_tool(
    bin_dir: Path,
    tool: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``helm`` or ``kubectl`` from the control-plane bin dir; fail with its stderr."""
    result = subprocess.run(
        [str(bin_dir / tool), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{tool} {' '.join(args)}:\n{result.stderr}"
    return result


def set_args(values: Sequence[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def render(
    bin_dir: Path,
    *,
    release: str = "ccc",
    namespace: str = "ccc-system",
    values: Sequence[str] = (),
    show_only: Sequence[str] = (),
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """``helm template`` the chart and return its objects."""
    args = ["template", release, str(CHART), "--namespace", namespace, *set_args(values)]
    args += [arg for path in show_only for arg in ("--show-only", path)]
    if include_crds:
        args.append("--include-crds")
    out = run_tool(bin_dir, "helm", *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


# -- lint and schema ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        KWOK_VALUES,
        GKE_VALUES,
        (*GKE_VALUES, *EVERYTHING_ON),
        (*KWOK_VALUES, *EVERYTHING_ON),
        (*GKE_VALUES, "webhook.certManager.enabled=true", "webhook.defaultComputeClass=general"),
        (*KWOK_VALUES, "webhook.enabled=false", "controller.acceptGkeClassLabel=false"),
    ],
    ids=[
        "kwok",
        "gke",
        "gke-everything-on",
        "kwok-everything-on",
        "gke-cert-manager-cluster-default",
        "kwok-no-webhook",
    ],
)
def test_helm_lint_strict_is_clean(control_plane_bin: Path, values: tuple[str, ...]) -> None:
    out = run_tool(control_plane_bin, "helm", "lint", "--strict", str(CHART), *set_args(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((), "at '': missing property 'provider'"),
        (("replicas=two",), "at '/replicas': got string, want integer"),
        (("replicas=0",), "at '/replicas': minimum"),
        (("provider=aws",), "at '/provider': value must be one of 'gke', 'kwok'"),
        (("provider=gke",), "at '/gke': missing properties 'project', 'location', 'cluster'"),
        (
            ("provider=gke", "gke.project=my-project", "gke.location=us-central1"),
            "at '/gke': missing property 'cluster'",
        ),
        (("provider=gke", "gke.project=My_Project"), "at '/gke/project': 'My_Project' does not"),
        (("metrics.port=70000",), "at '/metrics/port': maximum"),
        (("replicaz=2",), "additional properties 'replicaz' not allowed"),
        (("serviceAccount.gcpServiceAccount=me@gmail.com",), "/serviceAccount/gcpServiceAccount"),
        (("webhook.failurePolicy=Retry",), "at '/webhook/failurePolicy': value must be one of"),
        (("webhook.timeoutSeconds=60",), "at '/webhook/timeoutSeconds': maximum"),
        (("webhook.url=http://127.0.0.1:9443/mutate-pods",), "at '/webhook/url'"),
        (("webhook.defaultComputeClass=Not_A_Name",), "at '/webhook/defaultComputeClass'"),
        (("webhook.certManager.issuerRef.kind=Secret",), "/webhook/certManager/issuerRef/kind"),
    ],
    ids=[
        "no-provider",
        "replicas-as-string",
        "no-replicas",
        "unknown-provider",
        "gke-without-project",
        "gke-without-cluster",
        "gke-project-not-an-id",
        "port-out-of-range",
        "misspelt-key",
        "not-a-gcp-service-account",
        "unknown-failure-policy",
        "timeout-above-30s",
        "plain-http-webhook-url",
        "default-class-not-a-name",
        "issuer-of-unknown-kind",
    ],
)
def test_values_schema_rejects_bad_values_naming_the_field(
    control_plane_bin: Path, values: tuple[str, ...], message: str
) -> None:
    args = ["template", "r", str(CHART), *set_args(values)]
    result = run_tool(control_plane_bin, "helm", *args, check=False)
    assert result.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr
    assert "panic" not in result.stderr and "goroutine" not in result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((), "provider is required: --set provider=gke (production) or provider=kwok"),
        (("provider=gke",), "provider=gke needs gke.project: --set gke.project=PROJECT_ID"),
        (
            ("provider=gke", "gke.project=my-project", "gke.location=us-central1"),
            "provider=gke needs gke.cluster: --set gke.cluster=CLUSTER_NAME",
        ),
    ],
    ids=["no-provider", "gke-without-project", "gke-without-cluster"],
)
def test_missing_settings_are_named_at_render_time_even_without_the_schema(
    control_plane_bin: Path, values: tuple[str, ...], message: str
) -> None:
    """``helm template/install --skip-schema-validation`` still fails, naming the value."""
    args = ["template", "r", str(CHART), "--skip-schema-validation", *set_args(values)]
    result = run_tool(control_plane_bin, "helm", *args, check=False)
    assert result.returncode != 0, f"rendered with {values}"
    assert message in result.stderr, result.stderr


# -- rendered objects -----------------------------------------------------------------------


def test_every_rendered_object_carries_the_standard_labels(control_plane_bin: Path) -> None:
    objects = render(control_plane_bin, values=(*KWOK_VALUES, *EVERYTHING_ON))
    assert objects
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in STANDARD_LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert (
            labels["app.kubernetes.io/version"]
            == yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
        )


def _container(objects: Sequence[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_deployment_runs_two_leader_elected_replicas_in_the_release_namespace(
    control_plane_bin: Path,
) -> None:
    objects = render(control_plane_bin, release="prod", namespace="ops", values=KWOK_VALUES)
    (deployment,) = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["namespace"] == "ops"
    container = _container(objects)
    assert "--leader-elect" in container["args"]
    assert "--lease-name=prod-ccc" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            KWOK_VALUES,
            {
                "provider": "kwok",
                "kwok_namespace": "ccc-kwok-cloud",
                "webhook": "True",
                "webhook_port": "9443",
                "webhook_namespace": "ops",
                "webhook_secret": "prod-ccc-webhook-cert",
                "webhook_config": "prod-ccc",
                "webhook_certs": "managed",
                "webhook_cert_hosts": (
                    "prod-ccc-webhook.ops.svc,prod-ccc-webhook.ops.svc.cluster.local"
                ),
                "default_compute_class": "None",
            },
        ),
        (
            (
                *KWOK_VALUES,
                "webhook.certManager.enabled=true",
                "webhook.defaultComputeClass=general",
                "webhook.excludeNamespaces={batch,ops-tools}",
            ),
            {
                "webhook_certs": "external",
                "webhook_config": "",
                "default_compute_class": "general",
                "admission_exclude_namespaces": "batch,ops-tools",
            },
        ),
        ((*KWOK_VALUES, "webhook.enabled=false"), {"webhook": "False"}),
        (
            (*GKE_VALUES, "controller.zones={us-central1-a,us-central1-b}"),
            {
                "provider": "gke",
                "gke_project": "my-project",
                "gke_location": "us-central1",
                "gke_cluster": "c1",
                "zones": "us-central1-a,us-central1-b",
            },
        ),
    ],
    ids=["kwok", "gke", "cert-manager", "no-webhook"],
)
def test_ccc_run_accepts_every_flag_and_variable_the_chart_passes(
    control_plane_bin: Path, values: tuple[str, ...], expected: dict[str, str]
) -> None:
    """Parses (does not run) the rendered command line with ``ccc run``'s own parser, with the
    container's environment: a renamed flag or a typo in the chart fails here."""
    import typer.main

    from ccc.cli.main import app

    objects = render(control_plane_bin, release="prod", namespace="ops", values=values)
    container = _container(objects)
    env = {
        e["name"]: e.get("value", "ops" if e["name"] == "POD_NAMESPACE" else None)
        for e in container["env"]
    }
    run = typer.main.get_command(app).commands["run"]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        ctx = run.make_context("run", list(container["args"]))
    params = ctx.params
    assert params["lease_namespace"] == "ops"
    assert params["lease_name"] == "prod-ccc"
    assert params["leader_elect"] is True
    assert params["metrics_port"] == 8080
    for key, value in expected.items():
        assert str(params[key]) == value, key


@pytest.mark.parametrize("grace", [30, 90])
def test_in_flight_calls_get_the_grace_period_minus_time_to_release_the_lease(
    control_plane_bin: Path, grace: int
) -> None:
    """On SIGTERM the controller lets provider calls finish for ``--shutdown-timeout``, then
    needs a few seconds to release its Lease (two API calls of at most 5 s): the chart derives
    the flag from the pod's grace period so the kubelet's SIGKILL never comes first."""
    objects = render(
        control_plane_bin, values=(*KWOK_VALUES, f"terminationGracePeriodSeconds={grace}")
    )
    (deployment,) = by_kind(objects, "Deployment")
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace
    flags = [a for a in _container(objects)["args"] if a.startswith("--shutdown-timeout=")]
    assert flags == [f"--shutdown-timeout={grace - 10}"]


def test_a_single_replica_gets_no_disruption_budget_that_would_block_drains(
    control_plane_bin: Path,
) -> None:
    objects = render(control_plane_bin, values=(*KWOK_VALUES, "replicas=1"))
    assert by_kind(objects, "PodDisruptionBudget") == []


def test_image_tag_defaults_to_the_package_version_and_can_be_pinned(
    control_plane_bin: Path,
) -> None:
    import ccc

    default = _container(render(control_plane_bin, values=KWOK_VALUES))
    assert default["image"].endswith(f":{ccc.__version__}")
    pinned = _container(render(control_plane_bin, values=(*KWOK_VALUES, "image.tag=sha-abc")))
    assert pinned["image"].endswith(":sha-abc")


def test_container_is_locked_down_and_probed_on_the_metrics_port(control_plane_bin: Path) -> None:
    objects = render(control_plane_bin, values=KWOK_VALUES)
    container = _container(objects)
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    (deployment,) = by_kind(objects, "Deployment")
    pod_sc = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "webhook": 9443}
    services = {s["metadata"]["name"]: s["spec"]["ports"] for s in by_kind(objects, "Service")}
    assert [p["targetPort"] for p in services["ccc-metrics"]] == ["metrics"]
    assert [(p["port"], p["targetPort"]) for p in services["ccc-webhook"]] == [(443, "webhook")]


def test_gke_settings_reach_the_controller_and_workload_identity_annotates_the_account(
    control_plane_bin: Path,
) -> None:
    objects = render(
        control_plane_bin,
        values=(*GKE_VALUES, "serviceAccount.gcpServiceAccount=ccc@p1.iam.gserviceaccount.com"),
    )
    container = _container(objects)
    assert "--provider=gke" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CCC_GKE_PROJECT"] == "my-project"
    assert env["CCC_GKE_LOCATION"] == "us-central1"
    assert env["CCC_GKE_CLUSTER"] == "c1"
    (sa,) = by_kind(objects, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "ccc@p1.iam.gserviceaccount.com"
    }
    assert not any(o["kind"] == "Namespace" for o in objects)


def _rules(objects: Sequence[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(role kind, api group, resource, verb) of every rendered rule."""
    out = []
    for role in [*by_kind(objects, "ClusterRole"), *by_kind(objects, "Role")]:
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.append((role["kind"], group, resource, verb))
    return out


@pytest.mark.parametrize(
    "values",
    [KWOK_VALUES, GKE_VALUES, (*GKE_VALUES, "webhook.certManager.enabled=true")],
    ids=["kwok", "gke", "cert-manager"],
)
def test_rbac_has_no_wildcards_and_no_secret_but_the_webhook_certificate_by_name(
    control_plane_bin: Path, values: tuple[str, ...]
) -> None:
    objects = render(control_plane_bin, values=values)
    rules = _rules(objects)
    assert rules
    for _, group, resource, verb in rules:
        assert "*" not in (group, resource, verb)
        assert resource not in ("serviceaccounts/token", "pods/exec")
        assert verb not in ("escalate", "bind", "impersonate", "deletecollection")
    by_name = {
        (r["resources"][0], tuple(r.get("resourceNames") or ())): r["verbs"]
        for role in [*by_kind(objects, "ClusterRole"), *by_kind(objects, "Role")]
        for r in role["rules"]
    }
    secrets = {k: v for k, v in by_name.items() if k[0] == "secrets"}
    webhook_configs = {k: v for k, v in by_name.items() if k[0] == "mutatingwebhookconfigurations"}
    if "webhook.certManager.enabled=true" in values:
        assert secrets == {("secrets", ("ccc-webhook-cert",)): ["get"]}
        assert webhook_configs == {}  # cert-manager's cainjector writes the caBundle
    else:
        assert secrets == {("secrets", ("ccc-webhook-cert",)): ["get", "update"]}
        assert webhook_configs == {("mutatingwebhookconfigurations", ("ccc",)): ["get", "patch"]}


def test_gke_provider_gets_no_configmap_writes_and_only_the_lifecycle_node_writes(
    control_plane_bin: Path,
) -> None:
    """Nodes are only patched (cordon, progress annotations) and pods only evicted, or patched
    with a deletion cost before a ServingGroup scale-down: GKE's own node pools create and
    delete the Nodes."""
    rules = _rules(render(control_plane_bin, values=GKE_VALUES))
    assert {(g, r, v) for _, g, r, v in rules} == {
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods", "patch"),
        ("", "pods/eviction", "create"),
        ("", "nodes", "list"),
        ("", "nodes", "watch"),
        ("", "nodes", "patch"),
        (L.GROUP, "computeclasses", "list"),
        (L.GROUP, "computeclasses", "watch"),
        (L.GROUP, "computeclasses", "get"),
        ("", "namespaces", "get"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "get"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch"),
        ("", "secrets", "get"),
        ("", "secrets", "update"),
        (L.GROUP, "computeclasses/status", "patch"),
        ("", "events", "create"),
        ("", "events", "patch"),
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "update"),
        ("coordination.k8s.io", "leases", "list"),
        ("coordination.k8s.io", "leases", "watch"),
        ("coordination.k8s.io", "leases", "create"),
        # the ServingGroup controller: the same with every provider
        (L.GROUP, "servinggroups", "list"),
        (L.GROUP, "servinggroups", "watch"),
        (L.GROUP, "servinggroups/status", "patch"),
        ("autoscaling", "horizontalpodautoscalers", "list"),
        ("autoscaling", "horizontalpodautoscalers", "watch"),
        *(
            (group, resource, verb)
            for group, plural in (
                ("apps", "deployments"),
                ("apps", "statefulsets"),
                ("apps", "replicasets"),
                ("leaderworkerset.x-k8s.io", "leaderworkersets"),
            )
            for resource, verb in (
                (plural, "get"),
                (f"{plural}/scale", "get"),
                (f"{plural}/scale", "patch"),
            )
        ),
    }
