"""The test base classes: thin, declarative, delegating to the registry and harness.data."""

from harness.bases.cache import CacheTestBase, CacheTestMixin
from harness.bases.database import DatabaseTestBase, DatabaseTestMixin
from harness.bases.messaging import MessageQueueTestBase, MessageQueueTestMixin
from harness.bases.service import ServiceIntegrationTest, ServiceIntegrationTestMixin

__all__ = [
    "CacheTestBase",
    "CacheTestMixin",
    "DatabaseTestBase",
    "DatabaseTestMixin",
    "MessageQueueTestBase",
    "MessageQueueTestMixin",
    "ServiceIntegrationTest",
    "ServiceIntegrationTestMixin",
]
