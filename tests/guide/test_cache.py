"""CacheTestBase as the guides write it."""

import json

from harness import CacheTestBase


class TestSessionCache(CacheTestBase):
    def setup_method(self):
        self.prefix = "session:"

    def test_store_session(self):
        self.redis.setex(self.prefix + "abc", 60, json.dumps({"user_id": 1}))
        assert json.loads(self.redis.get(self.prefix + "abc")) == {"user_id": 1}
        assert self.redis.ttl(self.prefix + "abc") > 0

    def test_each_test_starts_empty(self):
        assert self.redis.dbsize() == 0
