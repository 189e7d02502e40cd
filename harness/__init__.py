"""harness: integration tests on real PostgreSQL, isolated per test, cleaned up, explained on failure.

>>> from harness import DatabaseTestBase, TestDataManager, IntegrationTestConfig
"""

from __future__ import annotations

import logging

from harness.bases.database import DatabaseTestBase
from harness.config import IntegrationTestConfig
from harness.data.manager import TestDataManager
from harness.errors import (
    ConfigError,
    DataCleanupError,
    HarnessError,
    IsolationError,
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
    "ServiceStartError",
    "ServiceUnavailable",
    "TestDataManager",
    "UnsafeTargetError",
]

__version__ = "0.1.0"

logging.getLogger("harness").addHandler(logging.NullHandler())
