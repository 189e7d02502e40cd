"""MessageQueueTestBase as the guides write it: class-level clients with kafka-python's defaults."""

import json
import time

from guide_app.events import OrderEventListener, OrderEventPublisher
from kafka import KafkaConsumer, KafkaProducer

from harness import MessageQueueTestBase


class TestOrderEvents(MessageQueueTestBase):
    @classmethod
    def setup_class(cls):
        super().setup_class()
        cls.producer = KafkaProducer(
            bootstrap_servers=cls.bootstrap_servers,
            value_serializer=lambda v: json.dumps(v).encode("utf-8"),
        )
        cls.consumer = KafkaConsumer(
            bootstrap_servers=cls.bootstrap_servers,
            group_id="test-group",
            auto_offset_reset="earliest",
            value_deserializer=lambda m: json.loads(m.decode("utf-8")),
        )

    @classmethod
    def teardown_class(cls):
        cls.producer.close()
        cls.consumer.close()
        super().teardown_class()

    def test_message_publishing(self):
        topic = "test-topic"  # the broker harness started creates it on first use
        for i in range(5):
            self.producer.send(topic, {"order_id": i, "amount": 100 + i})
        self.producer.flush()

        self.consumer.subscribe([topic])
        messages = []
        deadline = time.time() + 10
        while len(messages) < 5 and time.time() < deadline:
            for records in self.consumer.poll(timeout_ms=1000).values():
                messages.extend(record.value for record in records)
        assert len(messages) == 5
        assert sorted(message["order_id"] for message in messages) == [0, 1, 2, 3, 4]

    def test_harness_helpers_beside_the_class_clients(self):
        topic = self.create_topic("payments")
        self.produce(topic, {"payment": 1})
        assert self.consume(topic)[0].value == {"payment": 1}
        self.producer.send(topic, {"payment": 2})  # the class's own producer: JSON by its serializer
        self.producer.flush()
        self.assert_published(topic, {"payment": 2})


class TestApplicationConsumer(MessageQueueTestBase):
    """The code under test creates its consumer with the client's defaults and a group id."""

    def test_listener_gets_published_events(self):
        topic = self.create_topic("order-events")
        publisher = OrderEventPublisher(self.bootstrap_servers, topic)
        listener = OrderEventListener(self.bootstrap_servers, topic, group_id=self.group_id("order-service"))
        try:
            for order_id in range(5):
                publisher.order_placed(order_id, total=10 * order_id)
            events = listener.poll_events(expected=5, timeout=10)
        finally:
            publisher.close()
            listener.close()
        assert [event["order_id"] for event in events] == [0, 1, 2, 3, 4]
