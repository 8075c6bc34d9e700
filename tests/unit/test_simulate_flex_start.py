"""A DWS flex-start class over 14 days through ``ccc simulate``'s loop (the controller's
lifecycle pass; in-memory cluster and simulated cloud, whose flex-start VMs end at their 7-day
maximum run duration): 0 s below target at expiries (benchmarks/flex_start_expiry.py prints the
same figures)."""

from __future__ import annotations

import pytest

from benchmarks.flex_start_expiry import below_target_after_first_boot, run
from ccc.simulate.result import parse_iso


@pytest.mark.parametrize("seed", [None, 4])
def test_a_flex_start_class_spends_no_time_below_target_at_expiries_over_14_days(
    seed: int | None,
) -> None:
    """16 pods on 16 flex-start nodes with a 1 h lead: each generation is replaced an hour
    before its deadline, twice in 14 days (at 7 d and 14 d less the lead), the old nodes are
    drained once their replacements are Ready and deleted before the deadline, so none expires
    and served never drops below demand after the first boot (with or without jittered boots)."""
    result = run(days=14, pods=16, lead_s=3600, seed=seed)
    assert result.summary.expiries == 0
    assert below_target_after_first_boot(result) == 0
    assert result.summary.seconds_below_target <= 240 * 1.25
    replaced = sorted({parse_iso(d.t) for d in result.decisions if d.command.startswith("replace")})
    replaces = [d for d in result.decisions if d.command.startswith("replace")]
    assert len(replaces) == 32 and len(replaced) == 2
    start = parse_iso(result.start)
    assert [(t - start).total_seconds() // 3600 for t in replaced] == [7 * 24 - 1, 14 * 24 - 2]
