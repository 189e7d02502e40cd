import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session

from harness import DataCleanupError, TestDataManager, UnsafeTargetError
from harness.config import set_cli_options
from harness.errors import ConfigError
from tests.data.conftest import count
from tests.models import Base, Item, Order, Shelf, Slot, User


def test_create_commits_tracks_in_order_and_cleanup_deletes_children_first(engine):
    data = TestDataManager(engine)
    user = data.create(User, name="ada")
    order = data.create(Order, user_id=user.id, total=5)
    item = data.create(Item, order_id=order.id, sku="X1")
    assert data.created == [user, order, item]
    assert (count(engine, "users"), count(engine, "orders"), count(engine, "items")) == (1, 1, 1)
    # Parents were created first; deleting in that order would violate the foreign keys.
    assert data.cleanup() == 3
    assert (count(engine, "users"), count(engine, "orders"), count(engine, "items")) == (0, 0, 0)


def test_cleanup_is_idempotent(engine):
    data = TestDataManager(engine)
    data.create(User, name="ada")
    assert data.cleanup() == 1
    assert data.cleanup() == 0
    assert data.created == []


def test_rows_already_deleted_are_tolerated(engine):
    data = TestDataManager(engine)
    gone = data.create(User, name="gone")
    data.create(User, name="kept")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone.id})
    assert data.cleanup() == 1
    assert count(engine, "users") == 0


def test_only_tracked_rows_are_deleted(engine):
    with engine.begin() as connection:
        connection.execute(insert(User.__table__), [{"name": "someone else's"}])
    data = TestDataManager(engine)
    data.create(User, name="mine")
    assert data.cleanup() == 1
    assert count(engine, "users") == 1


def test_composite_keys_batched(engine):
    data = TestDataManager(engine)
    with engine.begin() as connection:
        connection.execute(insert(Shelf.__table__), [{"aisle": a, "position": p} for a in range(3) for p in range(900)])
    for aisle in range(3):
        for position in range(900):
            data.track_row(Shelf, (aisle, position))
    data.create(Slot, aisle=1, position=5)
    assert data.cleanup() == 2701
    assert count(engine, "shelves") == 0 and count(engine, "slots") == 0


def test_track_row_accepts_dict_and_table(engine):
    data = TestDataManager(engine)
    pk = data.create(Shelf.__table__, aisle=7, position=1)
    assert pk == (7, 1)
    with engine.begin() as connection:
        connection.execute(insert(Shelf.__table__), [{"aisle": 8, "position": 2}])
    data.track_row(Shelf.__table__, {"aisle": 8, "position": 2})
    assert data.cleanup() == 2


def test_track_row_with_wrong_key_shape_says_what_the_key_is():
    data = TestDataManager(create_engine("sqlite://"))
    with pytest.raises(ConfigError) as excinfo:
        data.track_row(Shelf, 3)
    assert str(excinfo.value) == (
        "track_row('shelves', 3): the primary key has 2 column(s) (aisle, position), got 1 value(s)."
    )


def test_watch_tracks_every_insert_flushed_through_a_session(engine):
    data = TestDataManager(engine)
    with Session(engine) as session:
        data.watch(session)
        user = User(name="watched")
        session.add(user)
        session.flush()
        session.add(Order(user_id=user.id, total=1))
        session.commit()
    assert len(data.created) == 2
    assert data.cleanup() == 2
    assert count(engine, "users") == 0


def test_bound_to_a_session_creates_through_it_and_cleanup_commits(engine):
    with Session(engine) as session:
        data = TestDataManager(session)
        user = data.create(User, name="in-session")
        assert session.get(User, user.id) is user
        session.commit()
        assert count(engine, "users") == 1
        assert data.cleanup() == 1
    assert count(engine, "users") == 0


def test_context_manager_cleans_up(engine):
    with TestDataManager(engine) as data:
        data.create(User, name="temporary")
        assert count(engine, "users") == 1
    assert count(engine, "users") == 0


def test_untracked_child_blocks_cleanup_with_a_clear_error_and_nothing_is_deleted(engine):
    data = TestDataManager(engine)
    user = data.create(User, name="parent")
    other = data.create(User, name="other")
    with engine.begin() as connection:
        connection.execute(insert(Order.__table__), [{"user_id": user.id, "total": 1}])
    with pytest.raises(DataCleanupError) as excinfo:
        data.cleanup()
    message = str(excinfo.value)
    assert message.startswith("Could not delete tracked rows from 'users'")
    assert "track those too" in message and "Nothing was deleted" in message
    assert count(engine, "users") == 2  # the transaction was rolled back: 'other' is still there
    assert other in data.created  # and the rows are still tracked for a retry
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM orders"))
    assert data.cleanup() == 2


