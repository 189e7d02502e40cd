"""The guide's IntegrationTestConfig, spelt as the guides spell it."""

import unittest
import warnings

from harness import IntegrationTestConfig


class TestConfig(unittest.TestCase):
    def test_guide_keywords(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # parallel_execution and retries: harness says what it does instead
            config = IntegrationTestConfig(
                use_containers=True,
                parallel_execution=True,
                cleanup_after_test=True,
                timeout=30,
                retry_count=3,
                retry_delay=1.0,
            )
        assert config.use_containers is True
        assert config.cleanup_after_test is True
        assert config.timeout == 30
        assert config.retry_count == 3

    def test_servers_you_run(self):
        config = IntegrationTestConfig(
            use_containers=False,
            database_url="postgresql://test:test@db.internal:5432/test_db",
            redis_url="redis://cache.internal:6379/0",
            kafka_bootstrap_servers="kafka.internal:9092",
            api_base_url="http://localhost:8000",
        )
        assert config.database_url == "postgresql://test:test@db.internal:5432/test_db"
        assert config.kafka_bootstrap_servers == "kafka.internal:9092"
        assert config.api_base_url == "http://localhost:8000"
