"""Spec-level cross-field rules: GKE's CEL rules that span several priority rules or sections
(priorityScore, Autopilot, confidential nodes, defaults, minimum capacity, sandboxes).

Kept apart from :mod:`ccc.api.computeclass.spec` only for size; each rule is data registered on
:class:`ComputeClassSpec`.
"""

from __future__ import annotations

from ccc.api.computeclass._base import CrossFieldRule, register_rules
from ccc.api.computeclass.nodesystem import sets_shutdown_grace
from ccc.api.computeclass.rules import PriorityRule
from ccc.api.computeclass.spec import MAX_RULES_PER_SCORE, ComputeClassSpec

_AUTOPILOT = "(has(self.autopilot) && self.autopilot.enabled)"
_CONFIDENTIAL = "(has(self.nodePoolConfig) && has(self.nodePoolConfig.confidentialNodeType))"


def _confidential(spec: ComputeClassSpec) -> str | None:
    return spec.node_pool_config.confidential_node_type if spec.node_pool_config else None


def _family_of(rule: PriorityRule) -> str | None:
    if rule.machine_family is not None:
        return rule.machine_family
    if rule.machine_type is not None:
        return rule.machine_type.split("-", 1)[0]
    return None


def _cel_family_in(families: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{f}'" for f in families)
    types = " || ".join(f"p.machineType.startsWith('{f}-')" for f in families)
    return (
        f"((has(p.machineFamily) && p.machineFamily in [{listed}]) ||"
        f" (has(p.machineType) && ({types})))"
    )


_SEV = ("n2d", "c2d", "c3d", "c4d")
_SEV_SNP = ("n2d",)
_TDX_TYPES = ("a3-highgpu-1g", "a4-highgpu-8g")
_TDX_PREFIXES = ("c3-standard-", "c4-standard-")


def _tdx_ok(rule: PriorityRule) -> bool:
    if rule.machine_family is not None:
        return rule.machine_family in ("c3", "c4", "a3", "a4")
    mt = rule.machine_type or ""
    return mt in _TDX_TYPES or mt.startswith(_TDX_PREFIXES)


def _scores_within_limit(spec: ComputeClassSpec) -> bool:
    scores = [r.priority_score for r in spec.priorities if r.priority_score is not None]
    return all(scores.count(s) <= MAX_RULES_PER_SCORE for s in set(scores))


def _nested_virt_everywhere(spec: ComputeClassSpec) -> bool:
    if spec.priority_defaults is not None and spec.priority_defaults.enable_nested_virtualization:
        return True
    return all(r.is_nodepools_rule or r.enable_nested_virtualization for r in spec.priorities)


register_rules(
    ComputeClassSpec,
    [
        CrossFieldRule(
            id="priority-score-all-or-none",
            cel=(
                "self.priorities.all(p, has(p.priorityScore)) ||"
                " self.priorities.all(p, !has(p.priorityScore))"
            ),
            message=(
                "priorityScore must be set on every rule or on none; add a score to the rules"
                " without one"
            ),
            check=lambda s: len({r.priority_score is None for r in s.priorities}) <= 1,
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="priority-score-at-most-3-per-score",
            cel=(
                "self.priorities.all(p, has(p.priorityScore) ? self.priorities.filter(q,"
                " has(q.priorityScore) && q.priorityScore == p.priorityScore).size() <= 3 : true)"
            ),
            message=(
                "at most 3 rules may share one priorityScore; give some of them a different score"
            ),
            check=_scores_within_limit,
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="autopilot-no-nodepools",
            cel=f"!{_AUTOPILOT} || !self.priorities.exists(p, has(p.nodepools))",
            message="nodepools rules cannot be used when autopilot is enabled; remove them",
            check=lambda s: (
                not s.autopilot_enabled or not any(r.is_nodepools_rule for r in s.priorities)
            ),
            field_path=".priorities",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="autopilot-keeps-node-pool-auto-creation",
            cel=(
                f"!{_AUTOPILOT} || !has(self.nodePoolAutoCreation) ||"
                " self.nodePoolAutoCreation.enabled"
            ),
            message=(
                "nodePoolAutoCreation cannot be disabled when autopilot is enabled; set"
                " enabled: true or remove nodePoolAutoCreation"
            ),
            check=lambda s: (
                not s.autopilot_enabled
                or s.node_pool_auto_creation is None
                or s.node_pool_auto_creation.enabled
            ),
            field_path=".nodePoolAutoCreation",
        ),
        CrossFieldRule(
            id="autopilot-image-type-cos",
            cel=(
                f"!{_AUTOPILOT} || !has(self.nodePoolConfig) ||"
                " !has(self.nodePoolConfig.imageType) || self.nodePoolConfig.imageType =="
                " 'cos_containerd'"
            ),
            message=(
                "only imageType cos_containerd can be used when autopilot is enabled; set"
                " imageType: cos_containerd or remove it"
            ),
            check=lambda s: (
                not s.autopilot_enabled
                or s.node_pool_config is None
                or s.node_pool_config.image_type in (None, "cos_containerd")
            ),
            field_path=".nodePoolConfig",
        ),
        CrossFieldRule(
            id="autopilot-default-logging",
            cel=(
                f"!{_AUTOPILOT} || !has(self.nodePoolConfig) ||"
                " !has(self.nodePoolConfig.loggingConfig) ||"
                " !has(self.nodePoolConfig.loggingConfig.loggingVariantConfig) ||"
                " !has(self.nodePoolConfig.loggingConfig.loggingVariantConfig.variant) ||"
                " self.nodePoolConfig.loggingConfig.loggingVariantConfig.variant == 'DEFAULT'"
            ),
            message=(
                "only the DEFAULT logging variant can be used when autopilot is enabled; set"
                " variant: DEFAULT or remove loggingConfig"
            ),
            check=lambda s: (
                not s.autopilot_enabled
                or s.node_pool_config is None
                or s.node_pool_config.logging_config is None
                or s.node_pool_config.logging_config.logging_variant_config is None
                or s.node_pool_config.logging_config.logging_variant_config.variant
                in (None, "DEFAULT")
            ),
            field_path=".nodePoolConfig",
        ),
        CrossFieldRule(
            id="autopilot-no-network-tags",
            cel=(
                f"!{_AUTOPILOT} || !has(self.nodePoolConfig) ||"
                " !has(self.nodePoolConfig.networkTags)"
            ),
            message="networkTags cannot be used when autopilot is enabled; remove them",
            check=lambda s: (
                not s.autopilot_enabled
                or s.node_pool_config is None
                or s.node_pool_config.network_tags is None
            ),
            field_path=".nodePoolConfig",
            reason="FieldValueForbidden",
        ),
        CrossFieldRule(
            id="pod-family-needs-autopilot",
            cel=f"!self.priorities.exists(p, has(p.podFamily)) || {_AUTOPILOT}",
            message="podFamily rules need autopilot.enabled: true; enable it or remove podFamily",
            check=lambda s: (
                s.autopilot_enabled or not any(r.pod_family is not None for r in s.priorities)
            ),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="pod-family-all-or-none",
            cel=(
                "!self.priorities.exists(p, has(p.podFamily)) ||"
                " self.priorities.all(p, has(p.podFamily))"
            ),
            message=(
                "podFamily rules cannot be mixed with other rules; set podFamily on every"
                " rule or on none"
            ),
            check=lambda s: len({r.pod_family is None for r in s.priorities}) <= 1,
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="high-throughput-needs-node-pool-group",
            cel=(
                "!has(self.nodePoolConfig) || !has(self.nodePoolConfig.workloadType) ||"
                " has(self.nodePoolGroup) || self.nodePoolConfig.workloadType =="
                " 'HIGH_AVAILABILITY'"
            ),
            message=(
                "workloadType HIGH_THROUGHPUT needs nodePoolGroup; add nodePoolGroup.name or"
                " use HIGH_AVAILABILITY"
            ),
            check=lambda s: (
                s.node_pool_config is None
                or s.node_pool_config.workload_type in (None, "HIGH_AVAILABILITY")
                or s.node_pool_group is not None
            ),
            field_path=".nodePoolConfig",
        ),
        CrossFieldRule(
            id="confidential-needs-machine",
            cel=(
                f"!{_CONFIDENTIAL} || self.priorities.all(p, has(p.machineFamily) ||"
                " has(p.machineType))"
            ),
            message=(
                "with confidentialNodeType every rule needs machineFamily or machineType; add one"
            ),
            check=lambda s: (
                _confidential(s) is None
                or all(
                    r.machine_family is not None or r.machine_type is not None for r in s.priorities
                )
            ),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="confidential-sev-families",
            cel=(
                f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'SEV' ||"
                f" self.priorities.all(p, {_cel_family_in(_SEV)})"
            ),
            message=(
                "confidentialNodeType SEV only supports machine families n2d, c2d, c3d and"
                " c4d; use those families or another confidentialNodeType"
            ),
            check=lambda s: (
                _confidential(s) != "SEV" or all(_family_of(r) in _SEV for r in s.priorities)
            ),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="confidential-sev-snp-families",
            cel=(
                f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'SEV_SNP' ||"
                f" self.priorities.all(p, {_cel_family_in(_SEV_SNP)})"
            ),
            message=(
                "confidentialNodeType SEV_SNP only supports machine family n2d; use n2d"
                " machines or another confidentialNodeType"
            ),
            check=lambda s: (
                _confidential(s) != "SEV_SNP"
                or all(_family_of(r) in _SEV_SNP for r in s.priorities)
            ),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="confidential-tdx-machines",
            cel=(
                f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'TDX' ||"
                " self.priorities.all(p, has(p.machineFamily) ? p.machineFamily in ['c3', 'c4',"
                " 'a3', 'a4'] : (has(p.machineType) && (p.machineType in ['a3-highgpu-1g',"
                " 'a4-highgpu-8g'] || p.machineType.startsWith('c3-standard-') ||"
                " p.machineType.startsWith('c4-standard-'))))"
            ),
            message=(
                "confidentialNodeType TDX only supports c3/c4 standard machine types,"
                " a3-highgpu-1g and a4-highgpu-8g; use those or another confidentialNodeType"
            ),
            check=lambda s: _confidential(s) != "TDX" or all(_tdx_ok(r) for r in s.priorities),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="confidential-gpus-need-zones",
            cel=(
                f"!{_CONFIDENTIAL} || !self.priorities.exists(p, has(p.gpu)) ||"
                " (has(self.priorityDefaults) && has(self.priorityDefaults.location) &&"
                " has(self.priorityDefaults.location.zones)) || self.priorities.all(p,"
                " has(p.location) && has(p.location.zones))"
            ),
            message=(
                "confidential GPUs need location.zones on every rule or in"
                " priorityDefaults.location; add the zones"
            ),
            check=lambda s: (
                _confidential(s) is None
                or not any(r.gpu is not None for r in s.priorities)
                or (
                    s.priority_defaults is not None
                    and s.priority_defaults.location is not None
                    and s.priority_defaults.location.zones is not None
                )
                or all(
                    r.location is not None and r.location.zones is not None for r in s.priorities
                )
            ),
            field_path=".priorities",
        ),
        CrossFieldRule(
            id="default-shutdown-grace-only-for-spot",
            cel=(
                "!has(self.priorityDefaults) || !has(self.priorityDefaults.nodeSystemConfig) ||"
                " !has(self.priorityDefaults.nodeSystemConfig.kubeletConfig) ||"
                " !has(self.priorityDefaults.nodeSystemConfig.kubeletConfig"
                ".shutdownGracePeriodSeconds)"
                " || self.priorities.all(p, has(p.nodepools) || (has(p.spot) && p.spot))"
            ),
            message=(
                "priorityDefaults sets shutdownGracePeriodSeconds, which only Spot rules support;"
                " set spot: true on every rule or move the setting into the Spot rules"
            ),
            check=lambda s: (
                s.priority_defaults is None
                or not sets_shutdown_grace(s.priority_defaults.node_system_config)
                or all(r.is_nodepools_rule or r.spot is True for r in s.priorities)
            ),
            field_path=".priorityDefaults",
        ),
        CrossFieldRule(
            id="spec-minimum-capacity-needs-shapes",
            cel=(
                "!has(self.minimumCapacity) || !has(self.minimumCapacity.targetNodeCount) ||"
                " self.priorities.all(p, has(p.machineType) || has(p.gpu) || has(p.tpu) ||"
                " (has(p.reservations) && p.reservations.affinity == 'Specific'))"
            ),
            message=(
                "spec.minimumCapacity needs every rule to have machineType, gpu, tpu or a"
                " Specific reservation; add them or remove minimumCapacity"
            ),
            check=lambda s: (
                s.minimum_capacity is None
                or s.minimum_capacity.target_node_count is None
                or all(
                    r.machine_type is not None
                    or r.gpu is not None
                    or r.tpu is not None
                    or (r.reservations is not None and r.reservations.affinity == "Specific")
                    for r in s.priorities
                )
            ),
            field_path=".minimumCapacity",
        ),
        CrossFieldRule(
            id="microvm-needs-nested-virtualization",
            cel=(
                "!has(self.nodePoolConfig) || !has(self.nodePoolConfig.sandbox) ||"
                " !has(self.nodePoolConfig.sandbox.type) || self.nodePoolConfig.sandbox.type !="
                " 'microvm' || (size(self.priorities) > 0 && ((has(self.priorityDefaults) &&"
                " has(self.priorityDefaults.enableNestedVirtualization) &&"
                " self.priorityDefaults.enableNestedVirtualization) || self.priorities.all(p,"
                " has(p.nodepools) || (has(p.enableNestedVirtualization) &&"
                " p.enableNestedVirtualization))))"
            ),
            message=(
                "sandbox type microvm needs at least one rule and enableNestedVirtualization:"
                " true on every rule; set it in priorityDefaults or on each rule"
            ),
            check=lambda s: (
                s.node_pool_config is None
                or s.node_pool_config.sandbox is None
                or s.node_pool_config.sandbox.type != "microvm"
                or (len(s.priorities) > 0 and _nested_virt_everywhere(s))
            ),
            field_path=".nodePoolConfig",
        ),
    ],
)
