import re

import factory
import pytest
from sqlalchemy import func, select

from harness import DatabaseTestBase, HarnessError
from harness.factories import SQLAlchemyFactory
from tests.helpers import run_pytest, write
from tests.models import Base, Order, User


class UserFactory(SQLAlchemyFactory):
    class Meta:
        model = User

    name = factory.Faker("user_name")


class OrderFactory(SQLAlchemyFactory):
    class Meta:
        model = Order

    user = factory.SubFactory(UserFactory)
    total = factory.Faker("pyint", min_value=1, max_value=500)


class TestFactoriesInATest(DatabaseTestBase):
    metadata = Base.metadata

    def test_rows_go_into_this_tests_session_and_are_tracked(self):
        order = OrderFactory()
        assert order.id is not None and order.user.id is not None  # flushed
        assert self.session.get(Order, order.id) is order
        assert self.data.created == [order.user, order]

    def test_and_are_rolled_back_after_it(self):
        assert self.session.scalar(select(func.count()).select_from(User)) == 0
        assert self.session.scalar(select(func.count()).select_from(Order)) == 0


def test_factory_outside_a_test_says_what_to_do():
    with pytest.raises(HarnessError, match="No harness test is running"):
        UserFactory()


def test_factory_does_not_write_per_call_state_on_the_class():
    assert UserFactory._meta.sqlalchemy_session is None


SEEDED = '''
import factory
from harness import DatabaseTestBase
from harness.factories import SQLAlchemyFactory
from models import Base, User


class UserFactory(SQLAlchemyFactory):
    class Meta:
        model = User

    name = factory.Faker("name")


class TestSeeded(DatabaseTestBase):
    metadata = Base.metadata
    database = "sqlite"

    def test_{name}(self):
        user = UserFactory()
        print("NAME=" + user.name)
        assert {fail}
'''


def _names(output):
    return re.findall(r"NAME=(.*)", output)


def test_same_seed_same_data_and_seed_shown_on_failure(models_module):
    write(models_module, "test_a.py", SEEDED.format(name="one", fail="True"))
    write(models_module, "test_b.py", SEEDED.format(name="two", fail="False"))
    first = run_pytest(models_module, "-s", "--harness-seed=1234")
    again = run_pytest(models_module, "-s", "--harness-seed=1234")
    alone = run_pytest(models_module, "-s", "--harness-seed=1234", "test_b.py")
    other = run_pytest(models_module, "-s", "--harness-seed=99")
    assert _names(first.stdout) == _names(again.stdout)
    assert _names(first.stdout)[1] == _names(alone.stdout)[0]  # a test's data does not depend on order
    assert _names(other.stdout) != _names(first.stdout)
    assert "replay with HARNESS_SEED=1234" in first.stdout
    assert "1 failed, 1 passed" in first.stdout
