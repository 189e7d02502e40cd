"""A Kafka broker shared with other runs: this run's heartbeat, and removing what dead runs left there.

Every topic and group harness makes is named ``harness.<owner>.<worker>.t<n>.<name>``, so
its owner (:mod:`harness.data.owners`) is in its name. Owners on this machine are
checked by pid; for owners elsewhere each run keeps a heartbeat topic,
``harness.<owner>.heartbeat``, with a record every :data:`HEARTBEAT_SECONDS`. When a run
first uses a shared broker it removes the topics and groups of owners that are provably
gone (``harness down`` does the same), starts its heartbeat, and deletes its heartbeat
topic when it ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.data.owners import Owner, current_owner, heartbeat, owner_from_token
from harness.registry import DATA, registry
from harness.services.base import Endpoint
from harness.services.kafka import client_settings, kafka_python, replication_factor

__all__ = ["heartbeat_topic", "new_admin_client", "owner_of", "share", "sweep", "sweep_topics"]

HEARTBEAT_READ_SECONDS = 2.0

_lock = threading.Lock()
_shared: dict[str, Any] = {}


def new_admin_client(endpoint: Endpoint) -> Any:
    """A kafka-python ``KafkaAdminClient`` on ``endpoint`` (the caller closes it)."""
    return kafka_python().KafkaAdminClient(**client_settings(endpoint), client_id="harness-admin")


def heartbeat_topic(owner: Owner) -> str:
    return f"harness.{owner.token}.heartbeat"


def owner_of(name: str) -> Owner | None:
    """The owner a topic's or group's name carries (``harness.<owner>....``), or None."""
    parts = name.split(".", 2)
    if len(parts) < 3 or parts[0] != "harness":
        return None
    owner = owner_from_token(parts[1])
    return owner if owner is not None and owner.token == parts[1] else None


def share(endpoint: Endpoint, admin: Callable[[], Any]) -> None:
    """Before this process first makes topics on a shared broker: sweep it, then start the heartbeat.

    ``admin`` gives the admin client to sweep with; it is only asked for on that first use.
    """
    if endpoint.owned:
        return
    with _lock:
        if endpoint.url in _shared:
            return
        sweep_topics(endpoint, admin())
        me = current_owner()
        topic = heartbeat_topic(me)
        kafka = kafka_python()
        spec = {"num_partitions": 1, "replication_factor": replication_factor(endpoint)}
        admin().create_topics({topic: spec}, raise_errors=False)
        producer = kafka.KafkaProducer(**client_settings(endpoint), client_id=f"harness.{me.token}.heartbeat")
        # Made now, used at the end: a run may end at interpreter shutdown (python -m unittest),
        # when Python 3.12 refuses to start the thread a new client needs.
        closing_admin = kafka.KafkaAdminClient(**client_settings(endpoint), client_id="harness-admin")
        _shared[endpoint.url] = (producer, closing_admin)

        def beat() -> None:
            producer.send(topic, json.dumps({"at": time.time()}).encode()).get(timeout=10)

        beat()
        heartbeat.add(f"kafka {endpoint.address}", beat)
        registry.on_shutdown(lambda: _unshare(endpoint), stage=DATA)


def _unshare(endpoint: Endpoint) -> None:
    """End of run: stop beating (done by the heartbeat itself) and delete this run's heartbeat topic."""
    clients = _shared.pop(endpoint.url, None)
    if clients is None:
        return
    producer, admin = clients
    producer.close()
    try:
        admin.delete_topics([heartbeat_topic(current_owner())], raise_errors=False)
    finally:
        admin.close()


def _heartbeat_age(endpoint: Endpoint, owner: Owner) -> float | None:
    """Seconds since ``owner``'s last heartbeat record, or None when it never beat here."""
    kafka = kafka_python()
    consumer = kafka.KafkaConsumer(**client_settings(endpoint), group_id=None, enable_auto_commit=False)
    try:
        partition = kafka.TopicPartition(heartbeat_topic(owner), 0)
        if not consumer.partitions_for_topic(partition.topic):
            return None
        consumer.assign([partition])
        end = consumer.end_offsets([partition])[partition]
        if end == 0:
            return None
        consumer.seek(partition, end - 1)
        deadline = time.monotonic() + HEARTBEAT_READ_SECONDS
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                return time.time() - records[-1].timestamp / 1000
        return None
    finally:
        consumer.close()


def sweep_topics(endpoint: Endpoint, admin: Any) -> list[str]:
    """Delete the topics and groups of runs that are provably gone from ``endpoint``; return their names.

    Names that do not carry a harness owner are never touched, nor those of a live owner.
    """
    topics = [name for name in admin.list_topics() if owner_of(name) is not None]
    groups = [group["group_id"] for group in admin.list_groups() if owner_of(group["group_id"]) is not None]
    me = current_owner()
    dead: set[Owner] = set()
    for owner in {owner_of(name) for name in topics + groups} - {me, None}:
        assert owner is not None
        age = None if owner.local else _heartbeat_age(endpoint, owner)
        if owner.provably_dead(age):
            dead.add(owner)
    doomed_groups = [group for group in groups if owner_of(group) in dead]
    doomed_topics = [topic for topic in topics if owner_of(topic) in dead]
    if doomed_groups:
        with contextlib.suppress(kafka_python().errors.KafkaError):
            admin.delete_groups(doomed_groups)
    if doomed_topics:
        admin.delete_topics(doomed_topics, raise_errors=False)
    return doomed_topics + doomed_groups


def sweep(endpoint: Endpoint) -> list[str]:
    """``harness down``: delete the topics and groups finished runs left on ``endpoint``; describe each."""
    admin = new_admin_client(endpoint)
    try:
        return [f"topic or group {name}" for name in sweep_topics(endpoint, admin)]
    finally:
        admin.close()
