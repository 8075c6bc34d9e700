"""The ``ComputeClass`` object itself: type metadata, object metadata, spec and status."""

from typing import Final, Literal

from pydantic import Field

from ccc.api.computeclass._base import ApiModel, CrossFieldRule, register_rules
from ccc.api.computeclass.meta import ObjectMeta
from ccc.api.computeclass.spec import ComputeClassSpec
from ccc.api.computeclass.status import ComputeClassStatus

GROUP: Final = "ccc.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "ComputeClass"
API_VERSION: Final = f"{GROUP}/{VERSION}"
GKE_API_VERSION: Final = "cloud.google.com/v1"
API_VERSIONS: Final = (API_VERSION, GKE_API_VERSION)

ApiVersion = Literal["ccc.dev/v1alpha1", "cloud.google.com/v1"]
RESERVED_NAME_PREFIXES: Final = ("gke", "autopilot")
MAX_NAME_LENGTH: Final = 63


class ComputeClass(ApiModel):
    """A ComputeClass: an ordered list of ways to obtain nodes for the pods that select it.

    The spec is GKE's ``cloud.google.com/v1`` ComputeClass spec; ccc serves it as
    ``ccc.dev/v1alpha1`` and reads both.
    """

    api_version: ApiVersion = Field(
        "ccc.dev/v1alpha1",
        description="ccc.dev/v1alpha1 (cloud.google.com/v1 is accepted by the CLI).",
    )
    kind: Literal["ComputeClass"] = Field(KIND, description="ComputeClass.")
    metadata: ObjectMeta = Field(description="Standard object metadata; name is required.")
    spec: ComputeClassSpec = Field(description="Desired behaviour of the class.")
    status: ComputeClassStatus | None = Field(None, description="Observed state, written by ccc.")

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name


register_rules(
    ComputeClass,
    [
        CrossFieldRule(
            id="name-not-reserved",
            cel=(
                "!self.metadata.name.startsWith('gke') &&"
                " !self.metadata.name.startsWith('autopilot')"
            ),
            message=(
                "names starting with gke or autopilot are reserved for built-in classes; rename"
                " the class"
            ),
            check=lambda cc: not cc.metadata.name.startswith(RESERVED_NAME_PREFIXES),
            field_path=".metadata.name",
        ),
        CrossFieldRule(
            id="name-fits-label-value",
            cel=f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
            message=(
                f"the class name becomes a node label value, so it may have at most"
                f" {MAX_NAME_LENGTH} characters; shorten it"
            ),
            check=lambda cc: len(cc.metadata.name) <= MAX_NAME_LENGTH,
            field_path=".metadata.name",
        ),
    ],
)
