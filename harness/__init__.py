"""harness: integration tests on real PostgreSQL and Kafka, isolated per test, cleaned up, explained on failure.

>>> from harness import DatabaseTestBase, MessageQueueTestBase, TestDataManager, IntegrationTestConfig
"""

from __future__ import annotations

import logging

from harness.bases.database import DatabaseTestBase
from harness.bases.messaging import MessageQueueTestBase
from harness.config import IntegrationTestConfig
from harness.data.manager import TestDataManager
from harness.data.messages import Message
from harness.data.topics import TopicManager
from harness.errors import (
    ConfigError,
    DataCleanupError,
    HarnessError,
    IsolationError,
    MessagesNotReceived,
    MessagingError,
    ServiceStartError,
    ServiceUnavailable,
    UnsafeTargetError,
)

__all__ = [
    "ConfigError",
    "DataCleanupError",
    "DatabaseTestBase",
    "HarnessError",
    "IntegrationTestConfig",
    "IsolationError",
    "Message",
    "MessageQueueTestBase",
    "MessagesNotReceived",
    "MessagingError",
    "ServiceStartError",
    "ServiceUnavailable",
    "TestDataManager",
    "TopicManager",
    "UnsafeTargetError",
]

__version__ = "0.1.0"

logging.getLogger("harness").addHandler(logging.NullHandler())
