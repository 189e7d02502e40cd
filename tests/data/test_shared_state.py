"""On a server shared with other runs, what provably dead owners left is removed; nothing else is touched.

Owners are forged: a process of this machine that exited, one that runs, and owners on
another host whose heartbeat is fresh, expired, or absent; next to them sits state that
harness did not make (no marker, or a name that merely looks like harness's).
"""

import json
import subprocess
import sys
import time

import pytest

from harness.data import databases, leases
from harness.data.databases import sweep_databases
from harness.data.leases import sweep_leases
from harness.data.owners import EXPIRY_SECONDS, Owner, marker
from harness.data.shared_broker import heartbeat_topic, sweep_topics
from harness.providers.rundir import host_id, process_start_time
from harness.services import kafka, postgres, redis
from tests.data.test_owners import dead_local_owner


@pytest.fixture()
def shared(private_servers):
    """``shared(module)``: this module's own server, seen as one shared with others (what HARNESS_*_URL gives).

    Its own, so that nothing else sweeps or sees the state forged on it.
    """
    return lambda service: service.SERVICE.external_endpoint(str(private_servers(service.SERVICE.name).url))


@pytest.fixture()
def live_local_owner():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield Owner(host=host_id(), pid=child.pid, started=process_start_time(child.pid))
    child.kill()
    child.wait()


FRESH_ELSEWHERE = Owner(host="0000fffe", pid=101, started="1")
EXPIRED_ELSEWHERE = Owner(host="0000fffe", pid=102, started="1")
SILENT_ELSEWHERE = Owner(host="0000fffe", pid=103, started="1")


def test_databases_of_dead_owners_are_dropped_and_no_others(live_local_owner, shared):
    endpoint = shared(postgres)
    dead = dead_local_owner()
    made = {
        f"harness_{dead.token}_main_sweep": (dead, 0),
        f"harness_{live_local_owner.token}_main_sweep": (live_local_owner, 0),
        f"harness_{FRESH_ELSEWHERE.token}_main_sweep": (FRESH_ELSEWHERE, 0),
        f"harness_{EXPIRED_ELSEWHERE.token}_main_sweep": (EXPIRED_ELSEWHERE, -(EXPIRY_SECONDS + 60)),
    }
    unmarked = ["harness_looks_like_ours", "harness_billing_copy"]
    try:
        for name, (owner, shift) in made.items():
            databases.create_database(
                endpoint, name, comment=lambda now, owner=owner, shift=shift: marker(owner, heartbeat=now + shift)
            )
        databases.create_database(endpoint, unmarked[0])
        databases.create_database(endpoint, unmarked[1], comment=lambda now: "the billing team's copy")
        dropped = sweep_databases(endpoint)
        assert sorted(dropped) == sorted([f"harness_{dead.token}_main_sweep",
                                          f"harness_{EXPIRED_ELSEWHERE.token}_main_sweep"])
        names = {name for name, _ in databases.list_databases(endpoint, prefix="harness_")[0]}
        assert names.isdisjoint(dropped)
        assert {f"harness_{live_local_owner.token}_main_sweep", f"harness_{FRESH_ELSEWHERE.token}_main_sweep",
                *unmarked} <= names
    finally:
        for name in [*made, *unmarked]:
            databases.drop_database(endpoint, name)


