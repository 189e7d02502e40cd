"""ClassTransaction: an Engine whose every connection runs inside one transaction, on PostgreSQL and SQLite."""

import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from harness import UsageError
from harness.data import schema
from harness.data.class_transaction import ClassTransaction
from harness.registry import registry
from tests.models import Base, User


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request):
    if request.param == "sqlite":
        database = schema.sqlite_database(Base.metadata)
        yield database
        database.dispose()
    else:
        yield schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)


@pytest.fixture()
def shared(database):
    """A class transaction on ``database``, rolled back after the test; nothing reaches the database."""
    connection = database.engine.connect()
    transaction = ClassTransaction(connection, owner="TestCase")
    yield transaction
    transaction.close()
    connection.close()
    with database.engine.connect() as other:
        assert other.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def names(transaction):
    """The user names the class connection sees."""
    return sorted(transaction.connection.execute(select(User.name)).scalars())


def test_a_sessionmaker_commit_is_seen_by_later_code_and_undone_with_the_test(shared):
    make_session = sessionmaker(bind=shared.engine)
    test = shared.savepoint()
    with make_session() as session:
        session.add(User(name="ada"))
        session.commit()
    with make_session() as later:
        assert later.scalar(select(func.count()).select_from(User)) == 1
    shared.rollback_to(test, release=False)
    assert names(shared) == []


def test_rollback_undoes_only_its_own_unit_of_work(shared):
    with Session(shared.engine) as session:
        session.add(User(name="kept"))
        session.commit()
        session.add(User(name="dropped"))
        session.flush()
        session.rollback()
    assert names(shared) == ["kept"]


def test_units_ended_out_of_order_keep_the_transaction_usable(shared):
    first, second = Session(shared.engine), Session(shared.engine)
    first.add(User(name="first"))
    first.flush()
    second.add(User(name="second"))
    second.flush()
    first.commit()  # under second's savepoint: released once second ends
    second.rollback()
    third = Session(shared.engine)
    third.add(User(name="third"))
    third.commit()
    assert names(shared) == ["first", "third"]
    for session in (first, second, third):
        session.close()


def test_connections_begin_blocks_raw_dbapi_and_nested_savepoints(shared):
    with shared.engine.begin() as connection:
        connection.execute(insert(User).values(name="begin-block"))
    with shared.engine.connect() as connection:
        connection.execute(insert(User).values(name="committed"))
        connection.commit()
        connection.execute(insert(User).values(name="rolled back"))
        connection.rollback()
        with connection.begin_nested():
            connection.execute(insert(User).values(name="nested"))
        nested = connection.begin_nested()
        connection.execute(insert(User).values(name="nested, rolled back"))
        nested.rollback()
        connection.commit()
    raw = shared.engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("INSERT INTO users (name) VALUES ('raw')")
    raw.commit()
    raw.close()
    assert names(shared) == ["begin-block", "committed", "nested", "raw"]


def test_a_failed_statement_is_rolled_back_with_its_unit_alone(shared):
    with Session(shared.engine) as session:
        session.add(User(name="unique"))
        session.commit()
    with Session(shared.engine) as session:
        session.add(User(name="unique"))
        with pytest.raises(Exception, match="(?i)unique"):
            session.commit()
        session.rollback()
    assert names(shared) == ["unique"]


def test_it_is_a_real_engine_that_dispose_does_not_end(shared):
    assert isinstance(shared.engine, Engine)
    assert inspect(shared.engine).has_table("users")
    with Session(shared.engine) as session:
        session.add(User(name="before dispose"))
        session.commit()
    shared.engine.dispose()
    with Session(shared.engine) as session:
        session.add(User(name="after dispose"))
        session.commit()
    assert names(shared) == ["after dispose", "before dispose"]


def test_a_unit_left_open_by_a_test_begins_again_in_the_next(shared):
    held = shared.engine.connect()  # e.g. a connection a class keeps across its tests
    first_test = shared.savepoint()
    held.execute(insert(User).values(name="in the first test"))
    shared.rollback_to(first_test, release=False)
    second_test = shared.savepoint()
    held.execute(insert(User).values(name="in the second test"))
    held.commit()
    assert names(shared) == ["in the second test"]
    shared.rollback_to(second_test, release=False)
    held.close()
    assert names(shared) == []


def test_the_engine_refuses_use_after_the_class(database):
    connection = database.engine.connect()
    transaction = ClassTransaction(connection, owner="TestUsers")
    kept = sessionmaker(bind=transaction.engine)
    transaction.close()
    transaction.close()  # safe twice
    connection.close()
    with pytest.raises(UsageError) as excinfo, kept() as session:
        session.execute(select(1))
    assert str(excinfo.value).startswith(
        "This engine ran inside the class transaction of TestUsers, which has ended with the class. Use the engine "
        "of the class that is running (cls.engine)"
    )
