"""Table tests of the decision core's rules, one file per module of ``policies/``
(``test_rules_<module>.py``).

This directory is part of ``make mutation``'s test selection as a whole (``pyproject.toml``,
``[tool.mutmut]``), so a new file here is run against every mutant without changing the
selection. Each test states a rule of the module it covers and, where the rule is GKE's, cites
its section of the reference; none pins an implementation detail.
"""
