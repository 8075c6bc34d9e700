"""The chart's RBAC is exactly what the controller needs, proven on the local cluster.

The chart's ServiceAccount, ClusterRole, Roles and bindings are rendered by ``helm template`` and
applied; a token for the ServiceAccount comes from the TokenRequest API and goes into a
kubeconfig that ``ccc run`` (a real process, kwok provider) uses for everything it does.

- With the full rules the controller provisions a GPU pod end to end
  (test_rbac_controller.py).
- Every rule (each verb of each rule) is tied to a named capability of the code; taking it away
  makes that call forbidden (``SelfSubjectAccessReview`` with the same token) while everything
  else stays allowed, so no rule is superfluous. For the key rule (creating Nodes) a real
  controller run shows the failure (test_rbac_controller.py).
- The ServiceAccount cannot read Secrets: access reviews say no and real requests get 403.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.controller import apicalls
from ccc.controller.scale import SCALE_KINDS
from tests.e2e.test_helm_chart import render
from tests.e2e.test_helm_chart_cluster import kubectl
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
ZONES = ("us-central1-a", "us-central1-b")
RBAC_TEMPLATES = (
    "templates/namespace.yaml",
    "templates/serviceaccount.yaml",
    "templates/rbac.yaml",
)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


@dataclass(frozen=True, slots=True)
class Install:
    """The chart's RBAC objects applied for one release."""

    release: str
    namespace: str
    cloud_namespace: str
    objects: list[dict[str, Any]]

    @property
    def fullname(self) -> str:
        return f"{self.release}-ccc"

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"

    def role(self, suffix: str) -> dict[str, Any]:
        """The rendered ClusterRole (``suffix`` "") or Role ``<fullname>-<suffix>``."""
        kind = "ClusterRole" if not suffix else "Role"
        name = self.fullname + (f"-{suffix}" if suffix else "")
        return next(o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name)


