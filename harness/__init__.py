"""harness: integration tests on real PostgreSQL, Redis and Kafka, isolated per test, cleaned up, explained on failure.

>>> from harness import DatabaseTestBase, CacheTestBase, MessageQueueTestBase, ServiceIntegrationTest, AppProcess
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are; imported on first use, so that loading harness costs nothing
    from harness.bases.cache import CacheTestBase
    from harness.bases.database import DatabaseTestBase
    from harness.bases.messaging import MessageQueueTestBase
    from harness.bases.service import ServiceIntegrationTest
    from harness.config import IntegrationTestConfig
    from harness.contracts import ContractTest
    from harness.data.manager import TestDataManager
    from harness.data.messages import Message
    from harness.data.topics import TopicManager
    from harness.errors import (
        AppUnreachable,
        ConfigError,
        ContractViolation,
        DataCleanupError,
        HarnessError,
        HarnessWarning,
        IsolationError,
        MessagesNotReceived,
        MessagingError,
        NamespaceUnavailable,
        PactVerificationFailed,
        ServiceStartError,
        ServiceStopError,
        ServiceUnavailable,
        UnsafeTargetError,
        UsageError,
    )
    from harness.http import APITestClient, AppProcess, ASGIApp, HTTPStub, WSGIApp
    from harness.pact import verify_pacts

__all__ = [
    "APITestClient",
    "ASGIApp",
    "AppProcess",
    "AppUnreachable",
    "CacheTestBase",
    "ConfigError",
    "ContractTest",
    "ContractViolation",
    "DataCleanupError",
    "DatabaseTestBase",
    "HTTPStub",
    "HarnessError",
    "HarnessWarning",
    "IntegrationTestConfig",
    "IsolationError",
    "Message",
    "MessageQueueTestBase",
    "MessagesNotReceived",
    "MessagingError",
    "NamespaceUnavailable",
    "PactVerificationFailed",
    "ServiceIntegrationTest",
    "ServiceStartError",
    "ServiceStopError",
    "ServiceUnavailable",
    "TestDataManager",
    "TopicManager",
    "UnsafeTargetError",
    "UsageError",
    "WSGIApp",
    "verify_pacts",
]

_MODULES = {
    "APITestClient": "harness.http",
    "ASGIApp": "harness.http",
    "AppProcess": "harness.http",
    "AppUnreachable": "harness.errors",
    "CacheTestBase": "harness.bases.cache",
    "ConfigError": "harness.errors",
    "ContractTest": "harness.contracts",
    "ContractViolation": "harness.errors",
    "DataCleanupError": "harness.errors",
    "DatabaseTestBase": "harness.bases.database",
    "HTTPStub": "harness.http",
    "HarnessError": "harness.errors",
    "HarnessWarning": "harness.errors",
    "IntegrationTestConfig": "harness.config",
    "IsolationError": "harness.errors",
    "Message": "harness.data.messages",
    "MessageQueueTestBase": "harness.bases.messaging",
    "MessagesNotReceived": "harness.errors",
    "MessagingError": "harness.errors",
    "NamespaceUnavailable": "harness.errors",
    "PactVerificationFailed": "harness.errors",
    "ServiceIntegrationTest": "harness.bases.service",
    "ServiceStartError": "harness.errors",
    "ServiceStopError": "harness.errors",
    "ServiceUnavailable": "harness.errors",
    "TestDataManager": "harness.data.manager",
    "TopicManager": "harness.data.topics",
    "UnsafeTargetError": "harness.errors",
    "UsageError": "harness.errors",
    "WSGIApp": "harness.http",
    "verify_pacts": "harness.pact",
}
"""Where each public name lives: ``import harness`` loads none of them (the pytest plugin's start-up
is what every pytest run of a user who installed harness pays); ``harness.X`` imports X's module."""


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

__version__ = "0.1.0"

logging.getLogger("harness").addHandler(logging.NullHandler())
