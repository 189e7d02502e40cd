"""Runnable example suites: copy them as the start of your own (``tox -e integration`` runs them)."""