@asynccontextmanager
async def chart_rbac(plane: ControlPlane, api: client.ApiClient) -> AsyncIterator[Install]:
    """Render and apply the chart's ServiceAccount and RBAC (kwok provider); remove them after."""
    release, ns, cloud = f"rbac-{_uid()}", f"rbac-{_uid()}", f"rbac-cloud-{_uid()}"
    objects = render(
        plane.bin_dir,
        release=release,
        namespace=ns,
        values=("provider=kwok", f"kwok.namespace={cloud}"),
        show_only=RBAC_TEMPLATES,
    )
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": ns}})
    install = Install(release, ns, cloud, objects)
    try:
        kubectl(plane, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        yield install
    finally:
        rbac = client.RbacAuthorizationV1Api(api)
        with suppress(client.ApiException):
            await rbac.delete_cluster_role_binding(install.fullname)
        with suppress(client.ApiException):
            await rbac.delete_cluster_role(install.fullname)
        for name in (ns, cloud):
            with suppress(client.ApiException):
                await core.delete_namespace(name)


async def token_kubeconfig(
    plane: ControlPlane, api: client.ApiClient, install: Install, path: Path
) -> Path:
    """Mint a token for the chart's ServiceAccount (TokenRequest API) and write a kubeconfig."""
    core = client.CoreV1Api(api)
    request = await core.create_namespaced_service_account_token(
        install.fullname, install.namespace, {"spec": {"expirationSeconds": 3600}}
    )
    return write_token_kubeconfig(plane, request.status.token, path)


def write_token_kubeconfig(plane: ControlPlane, token: str, path: Path) -> Path:
    """A kubeconfig for ``plane`` that authenticates with a bearer ``token``."""
    ca = base64.b64encode(plane.pki.ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": plane.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "ccc-sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "ccc-sa"}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


# -- every rule is a capability ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    """One verb of one rule, the call of the controller that needs it, and where it is made."""

    role: str  # "" = the ClusterRole, else the suffix of the Role's name
    group: str
    resource: str
    verb: str
    what: str
    namespace: str = ""  # "{release}" / "{cloud}" / a namespace / "" = cluster-wide
    by_name: str = ""  # the name the request names ("{fullname}" = the release's full name)

    @property
    def rule(self) -> tuple[str, str, str, str]:
        return (self.role, self.group, self.resource, self.verb)


CAPABILITIES = (
    Capability("", "", "pods", "list", "informer lists pending pods in all namespaces"),
    Capability("", "", "pods", "watch", "informer watches pods in all namespaces"),
    Capability("", "", "nodes", "list", "informer lists nodes; kwok pools list their Nodes"),
    Capability("", "", "nodes", "watch", "informer watches nodes"),
    Capability("", "", "nodes", "get", "kwok provider reads a Node it is about to replace"),
    Capability("", "", "nodes", "create", "kwok provider creates a pool's KWOK Nodes"),
    Capability("", "", "nodes", "patch", "lifecycle cordons and annotates nodes being replaced"),
    Capability("", "", "pods/eviction", "create", "drains evict pods (PDBs apply)"),
    Capability("", "", "pods", "patch", "pods on leaving nodes get the lowest deletion cost", "ml"),
    Capability("", "", "nodes", "delete", "kwok provider removes Nodes on scale-down"),
    Capability("", L.GROUP, "computeclasses", "list", "informer lists ComputeClasses"),
    Capability("", L.GROUP, "computeclasses", "watch", "informer watches ComputeClasses"),
    Capability(
        "", L.GROUP, "computeclasses/status", "patch", "status: conditions, unavailableOfferings"
    ),
    Capability("", L.GROUP, "servinggroups", "list", "informer lists ServingGroups"),
    Capability("", L.GROUP, "servinggroups", "watch", "informer watches ServingGroups"),
    Capability(
        "", "autoscaling", "horizontalpodautoscalers", "list", "informer lists HPAs (owners)"
    ),
    Capability(
        "", "autoscaling", "horizontalpodautoscalers", "watch", "informer watches HPAs (owners)"
    ),
    Capability(
        "", L.GROUP, "servinggroups/status", "patch", "ServingGroup status", namespace="default"
    ),
    *(
        Capability("", group, resource, verb, f"{verb} {resource} of a variant", namespace="ml")
        for group, plural in SCALE_KINDS
        for resource, verb in (
            (plural, "get"),
            (f"{plural}/scale", "get"),
            (f"{plural}/scale", "patch"),
        )
    ),
    Capability("", "", "events", "create", "Events on pods and classes", namespace="default"),
    Capability("", "", "events", "patch", "repeated Events bump their count", namespace="default"),
    Capability(
        "", "", "namespaces", "create", "kwok provider makes sure its cloud namespace exists"
    ),
    Capability("", "", "namespaces", "list", "webhook caches namespace default-class labels"),
    Capability("", "", "namespaces", "watch", "webhook follows namespace label changes"),
    Capability("", "", "namespaces", "get", "webhook reads a namespace its cache lacks yet"),
    Capability("", L.GROUP, "computeclasses", "get", "webhook reads a class its cache lacks yet"),
    *(
        Capability(
            "",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            verb,
            what,
            by_name="{fullname}",
        )
        for verb, what in (
            ("get", "webhook reads its configuration's caBundle"),
            ("patch", "webhook publishes its CA as the caBundle"),
        )
    ),
    *(
        Capability("webhook", "", "secrets", verb, what, namespace="{release}", by_name="{secret}")
        for verb, what in (
            ("get", "every replica reads the serving certificate"),
            ("update", "a replica writes a new CA or serving certificate"),
        )
    ),
    Capability(
        "leader-election",
        "coordination.k8s.io",
        "leases",
        "get",
        "leader election reads the Lease",
        namespace="{release}",
        by_name="{fullname}",
    ),
    Capability(
        "leader-election",
        "coordination.k8s.io",
        "leases",
        "update",
        "leader election renews or takes over the Lease",
        namespace="{release}",
        by_name="{fullname}",
    ),
    *(
        Capability(
            "leader-election",
            "coordination.k8s.io",
            "leases",
            verb,
            "a waiting replica watches the Lease to take it over once released",
            namespace="{release}",
            by_name="{fullname}",
        )
        for verb in ("list", "watch")
    ),
    Capability(
        "leader-election",
        "coordination.k8s.io",
        "leases",
        "create",
        "leader election creates the Lease",
        namespace="{release}",
    ),
    *(
        Capability("kwok-cloud", "", "configmaps", verb, what, namespace="{cloud}")
        for verb, what in (
            ("get", "kwok provider reads a pool record or the capacity model"),
            ("list", "kwok provider lists its pool records"),
            ("create", "kwok provider records a new pool"),
            ("update", "kwok provider resizes a pool (resourceVersion-guarded)"),
            ("delete", "kwok provider deletes a pool record"),
        )
    ),
)


# -- every call in the code is granted --------------------------------------------------------


def calls_in_the_code() -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every Kubernetes call ``ccc run`` and the kwok provider make:
    the ``API_CALLS`` each module declares next to its code (:mod:`ccc.controller.apicalls`;
    tests/unit/test_api_calls.py checks that every module making requests declares them)."""
    return {c.rule for calls in apicalls.declared().values() for c in calls}


def test_every_kubernetes_call_in_the_code_has_a_rule_and_every_rule_a_call(
    control_plane_bin: Path,
) -> None:
    """The RBAC the code declares: a new API call without a rule in the chart (or a rule the
    code no longer needs) fails here, naming it."""
    objects = render(
        control_plane_bin,
        release="r",
        values=("provider=kwok", "kwok.namespace=cloud"),
        show_only=RBAC_TEMPLATES,
    )
    install = Install("r", "ccc-system", "cloud", objects)
    granted = {(group, resource, verb) for _, group, resource, verb in rendered_rules(install)}
    needed = calls_in_the_code()
    assert needed - granted == set(), f"calls without a rule in charts/ccc: {needed - granted}"
    assert granted - needed == set(), f"rules no call needs: {granted - needed}"


def _review(install: Install, cap: Capability) -> dict[str, Any]:
    resource, _, subresource = cap.resource.partition("/")
    namespace = cap.namespace.format(release=install.namespace, cloud=install.cloud_namespace)
    attributes: dict[str, Any] = {
        "group": cap.group,
        "resource": resource,
        "verb": cap.verb,
        "namespace": namespace,
    }
    if subresource:
        attributes["subresource"] = subresource
    if cap.by_name:
        attributes["name"] = cap.by_name.format(
            fullname=install.fullname, secret=f"{install.fullname}-webhook-cert"
        )
    return {"spec": {"resourceAttributes": attributes}}


async def allowed(sa_api: client.ApiClient, review: dict[str, Any]) -> bool:
    """What the API server's authorizer says about the token's user for this request."""
    authz = client.AuthorizationV1Api(sa_api)
    result = await authz.create_self_subject_access_review(review)
    return bool(result.status.allowed)


def rendered_rules(install: Install) -> set[tuple[str, str, str, str]]:
    out = set()
    for suffix in ("", "leader-election", "kwok-cloud", "webhook"):
        for rule in install.role(suffix)["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add((suffix, group, resource, verb))
    return out


def without(role: dict[str, Any], cap: Capability) -> dict[str, Any]:
    """``role`` with ``cap``'s verb taken out of the rule granting it (and empty rules dropped)."""
    reduced = copy.deepcopy(role)
    for rule in reduced["rules"]:
        if cap.group in rule["apiGroups"] and cap.resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != cap.verb]
    reduced["rules"] = [r for r in reduced["rules"] if r["verbs"]]
    return reduced


