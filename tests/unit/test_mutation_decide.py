"""Behavioural tests that pin down rules of policies/decide.py which no other unit test checked
(found by mutation testing, docs/testing.md)."""
