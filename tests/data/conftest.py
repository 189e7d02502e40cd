import pytest
from sqlalchemy import text

from harness.data import schema
from harness.registry import registry
from tests.models import Base


@pytest.fixture(scope="session")
def pg_database():
    endpoint = registry.acquire("postgres")
    return schema.shared_database(endpoint, metadata=Base.metadata)


def _empty(database):
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE users, orders, items, shelves, slots RESTART IDENTITY CASCADE"))


@pytest.fixture()
def engine(pg_database):
    """An engine on a harness database with the test models; tables emptied before and after each test.

    After: the database is shared with the test classes using these models, which must find it as built.
    """
    _empty(pg_database)
    yield pg_database.engine
    _empty(pg_database)


def count(engine, table):
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
