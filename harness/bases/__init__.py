"""The test base classes: thin, declarative, delegating to the registry and harness.data."""

from harness.bases.database import DatabaseTestBase, DatabaseTestMixin

__all__ = ["DatabaseTestBase", "DatabaseTestMixin"]
