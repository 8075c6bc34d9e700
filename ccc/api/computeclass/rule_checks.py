"""Cross-field rules of a priority rule (GKE's rule-level CEL rules plus ccc's own).

Kept apart from :mod:`ccc.api.computeclass.rules` only for size; each rule is data (Python
predicate, CEL, message) registered on :class:`PriorityRule`.
"""

from __future__ import annotations

from ccc.api.computeclass._base import CrossFieldRule, register_rules
from ccc.api.computeclass.hardware import instance_metadata_rules, node_labels_not_reserved
from ccc.api.computeclass.nodesystem import sets_shutdown_grace
from ccc.api.computeclass.rules import PriorityRule

NODEPOOLS_RULE_FIELDS = frozenset({"nodepools", "priority_score", "allocation_strategy"})
_OTHER_FIELDS = [n for n in PriorityRule.model_fields if n not in NODEPOOLS_RULE_FIELDS]
_OTHER_ALIASES = [PriorityRule.model_fields[n].alias or n for n in _OTHER_FIELDS]


def _only_nodepools(rule: PriorityRule) -> bool:
    return all(getattr(rule, name) is None for name in _OTHER_FIELDS)


def _set_fields(rule: PriorityRule) -> bool:
    return any(getattr(rule, name) is not None for name in PriorityRule.model_fields)


def _has_spot(rule: PriorityRule) -> bool:
    return rule.spot is True


