"""The shop's order events tested in pytest style on a real Kafka-protocol broker started by harness.

Shows: per-test topics (two tests that would see each other's events if they
shared one), ``assert_published``, ordering per key across partitions, a
consumer group whose members split the partitions, a group that resumes from
its committed offsets, and the ``kafka_topics``/``kafka_topic`` fixtures in
plain functions.
"""

import threading
import time

from harness.bases import MessageQueueTestMixin
from samples.shop.events import OrderEventPublisher, PaymentLedger


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


class TestOrderEvents(MessageQueueTestMixin):
    def test_an_order_placed_is_published(self):
        topic = self.create_topic("orders")
        publisher = OrderEventPublisher(self.bootstrap_servers, topic)
        try:
            publisher.order_placed(order_id=7, user_id=1, total_cents=2500)
            publisher.flush()
        finally:
            publisher.close()
        event = self.assert_published(topic, {"type": "order_placed", "order_id": 7})
        assert event.key == "1" and event.value["total_cents"] == 2500

    def test_another_test_starts_with_an_empty_topic(self):
        # Same short name as above: it would hold order 7 if topics were shared between tests.
        topic = self.create_topic("orders")
        self.produce(topic, {"type": "order_placed", "order_id": 8, "user_id": 2, "total_cents": 100}, key="2")
        assert [message.value["order_id"] for message in self.consume(topic)] == [8]

    def test_events_of_one_user_stay_in_order_across_partitions(self):
        topic = self.create_topic("orders", partitions=3)
        publisher = OrderEventPublisher(self.bootstrap_servers, topic)
        try:
            for order_id in range(30):
                publisher.order_placed(order_id=order_id, user_id=order_id % 5, total_cents=100 + order_id)
            publisher.flush()
        finally:
            publisher.close()
        events = self.consume(topic, count=30)
        assert len({event.partition for event in events}) > 1  # the users really are spread out
        for user in range(5):
            mine = [event for event in events if event.value["user_id"] == user]
            assert len({event.partition for event in mine}) == 1  # one key, one partition
            assert [event.value["sequence"] for event in mine] == sorted(event.value["sequence"] for event in mine)

    def test_two_ledgers_in_one_group_split_the_partitions(self):
        topic = self.create_topic("payments", partitions=2)
        config = self.kafka.client_config(group_id="ledger")
        ledgers = [PaymentLedger(topic, **config), PaymentLedger(topic, **config)]
        stop = threading.Event()
        workers = [threading.Thread(target=ledger.serve, args=(stop,)) for ledger in ledgers]
        for worker in workers:
            worker.start()
        try:
            wait_until(lambda: all(ledger.assigned for ledger in ledgers))  # the group has settled
            for user in range(20):
                self.produce(topic, {"type": "order_paid", "order_id": user, "user_id": user, "total_cents": 10},
                             str(user))
            wait_until(lambda: sum(ledger.handled for ledger in ledgers) >= 20)
            first_owns, second_owns = (set(ledger.assigned) for ledger in ledgers)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
            for ledger in ledgers:
                ledger.close()
        first, second = ledgers
        assert first_owns | second_owns == {0, 1} and first_owns.isdisjoint(second_owns)
        assert first.partitions_handled == first_owns and second.partitions_handled == second_owns
        assert sum(first.paid_cents.values()) + sum(second.paid_cents.values()) == 200  # each event once

    def test_a_group_resumes_from_its_committed_offsets(self):
        topic = self.create_topic("payments")
        config = self.kafka.client_config(group_id="ledger")
        self.produce(topic, {"type": "order_paid", "order_id": 1, "user_id": 1, "total_cents": 500}, "1")
        ledger = PaymentLedger(topic, **config)
        try:
            assert ledger.run(until_handled=1) == 1
        finally:
            ledger.close()
        self.produce(topic, {"type": "order_paid", "order_id": 2, "user_id": 1, "total_cents": 700}, "1")
        restarted = PaymentLedger(topic, **config)
        try:
            assert restarted.run(until_handled=1) == 1
            assert restarted.paid_cents == {1: 700}  # order 1 was committed, not handled again
        finally:
            restarted.close()


def test_the_fixtures_give_a_fresh_topic(kafka_topic, kafka_topics):
    kafka_topics.produce(kafka_topic, {"type": "order_placed", "order_id": 1}, key="1")
    assert kafka_topics.assert_published(kafka_topic, lambda message: message.key == "1").offset == 0
