"""The read-through user cache tested in pytest style, on a real PostgreSQL and a real Redis.

Shows a plain pytest class combining ``CacheTestMixin`` and ``DatabaseTestMixin``,
and the ``db_session`` and ``redis_client`` fixtures in a function.
"""

import pytest

from harness.bases import CacheTestMixin, DatabaseTestMixin
from harness.data.cache import assert_key, keys
from samples.shop.cache import CachedUsers
from samples.shop.models import Base
from samples.shop.repository import ShopRepository


class TestCachedUsers(CacheTestMixin, DatabaseTestMixin):
    metadata = Base.metadata

    def cached_users(self, ttl_seconds=300):
        return CachedUsers(ShopRepository(self.session), self.redis, ttl_seconds=ttl_seconds)

    def test_hit_after_miss(self):
        users = self.cached_users()
        ada = users.repository.create_user("ada@example.com", "Ada")
        assert users.get(ada.id) == users.get(ada.id) == {"id": ada.id, "email": "ada@example.com", "name": "Ada"}
        assert (users.hits, users.misses) == (1, 1)

    def test_the_ttl_is_the_one_configured(self):
        users = self.cached_users(ttl_seconds=60)
        ada = users.repository.create_user("ada@example.com", "Ada")  # same email: the rows were rolled back
        users.get(ada.id)
        self.assert_key(users.key(ada.id), ttl_between=(55, 60))

    def test_an_unknown_user_is_not_cached(self):
        users = self.cached_users()
        assert users.get(123456) is None
        assert self.keys() == []

    def test_rename_of_an_unknown_user_fails_and_caches_nothing(self):
        users = self.cached_users()
        with pytest.raises(LookupError, match="no user 99"):
            users.rename(99, "Nobody")
        assert self.keys() == []


def test_the_fixtures_work_together(db_session, redis_client):
    users = CachedUsers(ShopRepository(db_session), redis_client)
    bob = users.repository.create_user("bob@example.com", "Bob")
    users.get(bob.id)
    assert keys(redis_client) == [f"user:{bob.id}"]
    assert_key(redis_client, f"user:{bob.id}", {"id": bob.id, "email": "bob@example.com", "name": "Bob"})