def test_cleanup_refuses_a_database_that_does_not_look_like_a_test_database():
    # It cannot even connect, so it cannot tell where the target is: refused before any SQL.
    engine = create_engine("postgresql+psycopg://app:s3cret@db.prod.example:5432/app")
    data = TestDataManager(engine)
    data.track_row(User, 1)
    with pytest.raises(UnsafeTargetError) as excinfo:
        data.cleanup()
    message = str(excinfo.value)
    assert message.startswith("Refusing to clean up database 'app' on db.prod.example:5432")
    assert "Nothing was deleted" in message and "HARNESS_ALLOW_CLEANUP=app" in message
    assert "s3cret" not in message
    assert data.created, "the rows stay tracked"


def test_allowed_names_match_the_database_alone_or_with_its_host():
    from harness.data.safety import is_allowed

    url = create_engine("postgresql+psycopg://app@db.qa.example:5432/qa_db").url
    assert not is_allowed(url, [])
    assert not is_allowed(url, ["other_db", "db.qa.example/other_db"])
    assert is_allowed(url, ["qa_db"])
    assert is_allowed(url, ["db.qa.example/qa_db"])
    assert is_allowed(url, ["db.qa.example:5432/qa_db"])


def test_allow_cleanup_setting_is_honoured(monkeypatch):
    monkeypatch.setenv("HARNESS_ALLOW_CLEANUP", "app")
    set_cli_options({})  # forget the cached run config so the variable is read
    try:
        engine = create_engine("postgresql+psycopg://app@db.prod.example:1/app")
        data = TestDataManager(engine)
        data.track_row(User, 1)
        with pytest.raises(DataCleanupError):  # allowed: it tries, and the host does not resolve
            data.cleanup()
    finally:
        monkeypatch.delenv("HARNESS_ALLOW_CLEANUP")
        set_cli_options({})


def test_create_on_a_table_without_a_primary_key_is_refused_before_inserting(engine):
    from sqlalchemy import Column, MetaData, String, Table

    log = Table("audit_log", MetaData(), Column("message", String(50)))
    log.create(engine)
    try:
        with pytest.raises(ConfigError) as excinfo:
            TestDataManager(engine).create(log, message="hello")
        assert str(excinfo.value) == (
            "create('audit_log', ...): table 'audit_log' has no primary key, so harness could not find the row "
            "again to delete it. Nothing was inserted. Give the table a primary key, or insert the row yourself "
            "(session.execute(table.insert().values(...))) and let isolation = 'transaction' or 'truncate' "
            "remove it."
        )
        assert count(engine, "audit_log") == 0
    finally:
        log.drop(engine)


def test_wrong_target_type_is_refused():
    with pytest.raises(ConfigError) as excinfo:
        TestDataManager(42)  # type: ignore[arg-type]
    assert str(excinfo.value) == "TestDataManager needs an Engine, Connection, Session or database URL, got int."


def test_never_flushed_instances_are_skipped(engine):
    data = TestDataManager(engine)
    data.track(User(name="never saved"))
    assert data.cleanup() == 0


def test_deletion_order_puts_children_before_parents(engine):
    order = [t.name for t in TestDataManager(engine)._ordered(Base.metadata.sorted_tables)]
    assert order.index("items") < order.index("orders") < order.index("users")
    assert order.index("slots") < order.index("shelves")


# -- made from a database URL, as the guides write it ------------------------------------------------


def _libpq_url(pg_database, **query):
    """The database's URL as an application reads it (``postgresql://``, no driver named), as guides pass it."""
    from urllib.parse import urlencode

    from harness.services.postgres import database_url

    url = database_url(pg_database.endpoint, pg_database.name)
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}" if query else str(url)


def _connections(engine, application_name, *, expected=None):
    """How many server connections carry ``application_name``; with ``expected``, waits (up to 10 s) for that count:
    a backend leaves pg_stat_activity a moment after its client closed the socket."""
    import time

    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"), {"name": application_name}
            ).scalar_one()
        if expected is None or found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def test_a_database_url_string_creates_tracks_and_cleans_up(engine, pg_database):
    url = _libpq_url(pg_database)
    assert url.startswith("postgresql://")  # no driver named: SQLAlchemy 2.0 would pick psycopg2
    manager = TestDataManager(url)
    user = manager.create(User, name="ada")
    manager.create(Order, user_id=user.id, total=3)
    assert (count(engine, "users"), count(engine, "orders")) == (1, 1)
    assert manager.cleanup() == 2
    assert (count(engine, "users"), count(engine, "orders")) == (0, 0)


