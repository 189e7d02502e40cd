import json

from kafka import KafkaConsumer, KafkaProducer


class OrderEventPublisher:
    """Publishes order events, as the application does in production."""

    def __init__(self, bootstrap_servers, topic):
        self.topic = topic
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            value_serializer=lambda v: json.dumps(v).encode("utf-8"),
        )

    def order_placed(self, order_id, total):
        self.producer.send(self.topic, {"event": "order_placed", "order_id": order_id, "total": total})
        self.producer.flush()

    def close(self):
        self.producer.close()


class OrderEventListener:
    """The application's consumer: kafka-python's defaults, a group id, earliest offsets."""

    def __init__(self, bootstrap_servers, topic, group_id="order-service"):
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            auto_offset_reset="earliest",
            value_deserializer=lambda m: json.loads(m.decode("utf-8")),
        )

    def poll_events(self, expected, timeout=10.0):
        import time

        events = []
        deadline = time.time() + timeout
        while len(events) < expected and time.time() < deadline:
            for records in self.consumer.poll(timeout_ms=500).values():
                events.extend(record.value for record in records)
        return events

    def close(self):
        self.consumer.close()
