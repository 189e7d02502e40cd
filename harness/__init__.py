"""harness: integration tests on real PostgreSQL, Redis and Kafka, isolated per test, cleaned up, explained on failure.

>>> from harness import DatabaseTestBase, CacheTestBase, MessageQueueTestBase, ServiceIntegrationTest, AppProcess
"""

from __future__ import annotations

import logging

from harness.bases.cache import CacheTestBase
from harness.bases.database import DatabaseTestBase
from harness.bases.messaging import MessageQueueTestBase
from harness.bases.service import ServiceIntegrationTest
from harness.config import IntegrationTestConfig
from harness.data.manager import TestDataManager
from harness.data.messages import Message
from harness.data.topics import TopicManager
from harness.errors import (
    AppUnreachable,
    ConfigError,
    DataCleanupError,
    HarnessError,
    HarnessWarning,
    IsolationError,
    MessagesNotReceived,
    MessagingError,
    NamespaceUnavailable,
    ServiceStartError,
    ServiceStopError,
    ServiceUnavailable,
    UnsafeTargetError,
    UsageError,
)
from harness.http import APITestClient, AppProcess, ASGIApp, WSGIApp

__all__ = [
    "APITestClient",
    "ASGIApp",
    "AppProcess",
    "AppUnreachable",
    "CacheTestBase",
    "ConfigError",
    "DataCleanupError",
    "DatabaseTestBase",
    "HarnessError",
    "HarnessWarning",
    "IntegrationTestConfig",
    "IsolationError",
    "Message",
    "MessageQueueTestBase",
    "MessagesNotReceived",
    "MessagingError",
    "NamespaceUnavailable",
    "ServiceIntegrationTest",
    "ServiceStartError",
    "ServiceStopError",
    "ServiceUnavailable",
    "TestDataManager",
    "TopicManager",
    "UnsafeTargetError",
    "UsageError",
    "WSGIApp",
]

__version__ = "0.1.0"

logging.getLogger("harness").addHandler(logging.NullHandler())