def test_a_sqlalchemy_url_object_works_too(engine, pg_database):
    from sqlalchemy import make_url

    with TestDataManager(make_url(_libpq_url(pg_database))) as manager:
        manager.create(User, name="ada")
        assert count(engine, "users") == 1
    assert count(engine, "users") == 0


@pytest.mark.parametrize("ending", ["cleanup", "close", "with", "failed cleanup"])
def test_the_engine_made_from_a_url_closes_its_connections(engine, pg_database, ending):
    name = f"harness-manager-{ending.replace(' ', '-')}"
    manager = TestDataManager(_libpq_url(pg_database, application_name=name))
    with manager:
        user = manager.create(User, name="ada")
        assert _connections(engine, name) == 1
        if ending == "failed cleanup":
            with engine.begin() as connection:
                connection.execute(insert(Order.__table__), [{"user_id": user.id, "total": 1}])  # untracked child
            with pytest.raises(DataCleanupError):
                manager.cleanup()
            assert _connections(engine, name, expected=0) == 0
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM orders"))
        elif ending != "with":
            getattr(manager, ending)()
            assert _connections(engine, name, expected=0) == 0
            manager.create(User, name="again")  # still usable: it connects again
    assert _connections(engine, name, expected=0) == 0
    assert count(engine, "users") == 0


def test_a_subclass_with_the_guides_own_helpers_works(engine, pg_database):
    class GuideDataManager(TestDataManager):
        def __init__(self, database_url):
            super().__init__(database_url)
            self.users_made = 0
            self.closed = False

        def create_test_user(self, **values):
            self.users_made += 1
            return self.create(User, **{"name": f"user {self.users_made}", **values})

        def close(self):  # the guide's own, for its own session: cleanup() must not call it
            self.closed = True

    manager = GuideDataManager(_libpq_url(pg_database, application_name="harness-manager-subclass"))
    assert manager.create_test_user().name == "user 1"
    assert manager.create_test_user(name="bob").name == "bob"
    assert count(engine, "users") == 2
    assert manager.cleanup() == 2
    assert count(engine, "users") == 0
    assert not manager.closed and _connections(engine, "harness-manager-subclass", expected=0) == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://app:s3cret-pw@db:notaport/app",
         "TestDataManager('postgresql://app:***@db:notaport/app') is not a database URL SQLAlchemy can use "
         "(invalid literal for int() with base 10: 'notaport'). Give one like "
         "postgresql://user:password@host:5432/dbname, or an Engine, Connection or Session."),
        ("postgres-ql://app:s3cret-pw@db/app",
         "TestDataManager('postgres-ql://app:***@db/app') is not a database URL SQLAlchemy can use "
         "(Could not parse SQLAlchemy URL from given URL string). Give one like "
         "postgresql://user:password@host:5432/dbname, or an Engine, Connection or Session."),
        ("nosuchdb://app:s3cret-pw@db/app",
         "TestDataManager('nosuchdb://app:***@db/app') is not a database URL SQLAlchemy can use "
         "(Can't load plugin: sqlalchemy.dialects:nosuchdb). Give one like "
         "postgresql://user:password@host:5432/dbname, or an Engine, Connection or Session."),
        ("mysql+nosuchdriver://app:s3cret-pw@db/app",
         "TestDataManager('mysql+nosuchdriver://app:***@db/app') is not a database URL SQLAlchemy can use "
         "(Can't load plugin: sqlalchemy.dialects:mysql.nosuchdriver). Give one like "
         "postgresql://user:password@host:5432/dbname, or an Engine, Connection or Session."),
    ],
)
def test_a_url_it_cannot_use_is_a_config_error_without_the_password(url, message):
    with pytest.raises(ConfigError) as excinfo:
        TestDataManager(url)
    assert str(excinfo.value) == message


def test_a_url_whose_driver_is_missing_says_so_without_the_password():
    with pytest.raises(ConfigError) as excinfo:
        TestDataManager("mysql+mysqldb://app:s3cret-pw@db/app")
    assert str(excinfo.value) == (
        "TestDataManager('mysql+mysqldb://app:***@db/app'): the database driver the URL names is not installed "
        "(No module named 'MySQLdb'). Install it, or name one you have in the URL (postgresql+psycopg://...)."
    )