def test_redis_databases_of_dead_owners_are_emptied_and_no_others(live_local_owner, shared):
    endpoint = shared(redis)
    client = redis.redis_py().Redis
    dead = dead_local_owner()
    layout = {  # database: (lease holder or None, used marker owner or None)
        59: (live_local_owner, live_local_owner),
        60: (dead, dead),
        61: (FRESH_ELSEWHERE, FRESH_ELSEWHERE),  # its lease is its heartbeat: it expires by itself
        62: (None, EXPIRED_ELSEWHERE),  # a lease that expired left its data and mark behind
        63: (None, None),  # someone else's data, no mark of harness's
    }
    with client.from_url(endpoint.url, decode_responses=True) as control:
        try:
            for number, (holder, user) in layout.items():
                with client.from_url(redis.database_url(endpoint.url, number)) as database:
                    database.set("k", "v")
                if holder is not None:
                    control.set(f"{leases.LEASE_PREFIX}{number}", marker(holder, holder="forged"), ex=300)
                if user is not None:
                    control.set(f"{leases.USED_PREFIX}{number}", marker(user, holder="forged"))
            assert sweep_leases(endpoint) == [60, 62]
            for number in layout:
                with client.from_url(redis.database_url(endpoint.url, number)) as database:
                    assert database.dbsize() == (0 if number in (60, 62) else 1), number
            assert control.get(f"{leases.LEASE_PREFIX}60") is None and control.get(f"{leases.USED_PREFIX}60") is None
            assert control.get(f"{leases.LEASE_PREFIX}62") is None and control.get(f"{leases.USED_PREFIX}62") is None
            assert json.loads(control.get(f"{leases.LEASE_PREFIX}59"))["owner"] == live_local_owner.token
            assert control.ttl(f"{leases.LEASE_PREFIX}61") > 0
        finally:
            for number in layout:
                control.delete(f"{leases.LEASE_PREFIX}{number}", f"{leases.USED_PREFIX}{number}")
                with client.from_url(redis.database_url(endpoint.url, number)) as database:
                    database.flushdb()


def _commit_group(endpoint, group, topic):
    lib = kafka.kafka_python()
    consumer = lib.KafkaConsumer(**kafka.client_settings(endpoint), group_id=group, enable_auto_commit=False)
    try:
        partition = lib.TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.commit({partition: lib.OffsetAndMetadata(0, "", -1)})
    finally:
        consumer.close()


def _beat(endpoint, owner, seconds_ago):
    lib = kafka.kafka_python()
    with_timestamp = int((time.time() - seconds_ago) * 1000)
    producer = lib.KafkaProducer(**kafka.client_settings(endpoint))
    try:
        producer.send(heartbeat_topic(owner), b"{}", timestamp_ms=with_timestamp).get(timeout=10)
    finally:
        producer.close()


def test_topics_and_groups_of_dead_owners_are_deleted_and_no_others(live_local_owner, shared, private_kafka_admin):
    kafka_admin = private_kafka_admin
    endpoint = shared(kafka)
    dead = dead_local_owner()
    topics = {owner: f"harness.{owner.token}.main.t1.orders"
              for owner in (dead, live_local_owner, FRESH_ELSEWHERE, EXPIRED_ELSEWHERE, SILENT_ELSEWHERE)}
    beats = {FRESH_ELSEWHERE: 10, EXPIRED_ELSEWHERE: EXPIRY_SECONDS + 60}
    lookalikes = ["harness.not-an-owner.main.t1.orders", "orders.harness.x"]
    every = [*topics.values(), *lookalikes, *(heartbeat_topic(owner) for owner in beats)]
    spec = {"num_partitions": 1, "replication_factor": -1}
    try:
        kafka_admin.create_topics({name: spec for name in every})
        for owner, seconds_ago in beats.items():
            _beat(endpoint, owner, seconds_ago)
        _commit_group(endpoint, f"harness.{dead.token}.main.t1.group", topics[dead])
        removed = sweep_topics(endpoint, kafka_admin)
        assert sorted(removed) == sorted([
            topics[dead], topics[EXPIRED_ELSEWHERE], heartbeat_topic(EXPIRED_ELSEWHERE),
            f"harness.{dead.token}.main.t1.group",
        ])
        deadline = time.monotonic() + 10
        while set(removed) & set(kafka_admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = set(kafka_admin.list_topics())
        assert left.isdisjoint(removed)
        assert {topics[live_local_owner], topics[FRESH_ELSEWHERE], topics[SILENT_ELSEWHERE],
                heartbeat_topic(FRESH_ELSEWHERE), *lookalikes} <= left
        assert f"harness.{dead.token}.main.t1.group" not in [group["group_id"] for group in kafka_admin.list_groups()]
    finally:
        kafka_admin.delete_topics([name for name in every if name in kafka_admin.list_topics()], raise_errors=False)
