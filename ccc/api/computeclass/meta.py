"""Kubernetes object metadata (``metav1.ObjectMeta``) and status conditions (``metav1.Condition``).

Only what a ComputeClass manifest or a server response carries; the API server owns these
fields, so the CRD schema leaves ``metadata`` opaque and ccc merely parses them.
"""

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from ccc.api.computeclass._base import ApiModel, ListType

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""Kubernetes object names (``IsDNS1123Subdomain``), checked by every API server."""


class OwnerReference(ApiModel):
    """An object this one depends on (``metav1.OwnerReference``)."""

    api_version: str = Field(description="API version of the owner.")
    kind: str = Field(description="Kind of the owner.")
    name: str = Field(description="Name of the owner.")
    uid: str = Field(description="UID of the owner.")
    controller: bool | None = Field(
        None, description="True if the owner is the managing controller."
    )
    block_owner_deletion: bool | None = Field(
        None, description="True if the owner cannot be deleted before this object."
    )


class ManagedFieldsEntry(ApiModel):
    """Server-side apply bookkeeping (``metav1.ManagedFieldsEntry``); ccc never interprets it."""

    manager: str | None = Field(None, description="Workflow that manages the fields.")
    operation: str | None = Field(None, description="Apply or Update.")
    api_version: str | None = Field(
        None, description="Version of the resource the fields refer to."
    )
    time: datetime | None = Field(
        strict=False, default=None, description="When the fields were last changed."
    )
    fields_type: str | None = Field(None, description="Format of fieldsV1 (FieldsV1).")
    fields_v1: dict[str, Any] | None = Field(
        None, alias="fieldsV1", description="The managed field set, opaque to ccc."
    )
    subresource: str | None = Field(None, description="Subresource the entry applies to.")


class ObjectMeta(ApiModel):
    """Standard object metadata. ``name`` is required; the rest is filled by the API server."""

    name: str = Field(
        min_length=1, max_length=253, description="Name of the object, unique in the cluster."
    )
    generate_name: str | None = Field(None, description="Prefix for a server-generated name.")
    namespace: str | None = Field(
        None, description="Always empty: ComputeClass is cluster-scoped (accepted and ignored)."
    )
    labels: dict[str, str] | None = Field(None, description="Labels of the object.")
    annotations: dict[str, str] | None = Field(None, description="Annotations of the object.")
    uid: str | None = Field(None, description="Server-assigned unique id.")
    resource_version: str | None = Field(
        None, description="Opaque version for optimistic concurrency."
    )
    generation: int | None = Field(
        None, description="Sequence number of the spec, bumped on every spec change."
    )
    creation_timestamp: datetime | None = Field(
        strict=False, default=None, description="When the object was created."
    )
    deletion_timestamp: datetime | None = Field(
        strict=False, default=None, description="When deletion was requested."
    )
    deletion_grace_period_seconds: int | None = Field(
        None, description="Grace period of a pending deletion."
    )
    finalizers: list[str] | None = Field(None, description="Finalizers that block deletion.")
    owner_references: list[OwnerReference] | None = Field(None, description="Owners of the object.")
    managed_fields: list[ManagedFieldsEntry] | None = Field(
        None, description="Server-side apply field ownership."
    )
    self_link: str | None = Field(None, description="Deprecated link to the object.")

    @field_validator("name")
    @classmethod
    def _name_is_dns_subdomain(cls, name: str) -> str:
        if not DNS1123_SUBDOMAIN.match(name):
            raise ValueError(
                "is not a valid Kubernetes object name: use lowercase letters, digits, '-' and"
                " '.', starting and ending with a letter or digit (e.g. h100-ladder)"
            )
        return name


class Condition(ApiModel):
    """One observation of an object's state (``metav1.Condition``)."""

    type: str = Field(max_length=316, description="Condition type in CamelCase, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=1024, description="CamelCase, programmatic reason for the last transition."
    )
    message: str = Field(
        "", max_length=32768, description="Human-readable detail of the transition."
    )
    last_transition_time: datetime = Field(
        strict=False, description="When the condition last changed status (RFC 3339)."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the condition was computed from."
    )


CONDITIONS_LIST = ListType.map("type")
