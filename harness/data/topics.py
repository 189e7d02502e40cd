"""TopicManager: the topics, consumer groups and clients of one test, and everything it does with them.

It is to Kafka what TestDataManager is to a database: whatever it creates
(topics, groups, producers, consumers) it removes in ``cleanup()``, whatever
the test's outcome. Names carry the run's and the worker's namespace, so
parallel workers, and runs sharing one external broker, never meet.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from harness.data import shared_broker
from harness.data.messages import (
    Headers,
    Match,
    Message,
    describe_messages,
    encode_headers,
    encode_key,
    encode_value,
    matches,
    text_or_bytes,
)
from harness.data.shared_broker import new_admin_client
from harness.errors import ConfigError, MessagesNotReceived, MessagingError
from harness.providers.rundir import Run, current_run
from harness.services.base import Endpoint
from harness.services.kafka import client_settings, group_settings, kafka_python, replication_factor

__all__ = ["TopicManager", "namespace", "new_admin_client", "test_namespace"]

MAX_TOPIC_NAME = 249
LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
POLL_MS = 50
GROUP_DELETE_SECONDS = 3.0
UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION

_tests = itertools.count(1)


def namespace(run: Run) -> str:
    """The prefix of every topic and group of this run and worker: ``harness.<run>.<worker>.``."""
    return f"harness.{run.token}.{run.worker}."


def test_namespace() -> str:
    """A fresh prefix for one test's topics and groups: ``harness.<run>.<worker>.t<n>.``."""
    return f"{namespace(current_run())}t{next(_tests)}."


test_namespace.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever pytest's naming rules say


def _kafka_rule_violation(name: str) -> str | None:
    """Kafka's own reason for refusing ``name`` (org.apache.kafka.common.internals.Topic.validate)."""
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters, topic name: {name}"
    if not LEGAL_NAME.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )
    return None


