"""MessageQueueTestBase: a real Kafka-protocol broker, topics and groups made per test and deleted after it."""

from __future__ import annotations

import unittest
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, ClassVar

from harness.bases.attributes import Replaceable
from harness.bases.lifecycle import HarnessLifecycle, Resource, forget_class_attributes
from harness.data.messages import Headers, Match, Message
from harness.data.topics import TopicManager, new_admin_client
from harness.services.base import Endpoint

__all__ = ["MessageQueueTestBase", "MessageQueueTestMixin"]

_ADMIN_CLIENT = Resource(make=lambda endpoint, _cls: new_admin_client(endpoint), undo=lambda admin: admin.close())
"""The admin client the class's tests share (one costs ~4 ms to create)."""


class MessageQueueTestMixin(HarnessLifecycle):
    """The messaging lifecycle without unittest.TestCase, for plain pytest classes.

    ``MessageQueueTestBase`` is this plus ``unittest.TestCase``; see it for the helpers.
    """

    message_timeout: ClassVar[float] = 10.0
    """Seconds a produce or an admin request may take before the test fails."""

    _harness_settings: ClassVar[Mapping[str, Callable[[Any], bool]]] = {
        "message_timeout": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    }

    bootstrap_servers: ClassVar[str]
    kafka_endpoint: ClassVar[Endpoint]
    _harness_kafka_admin: ClassVar[Any]
    kafka: TopicManager
    """This test's TopicManager (every helper below delegates to it)."""

    @classmethod
    def _harness_services(cls) -> tuple[str, ...]:
        return (*super()._harness_services(), "kafka")

    @classmethod
    def _harness_resources(cls) -> dict[str, Resource]:
        return {**super()._harness_resources(), "kafka": _ADMIN_CLIENT}

    @classmethod
    def _harness_setup_class(cls, stack: ExitStack) -> None:
        super()._harness_setup_class(stack)
        endpoint, admin = cls._harness_resource(stack, "kafka")  # an admin client shared by the class's tests
        cls.kafka_endpoint = endpoint
        cls.bootstrap_servers = endpoint.url
        cls._harness_kafka_admin = admin
        stack.callback(forget_class_attributes, cls, ("kafka_endpoint", "bootstrap_servers", "_harness_kafka_admin"))

    def _harness_setup_test(self, stack: ExitStack) -> None:
        super()._harness_setup_test(stack)
        cls = type(self)
        self.kafka = TopicManager(cls.kafka_endpoint, timeout=cls.message_timeout, admin=cls._harness_kafka_admin)
        stack.callback(self.kafka.cleanup)

    def _harness_failure_hint(self) -> str:
        hints = [super()._harness_failure_hint()]
        manager = self.__dict__.get("kafka")
        if manager is not None:
            hints.append(f"harness: Kafka at {manager.endpoint.url}; this test's topics and groups: {manager.prefix}*")
        return "\n".join(hint for hint in hints if hint)

    # -- helpers for tests -------------------------------------------------------------------

    def create_topic(self, name: str | None = None, partitions: int = 1) -> str:
        """Create a topic for this test (deleted after it) and return its full, namespaced name."""
        return self.kafka.create_topic(name, partitions)

    def produce(
        self, topic: str, value: Any, key: str | bytes | None = None, headers: Headers | None = None
    ) -> Message:
        """Write one message (JSON unless bytes) and wait until the broker has it."""
        return self.kafka.produce(topic, value, key, headers)

    def consume(self, topic: str, count: int = 1, timeout: float = 10.0, group_id: str | None = None) -> list[Message]:
        """The next ``count`` messages of ``topic``; fails showing what arrived if fewer do in time."""
        return self.kafka.consume(topic, count, timeout, group_id)

    def assert_published(self, topic: str, match: Match, timeout: float = 10.0) -> Message:
        """The first message of ``topic`` whose value contains ``match`` (or that the callable accepts)."""
        return self.kafka.assert_published(topic, match, timeout)

    def group_id(self, name: str | None = None) -> str:
        """A consumer-group id for the code under test, namespaced to this test and deleted after it."""
        return self.kafka.group_id(name)

    @Replaceable
    def producer(self) -> Any:
        """This test's kafka-python ``KafkaProducer`` (bytes in; closed after the test), unless the class or
        the test sets a producer of its own: then that one (the helpers above keep using harness's)."""
        return self.kafka.producer

    def new_consumer(self, *topics: str, group_id: str | None = None, **config: Any) -> Any:
        """A kafka-python ``KafkaConsumer`` (closed after the test); see :meth:`TopicManager.new_consumer`."""
        return self.kafka.new_consumer(*topics, group_id=group_id, **config)


class MessageQueueTestBase(MessageQueueTestMixin, unittest.TestCase):
    """A test case on a real Kafka-protocol broker; every test's topics and groups are its own.

    Gives ``cls.bootstrap_servers``; per test ``create_topic``, ``produce``,
    ``consume``, ``assert_published``, ``group_id``, ``producer`` and
    ``new_consumer``, all on ``self.kafka`` (a TopicManager), which deletes the
    test's topics and groups and closes its clients after it::

        class TestOrderEvents(MessageQueueTestBase):
            def test_order_placed_is_published(self):
                topic = self.create_topic("orders", partitions=3)
                publish_order_placed(self.bootstrap_servers, topic, order_id=7)
                self.assert_published(topic, {"type": "order_placed", "order_id": 7})

    Clients of your own: a ``producer`` (or ``consumer``) the class sets in
    ``setup_class`` (``cls.producer = KafkaProducer(..., value_serializer=...)``)
    or the test sets in ``setup_method`` is what ``self.producer`` gives; without
    one it is harness's bytes-in producer. ``produce``, ``consume`` and
    ``assert_published`` always use harness's own clients, so a value is JSON-encoded
    once whichever producer you set. Harness closes only its own clients: close
    yours in ``teardown_class``/``teardown_method``, which run while the broker,
    the class and the test's topics are still there.
    """
