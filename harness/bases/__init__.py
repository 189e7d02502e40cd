"""The test base classes: thin, declarative, delegating to the registry and harness.data."""

from harness.bases.database import DatabaseTestBase, DatabaseTestMixin
from harness.bases.messaging import MessageQueueTestBase, MessageQueueTestMixin

__all__ = ["DatabaseTestBase", "DatabaseTestMixin", "MessageQueueTestBase", "MessageQueueTestMixin"]
