"""keys() and assert_key() on a real Redis: every type, and failures that show what is there."""

import pytest

from harness.bases.cache import lease_owner
from harness.data.cache import assert_key, keys
from harness.data.leases import DatabaseLease
from harness.services.redis import redis_py


@pytest.fixture()
def client(redis_server):
    lease = DatabaseLease(redis_server, owner=lease_owner("tests/data/test_cache"))
    lease.acquire()
    client = redis_py().Redis.from_url(lease.url, decode_responses=True)
    yield client
    client.close()
    lease.release()


def test_keys_is_a_sorted_snapshot_by_pattern(client):
    for name in ("user:2", "user:1", "session:x"):
        client.set(name, "1")
    assert keys(client) == ["session:x", "user:1", "user:2"]
    assert keys(client, "user:*") == ["user:1", "user:2"]


def test_assert_key_compares_every_type_and_returns_the_value(client):
    client.set("count", 5)
    client.hset("user:1", mapping={"name": "Ada", "age": 36})
    client.rpush("queue", "a", "b")
    client.sadd("tags", "x", "y")
    client.zadd("scores", {"ada": 2.5})
    assert assert_key(client, "count", 5) == "5"  # numbers compare with the strings Redis keeps
    assert assert_key(client, "user:1", {"name": "Ada", "age": 36}) == {"name": "Ada", "age": "36"}
    assert assert_key(client, "queue", ["a", "b"]) == ["a", "b"]
    assert assert_key(client, "tags", {"y", "x"}) == {"x", "y"}
    assert assert_key(client, "scores", {"ada": 2.5}) == {"ada": 2.5}


def test_a_missing_key_shows_what_the_database_holds_and_the_closest_name(client):
    client.set("user:1:profile", "{}")
    client.set("user:2:profile", "{}")
    with pytest.raises(AssertionError) as failure:
        assert_key(client, "user:1:profil")
    kwargs = client.connection_pool.connection_kwargs
    assert str(failure.value) == (
        f"key 'user:1:profil' does not exist in Redis 127.0.0.1:{kwargs['port']} db {kwargs['db']}; "
        "it holds 2 key(s): 'user:1:profile', 'user:2:profile'. Did you mean 'user:1:profile'?"
    )


def test_a_wrong_value_says_what_is_there(client):
    client.hset("user:1", mapping={"name": "Ada"})
    expected = r"^key 'user:1' holds \{'name': 'Ada'\} \(hash\), expected \{'name': 'Bob'\}$"
    with pytest.raises(AssertionError, match=expected):
        assert_key(client, "user:1", {"name": "Bob"})


def test_ttl_between_checks_the_expiry(client):
    client.set("session", "x", ex=300)
    client.set("forever", "x")
    assert_key(client, "session", "x", ttl_between=(290, 300))
    too_long = r"^key 'session' expires in (300\.0|29\d\.\d) s, expected between 10 and 60 s$"
    with pytest.raises(AssertionError, match=too_long):
        assert_key(client, "session", ttl_between=(10, 60))
    with pytest.raises(AssertionError, match="^key 'forever' has no expiry, expected one between 1 and 2 s$"):
        assert_key(client, "forever", ttl_between=(1, 2))