register_rules(
    PriorityRule,
    [
        CrossFieldRule(
            id="rule-not-empty",
            cel=" || ".join(
                f"has(self.{a})"
                for a in [*_OTHER_ALIASES, "nodepools", "priorityScore", "allocationStrategy"]
            ),
            message=(
                "a priority rule needs at least one field; add machineFamily, machineType, gpu,"
                " tpu or nodepools, or remove the empty rule"
            ),
            check=_set_fields,
            reason="FieldValueRequired",
        ),
        CrossFieldRule(
            id="nodepools-rule-exclusive",
            cel="!has(self.nodepools) || !("
            + " || ".join(f"has(self.{a})" for a in _OTHER_ALIASES)
            + ")",
            message=(
                "a nodepools rule may only set nodepools, priorityScore and allocationStrategy;"
                " move the other fields into a separate rule"
            ),
            check=lambda r: r.nodepools is None or _only_nodepools(r),
            field_path=".nodepools",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-family-xor-type",
            cel="!(has(self.machineFamily) && has(self.machineType))",
            message=(
                "set either machineType or machineFamily, not both; machineType already implies"
                " its family"
            ),
            check=lambda r: not (r.machine_family is not None and r.machine_type is not None),
            field_path=".machineType",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-type-excludes-min-shape",
            cel="!(has(self.machineType) && (has(self.minCores) || has(self.minMemoryGb)))",
            message=(
                "minCores and minMemoryGb only apply with machineFamily; remove them or replace"
                " machineType with machineFamily"
            ),
            check=lambda r: (
                not (
                    r.machine_type is not None
                    and (r.min_cores is not None or r.min_memory_gb is not None)
                )
            ),
            field_path=".machineType",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="machine-family-not-ek",
            cel="!has(self.machineFamily) || self.machineFamily != 'ek'",
            message="machineFamily ek is not supported by compute classes; choose another family",
            check=lambda r: r.machine_family != "ek",
            field_path=".machineFamily",
        ),
        CrossFieldRule(
            id="machine-type-not-ek",
            cel="!has(self.machineType) || !self.machineType.startsWith('ek')",
            message="machine types ek-* are not supported by compute classes; choose another type",
            check=lambda r: r.machine_type is None or not r.machine_type.startswith("ek"),
            field_path=".machineType",
        ),
        CrossFieldRule(
            id="non-tpu-reservations-need-machine",
            cel=(
                "!has(self.reservations) || has(self.tpu) || has(self.machineFamily) ||"
                " has(self.machineType)"
            ),
            message=(
                "reservations on a non-TPU rule need machineType or machineFamily; add the"
                " machine type of the reservation"
            ),
            check=lambda r: (
                r.reservations is None
                or r.tpu is not None
                or r.machine_family is not None
                or r.machine_type is not None
            ),
            field_path=".reservations",
        ),
        CrossFieldRule(
            id="flex-start-excludes-spot",
            cel=(
                "!(has(self.spot) && self.spot && has(self.flexStart) &&"
                " has(self.flexStart.enabled) && self.flexStart.enabled)"
            ),
            message=(
                "flexStart cannot be combined with spot: true; move flex-start and Spot into"
                " separate rules"
            ),
            check=lambda r: not (_has_spot(r) and r.is_flex_start),
            field_path=".spot",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="capacity-check-wait-needs-flex-start-or-tpu",
            cel=(
                "!has(self.capacityCheckWaitTimeSeconds) || has(self.tpu) || (has(self.flexStart)"
                " && has(self.flexStart.enabled) && self.flexStart.enabled)"
            ),
            message=(
                "capacityCheckWaitTimeSeconds only applies to flex-start or TPU rules; set"
                " flexStart.enabled: true or remove it (other rules fall through at once)"
            ),
            check=lambda r: (
                r.capacity_check_wait_time_seconds is None or r.tpu is not None or r.is_flex_start
            ),
            field_path=".capacityCheckWaitTimeSeconds",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="shutdown-grace-only-for-spot",
            cel=(
                "(has(self.spot) && self.spot) || !has(self.nodeSystemConfig) ||"
                " !has(self.nodeSystemConfig.kubeletConfig) ||"
                " !has(self.nodeSystemConfig.kubeletConfig.shutdownGracePeriodSeconds)"
            ),
            message=(
                "kubeletConfig.shutdownGracePeriodSeconds is only supported for Spot; set spot:"
                " true or remove it"
            ),
            check=lambda r: _has_spot(r) or not sets_shutdown_grace(r.node_system_config),
            field_path=".nodeSystemConfig",
        ),
        CrossFieldRule(
            id="gpu-direct-needs-network-profile",
            cel="!has(self.gpuDirect) || has(self.acceleratorNetworkProfile)",
            message="gpuDirect: rdma needs acceleratorNetworkProfile (e.g. auto); add it",
            check=lambda r: r.gpu_direct is None or r.accelerator_network_profile is not None,
            field_path=".acceleratorNetworkProfile",
            reason="FieldValueRequired",
        ),
        CrossFieldRule(
            id="rule-minimum-capacity-needs-shape",
            cel=(
                "!has(self.minimumCapacity) || !has(self.minimumCapacity.targetNodeCount) ||"
                " has(self.machineType) || has(self.gpu) || has(self.tpu) ||"
                " (has(self.reservations) && self.reservations.affinity == 'Specific')"
            ),
            message=(
                "minimumCapacity on a rule needs machineType, gpu, tpu or a Specific"
                " reservation so the node shape is known; add one"
            ),
            check=lambda r: (
                r.minimum_capacity is None
                or r.minimum_capacity.target_node_count is None
                or r.machine_type is not None
                or r.gpu is not None
                or r.tpu is not None
                or (r.reservations is not None and r.reservations.affinity == "Specific")
            ),
            field_path=".minimumCapacity",
        ),
        CrossFieldRule(
            id="gpu-topology-needs-gb200-and-placement",
            cel=(
                "!has(self.gpu) || !has(self.gpu.topology) || (((has(self.machineFamily) &&"
                " self.machineFamily == 'a4x') || (has(self.gpu.type) && self.gpu.type =="
                " 'nvidia-gb200')) && has(self.placement))"
            ),
            message=(
                "gpu.topology is only for machine family a4x or gpu type nvidia-gb200 and needs"
                " placement.policyName; remove it or add both"
            ),
            check=lambda r: (
                r.gpu is None
                or r.gpu.topology is None
                or (
                    (r.machine_family == "a4x" or r.gpu.type == "nvidia-gb200")
                    and r.placement is not None
                )
            ),
            field_path=".gpu.topology",
        ),
        CrossFieldRule(
            id="specific-reservation-excludes-location-zones",
            cel=(
                "!has(self.reservations) || self.reservations.affinity != 'Specific' ||"
                " !has(self.location) || !has(self.location.zones)"
            ),
            message=(
                "location.zones cannot be combined with a Specific reservation (GKE refuses it:"
                ' "location config with specific reservations enabled"); move the zones to'
                " reservations.specific[].zones"
            ),
            check=lambda r: (
                r.reservations is None
                or r.reservations.affinity != "Specific"
                or r.location is None
                or r.location.zones is None
            ),
            field_path=".location.zones",
            reason="FieldValueForbidden",
        ),
        node_labels_not_reserved("node-labels-not-reserved", "nodeLabels"),
        *instance_metadata_rules("", "instanceMetadata"),
    ],
)
