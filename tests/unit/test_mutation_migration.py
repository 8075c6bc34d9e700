"""Behavioural tests found by mutation testing (docs/testing.md, "Mutation testing")."""
