"""Test data for the shop: factory-boy factories bound to the running test's session by harness."""

from __future__ import annotations

import factory

from harness.factories import SQLAlchemyFactory
from samples.shop.models import Order, User


class UserFactory(SQLAlchemyFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")


class OrderFactory(SQLAlchemyFactory):
    class Meta:
        model = Order

    user = factory.SubFactory(UserFactory)
    total_cents = factory.Faker("pyint", min_value=100, max_value=50_000)
