"""Spec-level cross-field rules: GKE's CEL rules that span several priority rules or sections
(priorityScore, Autopilot, confidential nodes, defaults, minimum capacity), plus ccc's "at most
3 rules per priorityScore", which GKE documents but its CRD does not check.

Kept apart from :mod:`ccc.api.computeclass.spec` only for size; each rule is data registered on
:class:`ComputeClassSpec`. Rules about several priority rules name the offending ones
(``offenders``), so ``ccc validate`` says which rule to fix.
"""

from __future__ import annotations

from collections.abc import Callable

from ccc.api.computeclass._base import CrossFieldRule, register_rules
from ccc.api.computeclass.linuxnode import sets_sysctl
from ccc.api.computeclass.nodesystem import NodeSystemConfig, sets_shutdown_grace
from ccc.api.computeclass.rules import PriorityRule
from ccc.api.computeclass.spec import MAX_RULES_PER_SCORE, ComputeClassSpec

_AUTOPILOT = "(has(self.autopilot) && self.autopilot.enabled)"
_CONFIDENTIAL = "(has(self.nodePoolConfig) && has(self.nodePoolConfig.confidentialNodeType))"
_TCP_CC = "net.ipv4.tcp_congestion_control"


def _confidential(spec: ComputeClassSpec) -> str | None:
    return spec.node_pool_config.confidential_node_type if spec.node_pool_config else None


def _rules_where(pred: Callable[[PriorityRule], bool]) -> Callable[[ComputeClassSpec], list[int]]:
    """Offenders: the indices of the rules for which ``pred`` is true."""
    return lambda s: [i for i, r in enumerate(s.priorities) if pred(r)]


def _family_of(rule: PriorityRule) -> str | None:
    """The family GKE's CEL sees: machineFamily, else the machineType before its first '-'."""
    if rule.machine_family is not None:
        return rule.machine_family
    if rule.machine_type is not None:
        return rule.machine_type.split("-")[0]
    return None


def _cel_family_in(families: tuple[str, ...]) -> str:
    """GKE's ``machineType.split('-')[0] in [...]``, without the strings extension."""
    listed = ", ".join(f"'{f}'" for f in families)
    types = " || ".join(
        f"p.machineType == '{f}' || p.machineType.startsWith('{f}-')" for f in families
    )
    return (
        f"((has(p.machineFamily) && p.machineFamily in [{listed}]) ||"
        f" (has(p.machineType) && ({types})))"
    )


_SEV = ("n2d", "c2d", "c3d", "c4d", "g4")
_SEV_SNP = ("n2d",)
_TDX_TYPES = ("a3-highgpu-1g", "a4-highgpu-8g")
_TDX_PREFIXES = ("c3-standard-", "c4-standard-")
# family -> (does the rule belong to it, the one GPU type it may name)
_TDX_GPU: dict[str, tuple[Callable[[PriorityRule], bool], str]] = {
    "c3": (
        lambda r: r.machine_family == "c3" or (r.machine_type or "").startswith("c3-standard-"),
        "nvidia-h100-80gb",
    ),
    "c4": (
        lambda r: r.machine_family == "c4" or (r.machine_type or "").startswith("c4-standard-"),
        "nvidia-h100-80gb",
    ),
    "a3": (
        lambda r: r.machine_family == "a3" or r.machine_type == "a3-highgpu-1g",
        "nvidia-h100-80gb",
    ),
    "a4": (
        lambda r: r.machine_family == "a4" or r.machine_type == "a4-highgpu-8g",
        "nvidia-b200",
    ),
}
_TDX_GPU_CEL = {
    "c3": "(has(p.machineFamily) && p.machineFamily == 'c3' || has(p.machineType) &&"
    " p.machineType.startsWith('c3-standard-'))",
    "c4": "(has(p.machineFamily) && p.machineFamily == 'c4' || has(p.machineType) &&"
    " p.machineType.startsWith('c4-standard-'))",
    "a3": "(has(p.machineFamily) && p.machineFamily == 'a3' || has(p.machineType) &&"
    " p.machineType == 'a3-highgpu-1g')",
    "a4": "(has(p.machineFamily) && p.machineFamily == 'a4' || has(p.machineType) &&"
    " p.machineType == 'a4-highgpu-8g')",
}


