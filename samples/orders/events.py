"""The orders service's events on Kafka: one JSON message per order change, keyed by order id (kafka-python)."""

from __future__ import annotations

import json
import warnings
from typing import Any

with warnings.catch_warnings():  # kafka-python 3.0 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka


class OrderEvents:
    """Publishes ``order_created``, ``order_updated`` and ``order_deleted`` events to ``topic``.

    Each publish waits until the broker has the event (``acks="all"``), so it is
    readable as soon as the HTTP response that caused it has been sent; a send
    that fails or times out raises instead of being lost quietly.
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, timeout: float = 5.0) -> None:
        self.topic = topic
        self.timeout = timeout
        # Every wait is bounded by ``timeout`` (kafka-python waits 30-60 s by default), so a request
        # made while Kafka is unreachable fails with a 500 before an HTTP client gives up on it.
        self.producer = kafka.KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            acks="all",
            bootstrap_timeout_ms=int(timeout * 1000),
            max_block_ms=int(timeout * 1000),
        )

    def publish(self, kind: str, order: dict[str, Any]) -> None:
        event = {
            "type": kind,
            "order_id": order["id"],
            "customer_id": order["customer_id"],
            "status": order["status"],
            "total_cents": order["total_cents"],
        }
        sent = self.producer.send(self.topic, key=str(order["id"]).encode(), value=json.dumps(event).encode())
        sent.get(timeout=self.timeout)

    def close(self) -> None:
        self.producer.close(timeout=5)
