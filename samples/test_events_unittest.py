"""The shop's order events tested the unittest way: runs under ``python -m unittest`` and under pytest alike."""

import unittest

from harness import MessageQueueTestBase
from samples.shop.events import OrderEventPublisher, PaymentLedger


class TestOrderEvents(MessageQueueTestBase):
    def setUp(self):
        self.topic = self.create_topic("orders", partitions=3)
        self.publisher = OrderEventPublisher(self.bootstrap_servers, self.topic)
        self.addCleanup(self.publisher.close)

    def test_paying_an_order_publishes_order_paid(self):
        self.publisher.order_paid(order_id=3, user_id=9, total_cents=1200)
        self.publisher.flush()
        event = self.assert_published(self.topic, {"type": "order_paid", "user_id": 9})
        self.assertEqual(event.key, "9")

    def test_nothing_is_published_until_something_happens(self):
        # This test's "orders" topic is its own: the event of the test above is not in it.
        with self.assertRaises(AssertionError) as failure:
            self.consume(self.topic, timeout=0.3)
        self.assertIn("0 of 1 expected message(s) arrived", str(failure.exception))

    def test_one_users_events_arrive_in_the_order_they_happened(self):
        for order_id in range(12):
            self.publisher.order_placed(order_id=order_id, user_id=order_id % 3, total_cents=100)
        self.publisher.flush()
        events = self.consume(self.topic, count=12)
        for user in range(3):
            orders = [event.value["order_id"] for event in events if event.value["user_id"] == user]
            self.assertEqual(orders, sorted(orders))

    def test_the_ledger_totals_payments_in_its_group(self):
        for order_id, cents in enumerate((500, 700, 300)):
            self.publisher.order_paid(order_id=order_id, user_id=4, total_cents=cents)
        self.publisher.flush()
        ledger = PaymentLedger(self.topic, **self.kafka.client_config(group_id="ledger"))
        self.addCleanup(ledger.close)  # runs before harness deletes the group
        self.assertEqual(ledger.run(until_handled=3), 3)
        self.assertEqual(ledger.paid_cents, {4: 1500})


if __name__ == "__main__":
    unittest.main()
