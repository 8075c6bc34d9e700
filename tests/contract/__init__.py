"""Contract tier: one suite that every provider passes (see conftest.py for the harnesses)."""
