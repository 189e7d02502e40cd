"""The shop's order events on Kafka, written the way application code is (plain kafka-python).

``OrderEventPublisher`` publishes one JSON event per order change, keyed by the
user, so that every event of one user lands on the same partition, in order.
``PaymentLedger`` is a consumer-group member that adds up what each user has
paid; several ledgers in one group share the topic's partitions.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections import defaultdict
from typing import Any

with warnings.catch_warnings():  # kafka-python 3.0 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka


class OrderEventPublisher:
    """Publishes ``order_placed`` and ``order_paid`` events to ``topic``."""

    def __init__(self, bootstrap_servers: str | list[str], topic: str, **config: Any) -> None:
        self.topic = topic
        self.producer = kafka.KafkaProducer(bootstrap_servers=bootstrap_servers, **config)
        self.sequence = 0

    def _publish(self, event: dict[str, Any]) -> None:
        self.sequence += 1
        value = json.dumps({**event, "sequence": self.sequence}).encode()
        self.producer.send(self.topic, key=str(event["user_id"]).encode(), value=value)

    def order_placed(self, order_id: int, user_id: int, total_cents: int) -> None:
        self._publish({"type": "order_placed", "order_id": order_id, "user_id": user_id, "total_cents": total_cents})

    def order_paid(self, order_id: int, user_id: int, total_cents: int) -> None:
        self._publish({"type": "order_paid", "order_id": order_id, "user_id": user_id, "total_cents": total_cents})

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


class PaymentLedger:
    """Consumes order events in a consumer group and totals the payments per user."""

    def __init__(self, topic: str, **config: Any) -> None:
        self.paid_cents: dict[int, int] = defaultdict(int)
        self.handled = 0
        self.partitions_handled: set[int] = set()
        self.assigned: set[int] = set()
        """The partitions the group gave this member at its last rebalance."""
        self.consumer = kafka.KafkaConsumer(enable_auto_commit=False, **config)
        self.consumer.subscribe([topic], listener=_Assignment(self.assigned))

    def run(self, *, until_handled: int, timeout: float = 10.0) -> int:
        """Handle events until ``until_handled`` were handled in total or ``timeout`` passes; commit them."""
        deadline = time.monotonic() + timeout
        while self.handled < until_handled and time.monotonic() < deadline:
            self._handle_batch()
        self.consumer.commit()
        return self.handled

    def serve(self, stop: threading.Event) -> None:
        """Handle events until ``stop`` is set (the loop a worker thread runs); commit them."""
        while not stop.is_set():
            self._handle_batch()
        self.consumer.commit()

    def _handle_batch(self) -> None:
        batches = self.consumer.poll(timeout_ms=100)
        for partition, records in batches.items():
            self.partitions_handled.add(partition.partition)
            for record in records:
                event = json.loads(record.value)
                if event["type"] == "order_paid":
                    self.paid_cents[event["user_id"]] += event["total_cents"]
                self.handled += 1
        if batches:
            self.consumer.commit()

    def close(self) -> None:
        self.consumer.close()


class _Assignment(kafka.ConsumerRebalanceListener):
    """Keeps a set up to date with the partitions the group assigns."""

    def __init__(self, assigned: set[int]) -> None:
        self.assigned = assigned

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.assigned.clear()

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.update(partition.partition for partition in assigned)