def _tdx_ok(rule: PriorityRule) -> bool:
    if rule.machine_family is not None:
        return rule.machine_family in ("c3", "c4", "a3", "a4")
    mt = rule.machine_type or ""
    return mt in _TDX_TYPES or mt.startswith(_TDX_PREFIXES)


def _gpu_type_is(rule: PriorityRule, gpu_type: str) -> bool:
    return rule.gpu is None or rule.gpu.type is None or rule.gpu.type == gpu_type


def _sev_g4_ok(rule: PriorityRule) -> bool:
    if rule.machine_family == "g4":
        return False
    if rule.machine_type is not None and rule.machine_type.startswith("g4-"):
        return rule.machine_type == "g4-standard-48" and _gpu_type_is(rule, "nvidia-rtx-pro-6000")
    return True


def _tdx_gpu_rule(family: str) -> CrossFieldRule[ComputeClassSpec]:
    """GKE's "TDX on <family> only supports <gpu>" rule for one machine family."""
    member, gpu = _TDX_GPU[family]

    def bad(rule: PriorityRule) -> bool:
        return member(rule) and not _gpu_type_is(rule, gpu)

    def check(spec: ComputeClassSpec) -> bool:
        return _confidential(spec) != "TDX" or not any(bad(r) for r in spec.priorities)

    return CrossFieldRule(
        id=f"confidential-tdx-{family}-gpu",
        cel=(
            f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'TDX' ||"
            f" self.priorities.all(p, {_TDX_GPU_CEL[family]} ? (!has(p.gpu) ||"
            f" !has(p.gpu.type) || p.gpu.type == '{gpu}') : true)"
        ),
        message=(
            f"confidentialNodeType TDX on {family.upper()} only supports gpu type {gpu};"
            " use that gpu type or another machine"
        ),
        check=check,
        field_path=".priorities",
        offenders=_rules_where(bad),
    )


def _scores_within_limit(spec: ComputeClassSpec) -> bool:
    scores = [r.priority_score for r in spec.priorities if r.priority_score is not None]
    return all(scores.count(s) <= MAX_RULES_PER_SCORE for s in set(scores))


def _over_used_scores(spec: ComputeClassSpec) -> list[int]:
    scores = [r.priority_score for r in spec.priorities]
    return [
        i for i, s in enumerate(scores) if s is not None and scores.count(s) > MAX_RULES_PER_SCORE
    ]


def _sets_tcp_cc(config: NodeSystemConfig | None) -> bool:
    return config is not None and sets_sysctl(config.linux_node_config, _TCP_CC)


def _no_tcp_cc_with_autopilot(spec: ComputeClassSpec) -> bool:
    if not spec.autopilot_enabled:
        return True
    defaults = spec.priority_defaults.node_system_config if spec.priority_defaults else None
    return not _sets_tcp_cc(defaults) and not any(
        _sets_tcp_cc(r.node_system_config) for r in spec.priorities
    )


def _no_tcp_cc(prefix: str) -> str:
    return (
        f"!has({prefix}.nodeSystemConfig) || !has({prefix}.nodeSystemConfig.linuxNodeConfig) ||"
        f" !has({prefix}.nodeSystemConfig.linuxNodeConfig.sysctls) ||"
        f" !has({prefix}.nodeSystemConfig.linuxNodeConfig.sysctls"
        ".net__dot__ipv4__dot__tcp_congestion_control)"
    )