async def replace_role(api: client.ApiClient, role: dict[str, Any]) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    meta = role["metadata"]
    if role["kind"] == "ClusterRole":
        await rbac.replace_cluster_role(meta["name"], role)
    else:
        await rbac.replace_namespaced_role(meta["name"], meta["namespace"], role)


async def test_every_rule_is_needed_by_a_named_capability(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    async with api_client(cluster.kubeconfig) as api, chart_rbac(cluster, api) as install:
        assert rendered_rules(install) == {c.rule for c in CAPABILITIES}, (
            "every rendered rule needs a Capability row (and every row a rule)"
        )
        kubeconfig = await token_kubeconfig(cluster, api, install, tmp_path / "sa.kubeconfig")
        async with api_client(kubeconfig) as sa_api:
            reviews = {c: _review(install, c) for c in CAPABILITIES}
            for cap, review in reviews.items():
                assert await allowed(sa_api, review), f"full rules do not allow: {cap.what}"
            for cap in CAPABILITIES:
                original = install.role(cap.role)
                await replace_role(api, without(original, cap))
                try:

                    async def denied(review: dict[str, Any] = reviews[cap]) -> bool:
                        return not await allowed(sa_api, review)

                    await eventually(f"{cap.verb} {cap.resource} denied", denied, timeout_s=20)
                    still = [
                        other.what
                        for other, review in reviews.items()
                        if other != cap and not await allowed(sa_api, review)
                    ]
                    assert not still, f"removing {cap.rule} also broke {still}"
                finally:
                    await replace_role(api, original)

                async def restored(review: dict[str, Any] = reviews[cap]) -> bool:
                    return await allowed(sa_api, review)

                await eventually(f"{cap.verb} {cap.resource} restored", restored, timeout_s=20)


async def test_the_service_account_cannot_read_secrets(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    async with api_client(cluster.kubeconfig) as api, chart_rbac(cluster, api) as install:
        core = client.CoreV1Api(api)
        await core.create_namespaced_secret(
            install.namespace,
            {"metadata": {"name": "db-password"}, "stringData": {"password": "hunter2"}},
        )
        kubeconfig = await token_kubeconfig(cluster, api, install, tmp_path / "sa.kubeconfig")
        async with api_client(kubeconfig) as sa_api:
            for namespace in (install.namespace, install.cloud_namespace, "default", ""):
                for verb in ("get", "list", "watch"):
                    review = {
                        "spec": {
                            "resourceAttributes": {
                                "resource": "secrets",
                                "verb": verb,
                                "namespace": namespace,
                            }
                        }
                    }
                    assert not await allowed(sa_api, review), (verb, namespace)
            # The same answer from the authorizer for the user, asked by an admin.
            authz = client.AuthorizationV1Api(api)
            review = await authz.create_subject_access_review(
                {
                    "spec": {
                        "user": install.user,
                        "groups": ["system:serviceaccounts"],
                        "resourceAttributes": {
                            "resource": "secrets",
                            "verb": "get",
                            "namespace": install.namespace,
                            "name": "db-password",
                        },
                    }
                }
            )
            assert review.status.allowed is False
            sa_core = client.CoreV1Api(sa_api)
            with pytest.raises(client.ApiException) as read:
                await sa_core.read_namespaced_secret("db-password", install.namespace)
            assert read.value.status == 403
            with pytest.raises(client.ApiException) as listed:
                await sa_core.list_secret_for_all_namespaces()
            assert listed.value.status == 403
