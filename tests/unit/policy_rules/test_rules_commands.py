"""Rules of policies/commands.py: a Delete takes exactly one of its three forms."""

from __future__ import annotations

from typing import Any

import pytest

from policies.commands import Cause, Delete


@pytest.mark.parametrize(
    "forms",
    [{}, {"whole_pool": True, "nodes": ("n1",)}, {"nodes": ("n1",), "pool_size": 0}],
    ids=["none", "pool-and-nodes", "nodes-and-size"],
)
def test_a_delete_with_no_form_or_two_is_refused_naming_the_three_forms(
    forms: dict[str, Any],
) -> None:
    """The error names the fields to choose from, so the caller's mistake is plain."""
    with pytest.raises(ValueError, match="exactly one of whole_pool, nodes, pool_size"):
        Delete("pool-a", "gpu", "", Cause.CONSOLIDATION, **forms)