def _shape_known(r: PriorityRule) -> bool:
    return (
        r.machine_type is not None
        or r.gpu is not None
        or r.tpu is not None
        or (r.reservations is not None and r.reservations.affinity == "Specific")
    )


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
            offenders=_rules_where(lambda r: r.priority_score is None),
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
            offenders=_over_used_scores,
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
            offenders=_rules_where(lambda r: r.is_nodepools_rule),
        ),
        CrossFieldRule(
            id="autopilot-keeps-node-pool-auto-creation",
            cel=(
                f"!{_AUTOPILOT} || (has(self.nodePoolAutoCreation) &&"
                " self.nodePoolAutoCreation.enabled)"
            ),
            message=(
                "an Autopilot class must set nodePoolAutoCreation.enabled: true (unset, it"
                " defaults to false, which GKE refuses with autopilot); set it"
            ),
            check=lambda s: (
                not s.autopilot_enabled
                or (s.node_pool_auto_creation is not None and s.node_pool_auto_creation.enabled)
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
            id="autopilot-no-tcp-congestion-control",
            cel=(
                f"!{_AUTOPILOT} || ((!has(self.priorityDefaults) ||"
                f" {_no_tcp_cc('self.priorityDefaults')}) &&"
                f" self.priorities.all(p, {_no_tcp_cc('p')}))"
            ),
            message=(f"the sysctl {_TCP_CC} cannot be set when autopilot is enabled; remove it"),
            check=_no_tcp_cc_with_autopilot,
            field_path=".priorities",
            offenders=_rules_where(lambda r: _sets_tcp_cc(r.node_system_config)),
        ),
        CrossFieldRule(
            id="pod-family-needs-autopilot",
            cel=f"!self.priorities.exists(p, has(p.podFamily)) || {_AUTOPILOT}",
            message="podFamily rules need autopilot.enabled: true; enable it or remove podFamily",
            check=lambda s: (
                s.autopilot_enabled or not any(r.pod_family is not None for r in s.priorities)
            ),
            field_path=".priorities",
            offenders=_rules_where(lambda r: r.pod_family is not None),
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
            offenders=_rules_where(lambda r: r.machine_family is None and r.machine_type is None),
        ),
        CrossFieldRule(
            id="confidential-sev-families",
            cel=(
                f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'SEV' ||"
                f" self.priorities.all(p, {_cel_family_in(_SEV)})"
            ),
            message=(
                "confidentialNodeType SEV only supports machine families n2d, c2d, c3d, c4d and"
                " g4; use those families or another confidentialNodeType"
            ),
            check=lambda s: (
                _confidential(s) != "SEV" or all(_family_of(r) in _SEV for r in s.priorities)
            ),
            field_path=".priorities",
            offenders=_rules_where(lambda r: _family_of(r) not in _SEV),
        ),
        CrossFieldRule(
            id="confidential-sev-g4-machine",
            cel=(
                f"!{_CONFIDENTIAL} || self.nodePoolConfig.confidentialNodeType != 'SEV' ||"
                " self.priorities.all(p, (has(p.machineFamily) && p.machineFamily == 'g4') ?"
                " false : (has(p.machineType) && p.machineType.startsWith('g4-')) ?"
                " (p.machineType == 'g4-standard-48' && (!has(p.gpu) || !has(p.gpu.type) ||"
                " p.gpu.type == 'nvidia-rtx-pro-6000')) : true)"
            ),
            message=(
                "confidentialNodeType SEV on G4 only supports machineType g4-standard-48 with"
                " gpu type nvidia-rtx-pro-6000; use that machine type instead of machineFamily g4"
            ),
            check=lambda s: _confidential(s) != "SEV" or all(_sev_g4_ok(r) for r in s.priorities),
            field_path=".priorities",
            offenders=_rules_where(lambda r: not _sev_g4_ok(r)),
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
            offenders=_rules_where(lambda r: _family_of(r) not in _SEV_SNP),
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
            offenders=_rules_where(lambda r: not _tdx_ok(r)),
        ),
        *(_tdx_gpu_rule(family) for family in _TDX_GPU),
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
            offenders=_rules_where(lambda r: r.location is None or r.location.zones is None),
        ),
        CrossFieldRule(
            id="default-shutdown-grace-only-for-spot",
            cel=(
                "!has(self.priorityDefaults) || !has(self.priorityDefaults.nodeSystemConfig) ||"
                " !has(self.priorityDefaults.nodeSystemConfig.kubeletConfig) ||"
                " !has(self.priorityDefaults.nodeSystemConfig.kubeletConfig"
                ".shutdownGracePeriodSeconds)"
                " || self.priorities.all(p, has(p.spot) && p.spot)"
            ),
            message=(
                "priorityDefaults sets shutdownGracePeriodSeconds, which only Spot rules support"
                " (GKE counts nodepools rules too); set spot: true on every rule or move the"
                " setting into the Spot rules"
            ),
            check=lambda s: (
                s.priority_defaults is None
                or not sets_shutdown_grace(s.priority_defaults.node_system_config)
                or all(r.spot is True for r in s.priorities)
            ),
            field_path=".priorityDefaults",
            offenders=_rules_where(lambda r: r.spot is not True),
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
                or all(_shape_known(r) for r in s.priorities)
            ),
            field_path=".minimumCapacity",
            offenders=_rules_where(lambda r: not _shape_known(r)),
        ),
    ],
)