class TopicManager:
    """Create topics and groups for one test, produce and consume, and remove all of it afterwards.

    >>> from harness.registry import registry
    >>> with TopicManager(registry.acquire("kafka")) as kafka:          # doctest: +SKIP
    ...     orders = kafka.create_topic("orders", partitions=3)
    ...     kafka.produce(orders, {"id": 1, "total": 30}, key="user-1")
    ...     [message] = kafka.consume(orders)
    ...     assert message.value == {"id": 1, "total": 30}
    """

    __test__ = False

    def __init__(
        self, endpoint: Endpoint, *, prefix: str | None = None, timeout: float = 10.0, admin: Any = None
    ) -> None:
        self.endpoint = endpoint
        self.prefix = prefix if prefix is not None else test_namespace()
        self.timeout = timeout
        self.topics: list[str] = []
        """Topics this manager created, in order."""
        self.groups: list[str] = []
        """Consumer groups handed out by :meth:`group_id`, in order."""
        self._kafka = kafka_python()
        self._settings = client_settings(endpoint)
        self._admin: Any = admin
        self._owns_admin = admin is None
        self._producer: Any = None
        self._consumers: list[Any] = []
        self._readers: dict[tuple[str, str | None], Any] = {}
        self._marks: dict[Any, int] = {}
        self._known_topics: set[str] = set()
        self._unnamed = itertools.count(1)
        shared_broker.share(endpoint, lambda: self.admin)  # once per process, on a broker others use too

    # -- names ------------------------------------------------------------------------------

    def topic_name(self, name: str) -> str:
        """The full name ``create_topic(name)`` gives, without creating anything."""
        return self.prefix + name

    def group_id(self, name: str | None = None) -> str:
        """A consumer-group id in this test's namespace (the same ``name`` gives the same id); deleted after the test.

        Hand it to the code under test so that its consumers' group is cleaned up too.
        """
        group = self.prefix + (name if name is not None else "group")
        if group not in self.groups:
            self.groups.append(group)
        return group

    def client_config(self, group_id: str | None = None) -> dict[str, Any]:
        """kafka-python settings for clients of the code under test (``KafkaConsumer(topic, **config)``).

        The broker's bootstrap list and pinned API version; with ``group_id``, the
        namespaced group (deleted after the test) and the settings under which a
        new group gets its first message fast.
        """
        config: dict[str, Any] = dict(self._settings)
        if group_id is not None:
            config.update(group_settings(self.endpoint), group_id=self.group_id(group_id))
        return config

    # -- topics -----------------------------------------------------------------------------

    @property
    def admin(self) -> Any:
        """A kafka-python ``KafkaAdminClient`` on the broker: the one given, else its own, closed by :meth:`cleanup`.

        Creating one costs ~4 ms, so the bases share one per class (``admin=``).
        """
        if self._admin is None:
            self._admin = new_admin_client(self.endpoint)
        return self._admin

    def create_topic(
        self, name: str | None = None, partitions: int = 1, *, config: dict[str, str] | None = None
    ) -> str:
        """Create a topic in this test's namespace and return its full name; deleted by :meth:`cleanup`."""
        if not isinstance(partitions, int) or partitions < 1:
            raise ConfigError(f"create_topic(): partitions must be a whole number of at least 1, got {partitions!r}.")
        full = self.topic_name(name if name is not None else f"topic{next(self._unnamed)}")
        violation = _kafka_rule_violation(full) if name != "" else 'Topic name is illegal, it can\'t be empty'
        if violation is not None:
            raise MessagingError(
                f"create_topic({name!r}): Kafka refuses the topic name {full!r}: {violation}. "
                "(harness checks Kafka's naming rules itself, since not every broker does.)"
            )
        spec = {
            "num_partitions": partitions,
            "replication_factor": replication_factor(self.endpoint),
            "configs": dict(config or {}),
        }
        response = self.admin.create_topics({full: spec}, timeout_ms=int(self.timeout * 1000), raise_errors=False)
        for result in response["topics"]:
            if result["error_code"] != 0:
                error = self._kafka.errors.for_code(result["error_code"]).__name__
                raise MessagingError(
                    f"create_topic({name!r}): the broker at {self.endpoint.address} refused topic {full!r}: "
                    f"{result.get('error_message') or error} ({error})."
                )
        self.topics.append(full)
        self._known_topics.add(full)
        return full

    def _require_topic(self, topic: str, action: str) -> None:
        if topic in self._known_topics:
            return
        [description] = self.admin.describe_topics([topic])
        if description["error_code"] == UNKNOWN_TOPIC:
            hint = (
                f" Pass the name create_topic() returned ({self.topic_name(topic)!r} for create_topic({topic!r}))."
                if not topic.startswith(self.prefix) else " Create it with create_topic() first."
            )
            raise MessagingError(
                f"{action}: topic {topic!r} does not exist on the broker at {self.endpoint.address}.{hint}"
            )
        self._known_topics.add(topic)

    # -- producing --------------------------------------------------------------------------

    @property
    def producer(self) -> Any:
        """A kafka-python ``KafkaProducer`` (bytes in, bytes out), closed by :meth:`cleanup`."""
        if self._producer is None:
            self._producer = self._kafka.KafkaProducer(
                **self._settings,
                client_id=f"{self.prefix}producer",
                allow_auto_create_topics=False,
                max_block_ms=int(self.timeout * 1000),
            )
        return self._producer

    def produce(
        self,
        topic: str,
        value: Any,
        key: str | bytes | None = None,
        headers: Headers | None = None,
        *,
        partition: int | None = None,
    ) -> Message:
        """Write one message and wait for the broker's acknowledgement; returns it with its partition and offset.

        ``value`` is sent as JSON unless it is bytes (``None`` is a tombstone).
        """
        raw_value = encode_value(value)
        raw_key = encode_key(key)
        raw_headers = encode_headers(headers)
        self._require_topic(topic, f"produce({topic!r})")
        future = self.producer.send(topic, value=raw_value, key=raw_key, headers=raw_headers, partition=partition)
        try:
            metadata = future.get(timeout=self.timeout)
        except self._kafka.errors.KafkaError as exc:
            raise MessagingError(
                f"produce({topic!r}): the broker at {self.endpoint.address} did not accept the message: {exc}"
            ) from exc
        return Message(
            topic=topic,
            partition=metadata.partition,
            offset=metadata.offset,
            key=text_or_bytes(key) if isinstance(key, bytes) else key,
            value=value,
            headers={name: text_or_bytes(raw) for name, raw in raw_headers},
            timestamp=metadata.timestamp,
            raw_key=raw_key,
            raw_value=raw_value,
        )

    # -- consuming --------------------------------------------------------------------------

    def new_consumer(self, *topics: str, group_id: str | None = None, **config: Any) -> Any:
        """A kafka-python ``KafkaConsumer``, closed by :meth:`cleanup`.

        With ``group_id`` it joins that group (namespaced through :meth:`group_id`, so
        its offsets and membership are deleted after the test) with settings under
        which a new group gets its first message fast; without one it reads every
        partition of ``topics`` from the beginning, with no group at all.
        """
        for topic in topics:
            self._require_topic(topic, f"new_consumer({topic!r})")
        settings: dict[str, Any] = {
            **self.client_config(group_id),
            "client_id": f"{self.prefix}consumer",
            "allow_auto_create_topics": False,
            "fetch_max_wait_ms": 100,
        }
        if group_id is None:
            settings.update(group_id=None, enable_auto_commit=False)
        settings.update(config)
        consumer = self._kafka.KafkaConsumer(*(topics if group_id is not None else ()), **settings)
        self._consumers.append(consumer)
        if group_id is None:
            try:
                self._assign_from_start(consumer, topics)
            except BaseException:
                self._consumers.remove(consumer)
                consumer.close()
                raise
        return consumer

    def _assign_from_start(self, consumer: Any, topics: tuple[str, ...]) -> None:
        assignment = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            assignment += [self._kafka.TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assignment)
        for partition in assignment:
            if partition in self._marks:
                consumer.seek(partition, self._marks[partition])
            else:
                consumer.seek_to_beginning(partition)

    def mark(self, *topics: str) -> None:
        """From now on, read ``topics`` from here: :meth:`consume` and :meth:`assert_published` (and consumers
        without a group made later) see only what is published after this call.

        For topics that outlive one test (a class's topics, an application's): take the
        mark when the test starts and its assertions ignore what earlier tests published.
        """
        consumer = self._kafka.KafkaConsumer(**self.client_config(), group_id=None, enable_auto_commit=False,
                                             client_id=f"{self.prefix}marker")
        try:
            partitions = [
                self._kafka.TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            self._marks.update(consumer.end_offsets(partitions) if partitions else {})
        finally:
            consumer.close()

    def _reader(self, topic: str, group: str | None) -> Any:
        """The consumer :meth:`consume` keeps per (topic, group): each call goes on where the last stopped."""
        reader = self._readers.get((topic, group))
        if reader is None:
            reader = self.new_consumer(topic, group_id=group)
            self._readers[(topic, group)] = reader
        return reader

    def consume(self, topic: str, count: int = 1, timeout: float = 10.0, group_id: str | None = None) -> list[Message]:
        """The next ``count`` messages of ``topic`` (from its beginning on the first call).

        Without ``group_id`` partitions are assigned directly, which is fastest;
        with it, a consumer of that (namespaced) group reads them. Fewer than
        ``count`` within ``timeout`` seconds fails, showing those that arrived.
        """
        if count < 1:
            raise ConfigError(f"consume(): count must be at least 1, got {count!r}.")
        reader = self._reader(topic, group_id)
        received = self._poll(reader, count, timeout)
        if len(received) < count:
            group = f" as group {self.group_id(group_id)!r}" if group_id is not None else ""
            raise MessagesNotReceived(
                f"consume({topic!r}){group}: {len(received)} of {count} expected message(s) arrived within "
                f"{timeout:g}s. Received:\n{describe_messages(received)}"
            )
        return received

    def _poll(self, consumer: Any, count: int, timeout: float) -> list[Message]:
        received: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batches = consumer.poll(timeout_ms=max(1, int(min(remaining, POLL_MS / 1000) * 1000)),
                                    max_records=count - len(received))
            for records in batches.values():
                received += [Message.from_record(record) for record in records]
        return received

    def assert_published(self, topic: str, match: Match, timeout: float = 10.0) -> Message:
        """Wait until a message of ``topic`` (read from its beginning) matches; return it.

        ``match`` is a dict the message's value must contain (recursively), or a
        callable given the :class:`Message`. On timeout the failure lists what
        the topic held.
        """
        seen: list[Message] = []
        problems: dict[str, list[int]] = {}
        with self._scanner(topic) as scanner:
            deadline = time.monotonic() + timeout
            while True:
                remaining = max(deadline - time.monotonic(), 0)
                # One poll, not _poll(): it returns as soon as a batch arrives, so a match is seen at once
                # instead of at the end of a 50 ms window waiting for 500 messages that will not come.
                batches = scanner.poll(timeout_ms=max(1, int(min(remaining, POLL_MS / 1000) * 1000)),
                                       max_records=500)
                for message in (Message.from_record(record) for records in batches.values() for record in records):
                    seen.append(message)
                    try:
                        if matches(match, message):
                            return message
                    except (KeyError, IndexError, TypeError, AttributeError) as exc:
                        problems.setdefault(repr(exc), []).append(len(seen) - 1)
                if time.monotonic() >= deadline:
                    break
        wanted = "the predicate" if callable(match) else repr(match)
        raise MessagesNotReceived(
            f"assert_published({topic!r}): no message matching {wanted} within {timeout:g}s. "
            f"The topic held {len(seen)} message(s):\n{describe_messages(seen)}"
            + "".join(
                f"\n  the predicate raised {error} on {len(where)} of them, first on [{where[0]}]"
                for error, where in problems.items()
            )
        )

    @contextmanager
    def _scanner(self, topic: str) -> Iterator[Any]:
        consumer = self.new_consumer(topic)
        try:
            yield consumer
        finally:
            self._consumers.remove(consumer)
            consumer.close()

    # -- cleanup ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Close every client, then delete this manager's groups and topics; safe to call twice.

        Everything is attempted; what could not be removed is reported afterwards.
        """
        problems: list[str] = []
        for consumer in self._consumers:
            consumer.close()
        self._consumers.clear()
        self._readers.clear()
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        try:
            if self.groups:
                problems += self._delete_groups(self.groups)
            if self.topics:
                problems += self._delete_topics(self.topics)
        finally:
            self.groups.clear()
            self.topics.clear()
            if self._admin is not None and self._owns_admin:
                self._admin.close()
                self._admin = None
        if problems:
            raise MessagingError(
                f"Cleanup on the broker at {self.endpoint.address} left something behind:\n" + "\n".join(problems)
            )

    def _delete_groups(self, groups: list[str]) -> list[str]:
        deadline = time.monotonic() + GROUP_DELETE_SECONDS
        pending = list(groups)
        while True:
            results = self.admin.delete_groups(pending)
            # A group no consumer ever joined does not exist; one still in use may be leaving.
            failed = {group: result for group, result in results.items()
                      if result not in ("OK", "GroupIdNotFoundError")}
            if not failed:
                return []
            if time.monotonic() >= deadline:
                return [
                    f"  group {group!r}: {result} (a consumer outside harness may still be in it: "
                    "close it before the test ends)"
                    for group, result in failed.items()
                ]
            pending = list(failed)
            time.sleep(0.1)

    def _delete_topics(self, topics: list[str]) -> list[str]:
        response = self.admin.delete_topics(topics, timeout_ms=int(self.timeout * 1000), raise_errors=False)
        problems = []
        for result in response["topics"]:
            code = result["error_code"]
            if code not in (0, UNKNOWN_TOPIC):
                error = self._kafka.errors.for_code(code).__name__
                problems.append(f"  topic {result['name']!r}: {result.get('error_message') or error} ({error})")
        return problems

    def __enter__(self) -> TopicManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.cleanup()
