"""Behavioural tests that pin down rules of policies/outcomes.py which no other unit test checked
(found by mutation testing, docs/testing.md)."""
