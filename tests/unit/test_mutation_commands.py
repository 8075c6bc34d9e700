"""Behavioural tests that pin down rules of policies/commands.py which no other unit test
checked (found by mutation testing, docs/testing.md): how ``ccc simulate`` lists deletes."""

from __future__ import annotations

import pytest

from policies.commands import Cause, Delete, describe

FORMS = [
    (Delete("pool-a", "gpu", "", Cause.CONSOLIDATION, whole_pool=True), "delete pool pool-a"),
    (
        Delete("pool-a", "gpu", "", Cause.EXPIRY, nodes=("n1", "n2")),
        "delete 2 node(s) of pool-a",
    ),
    (Delete("pool-a", "gpu", "", Cause.REGISTRATION, pool_size=1), "delete to 1 node(s) pool-a"),
]


@pytest.mark.parametrize(("command", "line"), FORMS, ids=["whole-pool", "nodes", "pool-size"])
def test_the_decision_list_says_which_of_the_three_forms_a_delete_takes(
    command: Delete, line: str
) -> None:
    """``ccc simulate`` lists each decision as one line (``describe``): deleting a pool,
    removing named nodes and shrinking to a size are told apart."""
    assert describe(command) == line
