"""The shop tested the unittest way: runs under ``python -m unittest`` and under pytest alike.

Also shows ``database = "sqlite"``: the same tests without any server.
"""

import unittest

from sqlalchemy import func, select

from harness import DatabaseTestBase
from samples.shop.factories import OrderFactory
from samples.shop.models import Base, Order, User
from samples.shop.repository import ShopRepository


class ShopCases:
    """The tests, shared by the PostgreSQL and the SQLite classes below."""

    metadata = Base.metadata

    def setUp(self):
        self.repository = ShopRepository(self.session)

    def count(self, model):
        return self.session.scalar(select(func.count()).select_from(model))

    def test_create_user(self):
        self.repository.create_user("linus@example.com", "Linus")
        self.assertEqual(self.count(User), 1)
        self.assertEqual(self.repository.get_user_by_email("LINUS@example.com").name, "Linus")

    def test_same_email_in_another_test(self):
        self.repository.create_user("linus@example.com", "Linus again")
        self.assertEqual(self.count(User), 1)

    def test_orders_for_a_user_in_order(self):
        user = self.repository.create_user("buyer@example.com", "Buyer")
        first = self.repository.place_order(user, 300)
        second = self.repository.place_order(user, 400)
        self.assertEqual([order.id for order in self.repository.orders_for(user)], [first.id, second.id])

    def test_rejects_free_orders(self):
        user = self.repository.create_user("cheap@example.com", "Cheap")
        with self.assertRaises(ValueError):
            self.repository.place_order(user, -5)
        self.assertEqual(self.count(Order), 0)

    def test_factories(self):
        OrderFactory.create_batch(2, status="paid", total_cents=150)
        OrderFactory(total_cents=999)  # pending: not revenue yet
        self.assertEqual(self.repository.revenue_cents(), 300)

    def test_mark_paid(self):
        order = OrderFactory(total_cents=1250)
        self.assertEqual(self.repository.mark_paid(order.id).status, "paid")
        self.assertEqual(self.repository.revenue_cents(), 1250)

    def test_unknown_order(self):
        with self.assertRaisesRegex(LookupError, "no order 12345"):
            self.repository.mark_paid(12345)


class TestShopOnPostgres(ShopCases, DatabaseTestBase):
    pass


class TestShopOnSqlite(ShopCases, DatabaseTestBase):
    database = "sqlite"


if __name__ == "__main__":
    unittest.main()
