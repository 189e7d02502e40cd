"""The guide's IntegrationTestConfig, spelt as the guides spell it."""

import unittest

from harness import IntegrationTestConfig


class TestConfig(unittest.TestCase):
    def test_guide_keywords(self):
        config = IntegrationTestConfig(
            use_containers=True,
            cleanup_after_test=True,
            timeout=30,
        )
        assert config.use_containers is True
        assert config.cleanup_after_test is True
        assert config.timeout == 30
