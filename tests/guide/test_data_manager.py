"""The guide's TestDataManager(database_url) beside a DatabaseTestBase."""

from guide_app.models import Order, User
from sqlalchemy import create_engine, func, select

from harness import DatabaseTestBase, TestDataManager


class TestWithDataManager(DatabaseTestBase):
    def setup_method(self):
        self.data_manager = TestDataManager(self.database_url)

    def teardown_method(self):
        self.data_manager.cleanup()

    def test_create_user_and_order(self):
        user = self.data_manager.create(User, email="linus@example.com", name="Linus")
        self.data_manager.create(Order, user_id=user.id, total=10)
        # committed for real: another connection sees the rows
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                assert connection.scalar(select(func.count()).select_from(User)) == 1
                assert connection.scalar(select(func.count()).select_from(Order)) == 1
        finally:
            engine.dispose()

    def test_created_rows_were_removed(self):
        user = self.data_manager.create(User, email="linus@example.com", name="Linus")
        assert [type(row) for row in self.data_manager.created] == [User]
        assert user.id is not None
