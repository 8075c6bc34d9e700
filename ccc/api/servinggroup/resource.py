"""The ``ServingGroup`` object: type metadata, object metadata, spec and status, and the label
that marks the pods serving a group."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from ccc.api import labels as L
from ccc.api.computeclass import CrossFieldRule, ObjectMeta
from ccc.api.computeclass._base import ApiModel, register_rules
from ccc.api.labels import GROUP, VERSION
from ccc.api.servinggroup.spec import ServingGroupSpec
from ccc.api.servinggroup.status import ServingGroupStatus

KIND: Final = "ServingGroup"
API_VERSION: Final = f"{GROUP}/{VERSION}"
MAX_NAME_LENGTH: Final = 63

SERVING_GROUP_LABEL: Final = L.SERVING_GROUP_LABEL
#: LeaderWorkerSet's label on every pod of a group: 0 for the leader, 1..size-1 for workers.
LWS_WORKER_INDEX_LABEL: Final = "leaderworkerset.sigs.k8s.io/worker-index"


class ServingGroupMeta(ObjectMeta):
    """Standard object metadata of a namespaced object; ``name`` is required."""

    namespace: str | None = Field(
        None, max_length=63, description="Namespace of the group and of its variants' workloads."
    )


class ServingGroup(ApiModel):
    """One model served by interchangeable variants, kept at its serving capacity."""

    api_version: Literal["ccc.dev/v1alpha1"] = Field(
        "ccc.dev/v1alpha1", description="ccc.dev/v1alpha1."
    )
    kind: Literal["ServingGroup"] = Field(KIND, description="ServingGroup.")
    metadata: ServingGroupMeta = Field(description="Standard object metadata; name is required.")
    spec: ServingGroupSpec = Field(description="Capacity to keep Ready and the variants.")
    status: ServingGroupStatus | None = Field(None, description="Observed state, written by ccc.")

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, ``default`` when unset."""
        return self.metadata.namespace or "default"


def pod_selector(group: str, *, max_lws_size: int = 1) -> str:
    """``status.selector`` of a group: its labelled pods, without LeaderWorkerSet workers.

    An HPA averages per-pod metrics over the selected pods; in a LeaderWorkerSet only the leader
    serves the endpoint (LWS's own ``hpaPodSelector`` selects ``worker-index=0``), so workers
    are excluded with ``notin``, which still matches pods that lack the label (Deployments).

    Args:
        group: the ServingGroup's name.
        max_lws_size: the largest ``leaderWorkerTemplate.size`` among the LWS variants (1: none).
    """
    selector = f"{SERVING_GROUP_LABEL}={group}"
    if max_lws_size > 1:
        workers = ",".join(str(i) for i in range(1, max_lws_size))
        selector += f",{LWS_WORKER_INDEX_LABEL} notin ({workers})"
    return selector


register_rules(
    ServingGroup,
    [
        CrossFieldRule(
            id="group-name-fits-label-value",
            cel=f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
            message=(
                f"the group name becomes the value of the {SERVING_GROUP_LABEL} pod label, so it"
                f" may have at most {MAX_NAME_LENGTH} characters; shorten it"
            ),
            check=lambda sg: len(sg.metadata.name) <= MAX_NAME_LENGTH,
            field_path=".metadata.name",
        ),
    ],
)
