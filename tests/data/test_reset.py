"""TruncateReset and ChangeCaptureReset on a real PostgreSQL, against writes an "app" commits on its own connections.

The app is a separate engine: nothing it writes can be rolled back by the test, so
after reset() the tables must hold exactly the seeded rows again, and the next
insert must get the id it would have got right after seeding.
"""

import secrets

import pytest
from sqlalchemy import (
    Column,
    Computed,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.pool import NullPool

from harness.data import schema
from harness.data.reset import CAPTURE_SCHEMA, ChangeCaptureReset, TruncateReset
from harness.errors import ConfigError, DataCleanupError, UsageError
from harness.registry import registry

metadata = MetaData()
parents = Table(
    "reset_parents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("price", Numeric(10, 2)),
    Column("created", DateTime(timezone=True)),
)
children = Table(
    "reset_children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", ForeignKey("reset_parents.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("note", String(40)),
)
PARENTS, CHILDREN = 200, 800  # 1,000 seeded rows, four children a parent


def seed(connection):
    connection.execute(
        text(
            "INSERT INTO reset_parents (name, price, created) SELECT 'parent ' || g, g * 1.25, "
            "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute 0.123456 second' "
            "FROM generate_series(1, :n) g"
        ),
        {"n": PARENTS},
    )
    connection.execute(
        text(
            "INSERT INTO reset_children (parent_id, note) SELECT (g - 1) % :p + 1, 'child ' || g "
            "FROM generate_series(1, :n) g"
        ),
        {"p": PARENTS, "n": CHILDREN},
    )


def snapshot(engine):
    with engine.connect() as connection:
        return {
            table.name: connection.execute(table.select().order_by(table.c.id)).all() for table in (parents, children)
        }


@pytest.fixture(scope="module")
def database():
    return schema.shared_database(registry.acquire("postgres"), metadata=metadata)


@pytest.fixture(scope="module")
def app(database):
    """The application under test's own engine: every write commits on its own connection."""
    engine = create_engine(database.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def fresh_seed(engine):
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE reset_parents, reset_children RESTART IDENTITY CASCADE"))
        seed(connection)
    return snapshot(engine)


def make(kind, engine):
    return TruncateReset(engine, metadata, seed=seed) if kind == "truncate" else ChangeCaptureReset(engine, metadata)


@pytest.fixture(params=["truncate", "capture"])
def seeded(request, database):
    """(strategy installed after a fresh seed, the seeded snapshot); removed afterwards."""
    seeded_rows = fresh_seed(database.engine)
    strategy = make(request.param, database.engine).install()
    yield strategy, seeded_rows
    strategy.remove()


def next_ids(app):
    """What the app's next parent and child inserts get (the rows themselves are left for reset() to remove)."""
    with app.begin() as connection:
        parent = connection.execute(text("INSERT INTO reset_parents (name) VALUES ('probe') RETURNING id")).scalar()
        child = connection.execute(
            text("INSERT INTO reset_children (parent_id) VALUES (:p) RETURNING id"), {"p": parent}
        ).scalar()
    return parent, child


def test_reset_undoes_inserts_updates_deletes_and_cascades_the_app_committed(seeded, database, app):
    strategy, seeded_rows = seeded
    with app.begin() as connection:
        new = connection.execute(
            text("INSERT INTO reset_parents (name, price) VALUES ('new order', 9.99) RETURNING id")
        ).scalar()
        connection.execute(
            text("INSERT INTO reset_children (parent_id, note) VALUES (:p, 'line 1'), (:p, 'line 2')"), {"p": new}
        )
        connection.execute(text("UPDATE reset_parents SET price = 1, name = 'renamed' WHERE id = 7"))
        connection.execute(text("UPDATE reset_parents SET price = 2 WHERE id = 7"))  # the same row twice
        connection.execute(text("UPDATE reset_children SET parent_id = :p WHERE id = 8"), {"p": new})
        connection.execute(text("DELETE FROM reset_children WHERE id IN (11, 12)"))
        connection.execute(text("DELETE FROM reset_parents WHERE id = 3"))  # its four children go by cascade
        gone = connection.execute(text("INSERT INTO reset_parents (name) VALUES ('brief') RETURNING id")).scalar()
    with app.begin() as connection:
        connection.execute(text("DELETE FROM reset_parents WHERE id = :id"), {"id": gone})  # inserted, then deleted
        connection.execute(text("UPDATE reset_children SET id = 5000 WHERE id = 150"))  # its key changes
    assert snapshot(database.engine) != seeded_rows

    undone = strategy.reset()

    assert snapshot(database.engine) == seeded_rows
    assert next_ids(app) == (PARENTS + 1, CHILDREN + 1)  # sequences as right after seeding
    if isinstance(strategy, ChangeCaptureReset):
        # 3 inserts, 4 updates, 2 deletes + 1 delete cascading to 4, 1 insert then deleted, 1 key update
        assert undone == 3 + 3 + 2 + 5 + 2 + 1
    else:
        assert undone == 2


def test_a_table_the_app_emptied_entirely_comes_back(seeded, database, app):
    strategy, seeded_rows = seeded
    with app.begin() as connection:
        connection.execute(text("DELETE FROM reset_children"))
        connection.execute(text("DELETE FROM reset_parents WHERE id > 100"))
    strategy.reset()
    assert snapshot(database.engine) == seeded_rows


def test_change_capture_undoes_a_truncate_by_the_app(database, app):
    seeded_rows = fresh_seed(database.engine)
    with ChangeCaptureReset(database.engine, metadata) as strategy:
        with app.begin() as connection:
            connection.execute(text("TRUNCATE reset_parents, reset_children RESTART IDENTITY"))
            connection.execute(text("INSERT INTO reset_parents (name) VALUES ('after truncate')"))
        assert strategy.reset() == PARENTS + CHILDREN + 1
        assert snapshot(database.engine) == seeded_rows
        assert next_ids(app) == (PARENTS + 1, CHILDREN + 1)


def test_nothing_changed(seeded, database):
    strategy, seeded_rows = seeded
    assert strategy.reset() == (0 if isinstance(strategy, ChangeCaptureReset) else 2)
    assert snapshot(database.engine) == seeded_rows


def test_change_capture_resets_a_sequence_an_app_moved_without_a_row(database, app):
    seeded_rows = fresh_seed(database.engine)
    with ChangeCaptureReset(database.engine, metadata) as strategy:
        with app.begin() as connection:
            connection.execute(text("SELECT nextval(pg_get_serial_sequence('reset_parents', 'id'))"))
        assert strategy.reset() == 0  # no row changed, but the sequence is put back
        assert snapshot(database.engine) == seeded_rows
        assert next_ids(app) == (PARENTS + 1, CHILDREN + 1)


def captured_objects(engine):
    """(triggers, functions, schemas, log tables) ChangeCaptureReset puts in a database, counted."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'harness_capture%'), "
                "(SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :schema), "
                "(SELECT count(*) FROM pg_namespace WHERE nspname = :schema), "
                "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema)"
            ),
            {"schema": CAPTURE_SCHEMA},
        ).one()


@pytest.mark.parametrize("kind", ["truncate", "capture"])
def test_install_twice_is_harmless_and_remove_leaves_nothing_behind(kind, database, app, request):
    seeded_rows = fresh_seed(database.engine)
    strategy = make(kind, database.engine)
    request.addfinalizer(strategy.remove)  # also when an assertion below fails: remove() is safe twice
    strategy.install()
    strategy.install()
    if kind == "capture":
        # two triggers a table (rows, truncate); two functions a table and undo(), replay(); log, its key, its sequence
        assert tuple(captured_objects(database.engine)) == (4, 4, 1, 3)
    with app.begin() as connection:
        connection.execute(text("UPDATE reset_parents SET name = 'once' WHERE id = 1"))
    assert strategy.reset() == (1 if kind == "capture" else 2)  # recorded once, not once per install()
    assert snapshot(database.engine) == seeded_rows
    strategy.remove()
    strategy.remove()
    assert tuple(captured_objects(database.engine)) == (0, 0, 0, 0)
    with app.begin() as connection:  # no trigger left to fire
        connection.execute(text("UPDATE reset_parents SET name = 'after remove' WHERE id = 1"))
    fresh_seed(database.engine)


def test_reset_before_install_says_to_install_first(database):
    with pytest.raises(UsageError) as excinfo:
        ChangeCaptureReset(database.engine, metadata).reset()
    assert str(excinfo.value) == (
        "ChangeCaptureReset.reset() before install() (or after remove()): nothing recorded the app's writes. "
        "Call install() once the schema exists and the seed is loaded (at class setup)."
    )


def test_a_table_without_a_primary_key_is_refused_at_install(database):
    keyless = MetaData()
    Table("audit_entries", keyless, Column("message", String(80)))
    with pytest.raises(ConfigError) as excinfo:
        ChangeCaptureReset(database.engine, keyless).install()
    assert str(excinfo.value) == (
        "ChangeCaptureReset: table 'audit_entries' has no primary key, so the rows the app changes in it could "
        "not be found again to undo. Nothing was installed. Give the table a primary key, or use TruncateReset."
    )
    assert tuple(captured_objects(database.engine)) == (0, 0, 0, 0)


def test_a_role_that_may_not_disable_triggers_is_refused_at_install(database):
    role, password = f"harness_reset_{secrets.token_hex(4)}", secrets.token_hex(16)  # roles are server-wide
    with database.engine.begin() as connection:
        connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
    plain = create_engine(database.engine.url.set(username=role, password=password), poolclass=NullPool)
    try:
        with pytest.raises(ConfigError) as excinfo:
            ChangeCaptureReset(plain, metadata).install()
    finally:
        plain.dispose()
        with database.engine.begin() as connection:
            connection.execute(text(f"DROP ROLE {role}"))
    message = str(excinfo.value)
    assert message.startswith(
        f"ChangeCaptureReset cannot undo writes in database {database.name!r} on 127.0.0.1:"
    ), message
    assert f"role {role!r} may not set session_replication_role (permission denied" in message
    assert message.endswith(
        f"Nothing was installed. Connect as a superuser, GRANT SET ON PARAMETER session_replication_role TO "
        f"{role} (PostgreSQL 15+), or use TruncateReset."
    )
    assert password not in message
    assert tuple(captured_objects(database.engine)) == (0, 0, 0, 0)


@pytest.fixture(scope="class", params=["truncate", "capture"])
def class_strategy(request, database):
    """A strategy installed once for a whole class, as a test base would at class setup."""
    fresh_seed(database.engine)
    strategy = make(request.param, database.engine).install()
    yield strategy
    strategy.remove()


@pytest.fixture()
def isolated(class_strategy):
    yield
    class_strategy.reset()


@pytest.mark.usefixtures("isolated")
class TestTwoTestsDoNotSeeEachOthersRows:
    """Both write the same unique name and expect to be alone: whichever runs second fails if reset() broke."""

    def check_alone_then_write(self, database, app):
        with app.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM reset_parents")).scalar() == PARENTS
            assert connection.execute(text("SELECT count(*) FROM reset_children")).scalar() == CHILDREN
            new = connection.execute(text("INSERT INTO reset_parents (name) VALUES ('mine') RETURNING id")).scalar()
            connection.execute(text("DELETE FROM reset_children WHERE parent_id = 1"))
        assert new == PARENTS + 1

    def test_first(self, database, app):
        self.check_alone_then_write(database, app)

    def test_second(self, database, app):
        self.check_alone_then_write(database, app)


odd = MetaData()
shelves = Table(
    "reset_shelves",
    odd,
    Column("aisle", Integer, primary_key=True),
    Column("Shelf's place", Integer, primary_key=True),  # a key whose name needs quoting, in SQL and in JSON
    Column("label", String(20)),
    Column("ticket_id", Integer, ForeignKey("reset_tickets.id", use_alter=True)),  # a foreign-key cycle
)
tickets = Table(
    "reset_tickets",
    odd,
    Column("id", Integer, Identity(always=True), primary_key=True),
    Column("total", Numeric(10, 2)),
    Column("doubled", Numeric(10, 2), Computed("total * 2", persisted=True)),  # generated: never inserted
    Column("shelf_aisle", Integer),
    Column("shelf_place", Integer),
    ForeignKeyConstraint(["shelf_aisle", "shelf_place"], ["reset_shelves.aisle", "reset_shelves.Shelf's place"]),
)


def test_change_capture_handles_composite_and_quoted_keys_identity_always_generated_columns_and_fk_cycles(app):
    odd_database = schema.shared_database(registry.acquire("postgres"), metadata=odd)
    odd_app = create_engine(odd_database.url, poolclass=NullPool)
    with odd_database.engine.begin() as connection:
        connection.execute(
            text('INSERT INTO reset_shelves (aisle, "Shelf\'s place", label) SELECT g % 5, g, \'s\' || g '
                 "FROM generate_series(1, 20) g")
        )
        connection.execute(
            text("INSERT INTO reset_tickets (total, shelf_aisle, shelf_place) SELECT g, "
                 "CASE WHEN g <= 10 THEN g % 5 END, CASE WHEN g <= 10 THEN g END FROM generate_series(1, 20) g")
        )
        connection.execute(text("UPDATE reset_shelves SET ticket_id = \"Shelf's place\""))

    def contents():
        with odd_database.engine.connect() as connection:
            return [
                connection.execute(text(f"SELECT * FROM {name} ORDER BY 1, 2")).all()
                for name in ("reset_shelves", "reset_tickets")
            ]

    seeded_rows = contents()
    try:
        with ChangeCaptureReset(odd_database.engine, odd) as strategy, odd_app.connect() as connection:
            connection.execute(text("UPDATE reset_shelves SET \"Shelf's place\" = 99, label = 'moved' "
                                    "WHERE aisle = 3 AND \"Shelf's place\" = 13"))  # a key changes
            connection.execute(text("UPDATE reset_shelves SET ticket_id = NULL WHERE aisle = 4"))  # 4 rows
            connection.execute(text("DELETE FROM reset_tickets WHERE id = 4"))  # it references shelf (4, 4)
            connection.execute(text("DELETE FROM reset_shelves WHERE aisle = 4 AND \"Shelf's place\" = 4"))
            connection.execute(text("UPDATE reset_tickets SET total = total + 1"))
            connection.execute(text("INSERT INTO reset_tickets (total) VALUES (7)"))
            connection.commit()
            assert strategy.reset() == 1 + 4 + 1 + 1 + 19 + 1
            assert contents() == seeded_rows
            added = connection.execute(text("INSERT INTO reset_tickets (total) VALUES (8) RETURNING id")).scalar()
            connection.commit()
            assert added == 21
            strategy.reset()
            assert contents() == seeded_rows
    finally:
        odd_app.dispose()


def test_a_table_missing_from_the_database_is_named(database):
    missing = MetaData()
    Table("reset_missing", missing, Column("id", Integer, primary_key=True))
    with pytest.raises(ConfigError) as excinfo:
        ChangeCaptureReset(database.engine, missing).install()
    assert str(excinfo.value) == (
        f"ChangeCaptureReset: table 'reset_missing' of the metadata is not in database {database.name!r}. "
        "Nothing was installed. Create the schema and load the seed before install()."
    )
    with pytest.raises(DataCleanupError) as excinfo:
        TruncateReset(database.engine, missing).reset()
    assert str(excinfo.value) == (
        f"TruncateReset could not empty reset_missing in database {database.name!r}: relation \"reset_missing\" "
        "does not exist. Nothing was changed. Check that the metadata's tables exist. If it waited for a lock "
        "(30s), a connection (the app's, the test's) is still inside a transaction on these tables: end it "
        "before reset()."
    )


def test_a_failed_undo_changes_nothing_and_keeps_the_log_for_another_try(database, app):
    seeded_rows = fresh_seed(database.engine)
    with ChangeCaptureReset(database.engine, metadata) as strategy:
        with app.begin() as connection:
            connection.execute(text("DELETE FROM reset_children WHERE id = 1"))
            connection.execute(text("ALTER TABLE reset_children RENAME COLUMN note TO remark"))
        try:
            with pytest.raises(DataCleanupError) as excinfo:
                strategy.reset()
            changed = count_children(database.engine)
        finally:
            with app.begin() as connection:
                connection.execute(text("ALTER TABLE reset_children RENAME COLUMN remark TO note"))
        message = str(excinfo.value)
        assert message.startswith(
            f"ChangeCaptureReset could not undo the test's writes in database {database.name!r}: column "
        ), message
        assert message.endswith(
            "Nothing was changed. The log is kept. If the schema changed since install(), call remove() and "
            "install(). If it waited for a lock (30s), a connection (the app's, the test's) is still inside a "
            "transaction on these tables: end it before reset()."
        ), message
        assert changed == CHILDREN - 1  # the undo rolled back whole
        assert strategy.reset() == 1
        assert snapshot(database.engine) == seeded_rows


def count_children(engine):
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM reset_children")).scalar()
