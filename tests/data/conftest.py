import pytest
from sqlalchemy import text

from harness.data import schema
from harness.registry import registry
from tests.models import Base


@pytest.fixture(scope="session")
def pg_database():
    endpoint = registry.acquire("postgres")
    return schema.shared_database(endpoint, metadata=Base.metadata)


@pytest.fixture()
def engine(pg_database):
    """An engine on a harness database with the test models; tables emptied before each test."""
    with pg_database.engine.begin() as connection:
        connection.execute(text("TRUNCATE users, orders, items, shelves, slots RESTART IDENTITY CASCADE"))
    return pg_database.engine


def count(engine, table):
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
