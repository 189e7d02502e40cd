"""The shop tested in pytest style on a real PostgreSQL started by harness.

Shows: per-test isolation (two tests that would collide if they saw each other's
rows), application code that commits, class-wide seed data, factories,
``self.data``, ``get_session()``, a class with real commits (``isolation =
"tracked"``) and the ``db_session`` fixture in a plain function.
"""

import pytest
from sqlalchemy import func, select, text

from harness import DatabaseTestBase
from samples.shop.factories import OrderFactory, UserFactory
from samples.shop.models import Base, Order, User
from samples.shop.repository import ShopRepository


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


class TestUsers(DatabaseTestBase):
    metadata = Base.metadata

    def test_create_user(self):
        repository = ShopRepository(self.session)
        repository.create_user("Ada@Example.com", "Ada")  # commits: harness rolls it back after the test
        assert repository.get_user_by_email("ada@example.com").name == "Ada"
        assert count(self.session, User) == 1

    def test_same_email_in_another_test(self):
        # Would fail on the unique email if test_create_user's row were still there.
        ShopRepository(self.session).create_user("ada@example.com", "Another Ada")
        assert count(self.session, User) == 1

    def test_factories_create_rows_in_this_test(self):
        orders = OrderFactory.create_batch(3)
        assert count(self.session, Order) == 3
        assert count(self.session, User) == 3
        assert all(order.user.id for order in orders)

    def test_data_manager_creates_rows(self):
        user = self.data.create(User, email="grace@example.com", name="Grace")
        self.data.create(Order, user_id=user.id, total_cents=1200)
        assert [order.total_cents for order in ShopRepository(self.session).orders_for(user)] == [1200]


class TestOrders(DatabaseTestBase):
    metadata = Base.metadata

    @classmethod
    def seed_data(cls, session):
        cls.customer = User(email="customer@example.com", name="Customer")
        session.add(cls.customer)

    def test_only_paid_orders_count_as_revenue(self):
        repository = ShopRepository(self.session)
        paid = repository.place_order(self.customer, 2500)
        unpaid = repository.place_order(self.customer, 400)
        repository.mark_paid(paid.id)
        assert (paid.status, unpaid.status) == ("paid", "pending")
        assert repository.revenue_cents() == 2500

    def test_revenue_starts_at_zero(self):
        assert ShopRepository(self.session).revenue_cents() == 0
        assert count(self.session, User) == 1  # only the seeded customer

    def test_an_order_must_cost_something(self):
        with pytest.raises(ValueError, match="must cost something, got 0 cents"):
            ShopRepository(self.session).place_order(self.customer, 0)
        assert count(self.session, Order) == 0

    def test_delete_user_takes_their_orders(self):
        repository = ShopRepository(self.session)
        repository.place_order(self.customer, 100)
        repository.delete_user(self.customer)
        assert (count(self.session, User), count(self.session, Order)) == (0, 0)

    def test_get_session_commits_into_this_test(self):
        with self.get_session() as session:
            ShopRepository(session).place_order(session.merge(self.customer), 700)
        assert count(self.session, Order) == 1


class TestReportsSeeCommittedData(DatabaseTestBase):
    """Code that reads through its own connection needs real commits: tracked rows are deleted after."""

    metadata = Base.metadata
    isolation = "tracked"

    def test_another_connection_sees_the_order(self):
        user = ShopRepository(self.session).create_user("reporter@example.com", "Reporter")
        ShopRepository(self.session).place_order(user, 999)
        with self.engine.connect() as report_connection:
            total = report_connection.execute(text("SELECT sum(total_cents) FROM orders")).scalar_one()
        assert total == 999

    def test_nothing_left_from_the_previous_test(self):
        with self.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_db_session_fixture(db_session):
    # Plain functions get the same rollback isolation (and factories bound to the session).
    repository = ShopRepository(db_session)
    user = repository.create_user("fixture@example.com", "Fixture")
    UserFactory()
    assert repository.orders_for(user) == []
    assert count(db_session, User) == 2
