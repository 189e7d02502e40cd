"""Test data: databases per schema, TestDataManager, the running test's context, seeding."""

from harness.data.manager import TestDataManager, TrackedRow

__all__ = ["TestDataManager", "TrackedRow"]
