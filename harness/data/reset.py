"""Putting a PostgreSQL database back to its seeded state after a test whose writes were committed elsewhere.

An application under test runs in another process and commits through its own
connections, so no rollback can undo what it wrote. Two strategies share one
interface (:class:`ResetStrategy`): ``install()`` once the schema and the class's
seed rows are in, ``reset()`` after each test (one transaction), ``remove()`` when
the class ends. :class:`TruncateReset` empties every table and seeds again;
:class:`ChangeCaptureReset` records the rows the test changes and undoes exactly
those, so its cost follows what the test wrote, not the size of the seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from harness.config import get_config
from harness.data.safety import check_cleanup_target
from harness.errors import ConfigError, DataCleanupError, UsageError

__all__ = ["CAPTURE_SCHEMA", "LOCK_TIMEOUT", "ChangeCaptureReset", "ResetStrategy", "TruncateReset"]

CAPTURE_SCHEMA = "harness_capture"
LOCK_TIMEOUT = "30s"  # a reset waiting on a lock held by a transaction left open fails after this, never hangs

# A table's oid, the columns an INSERT may name (not generated ones), and the sequences it owns (serial or
# identity) with their values now: [oid, last value (or start when never used), is_called].
_CATALOG = text(
    "SELECT c.oid::int, ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 "
    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum), "
    "ARRAY(SELECT ARRAY[s.seqrelid::int8, COALESCE(pg_sequence_last_value(s.seqrelid), s.seqstart), "
    "(pg_sequence_last_value(s.seqrelid) IS NOT NULL)::int::int8] FROM pg_depend d JOIN pg_sequence s "
    "ON s.seqrelid = d.objid WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
    "AND d.refobjid = c.oid AND d.deptype IN ('a', 'i')) FROM (SELECT to_regclass(:name) AS oid) c"
)


class ResetStrategy(ABC):
    """Returns a PostgreSQL database to its state at :meth:`install` after each test.

    ``install()`` returns the strategy and is idempotent; ``reset()`` runs in one
    transaction and returns how much it undid; ``remove()`` is safe twice. As a
    context manager it installs and removes. Every reset first checks that the
    database is a test database (:class:`~harness.errors.UnsafeTargetError` if not).
    """

    def __init__(self, engine: Engine, metadata: MetaData, *, allow_unsafe_target: bool = False) -> None:
        if engine.dialect.name != "postgresql":
            raise ConfigError(
                f"{type(self).__name__} works on PostgreSQL only, got a {engine.dialect.name} engine; "
                "for SQLite use isolation = 'transaction'."
            )
        self.engine = engine
        self.tables: list[Table] = list(metadata.tables.values())  # unordered: FK cycles are fine
        self.allow_unsafe_target = allow_unsafe_target
        self._installed = False

    def _connect(self) -> Connection:
        connection = self.engine.connect()
        try:
            allowed = get_config().allow_cleanup
            check_cleanup_target(connection, allowed=allowed, allow_unsafe_target=self.allow_unsafe_target)
        except BaseException:
            connection.close()
            raise
        return connection

    def _failed(self, what: str, exc: DBAPIError, advice: str) -> DataCleanupError:
        return DataCleanupError(
            f"{type(self).__name__} could not {what} in database {self.engine.url.database!r}: {exc.orig}. "
            f"Nothing was changed. {advice} If it waited for a lock ({LOCK_TIMEOUT}), a connection (the app's, "
            "the test's) is still inside a transaction on these tables: end it before reset()."
        )

    @abstractmethod
    def install(self) -> ResetStrategy:
        """Prepare, once the schema exists and the seed rows are in; returns the strategy."""

    @abstractmethod
    def reset(self) -> int:
        """Put the database back to its state at :meth:`install`, in one transaction."""

    @abstractmethod
    def remove(self) -> None:
        """Take away whatever :meth:`install` put in the database; safe twice."""

    def __enter__(self) -> ResetStrategy:
        return self.install()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


class TruncateReset(ResetStrategy):
    """One ``TRUNCATE t1, t2, ... RESTART IDENTITY CASCADE``, then ``seed(connection)``, in one transaction.

    Its cost follows the number of tables and the size of the seed, whatever the
    test wrote. Sequences restart from their start value, so the re-seeded rows
    (and rows inserted after them) get the ids of the first seed only if that seed,
    too, ran on unused sequences (tables just created, or truncated with RESTART IDENTITY)::

        def seed(connection):
            connection.execute(users.insert(), [{"name": "ada"}, {"name": "bob"}])

        strategy = TruncateReset(engine, metadata, seed=seed).install()
        ...  # the app writes and commits
        strategy.reset()  # empty tables, then ada and bob again, ids 1 and 2
    """

    def __init__(
        self, engine: Engine, metadata: MetaData, *, seed: Callable[[Connection], object] | None = None,
        allow_unsafe_target: bool = False,
    ) -> None:
        super().__init__(engine, metadata, allow_unsafe_target=allow_unsafe_target)
        self.seed = seed

    def install(self) -> TruncateReset:
        """Nothing to put in the database; returns the strategy."""
        return self

    def reset(self) -> int:
        """Empty every table and seed again; returns how many tables were emptied."""
        if not self.tables:
            return 0
        with self._connect() as connection:
            names = ", ".join(connection.dialect.identifier_preparer.format_table(table) for table in self.tables)
            try:
                connection.execute(
                    text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; TRUNCATE {names} RESTART IDENTITY CASCADE")
                )
            except DBAPIError as exc:
                raise self._failed(f"empty {names}", exc, "Check that the metadata's tables exist.") from exc
            if self.seed is not None:
                self.seed(connection)
            connection.commit()
        return len(self.tables)

    def remove(self) -> None:
        """Nothing to take away."""


class ChangeCaptureReset(ResetStrategy):
    """Undoes exactly the row changes made since :meth:`install`, as triggers recorded them.

    ``install()`` creates the private schema ``harness_capture``: an UNLOGGED log
    table, a trigger function per table fired ``AFTER INSERT OR UPDATE OR DELETE FOR
    EACH ROW`` (and ``BEFORE TRUNCATE``) on every table of the metadata, and
    ``undo()``. ``reset()`` calls ``undo()`` once: with an empty log and no sequence
    moved, that is all; otherwise, with ``session_replication_role = replica``
    (foreign keys and triggers off, so no order is needed and nothing cascades), it
    deletes the rows at every key the log names, puts back each such row as it was
    before the test first touched it (``jsonb_populate_record``), sets the sequences
    the tables own back to their values at install, and empties the log::

        strategy = ChangeCaptureReset(engine, metadata).install()  # after the seed
        ...  # the app inserts, updates, deletes and commits
        strategy.reset()  # the seeded rows again, and the same ids to come
        strategy.remove()

    Needs every table to have a primary key, and a role that may set
    ``session_replication_role``: a superuser (as harness is on the servers it
    starts) or, on PostgreSQL 15+, one granted ``SET ON PARAMETER
    session_replication_role``. One strategy per database at a time: ``remove()``
    drops the whole schema.
    """

    def install(self) -> ChangeCaptureReset:
        """Check the tables and the role, then create the log, the triggers and ``undo()``; idempotent."""
        if self._installed:
            return self
        for table in self.tables:
            if not table.primary_key.columns:
                raise ConfigError(
                    f"ChangeCaptureReset: table {table.fullname!r} has no primary key, so the rows the app changes "
                    "in it could not be found again to undo. Nothing was installed. Give the table a primary key, "
                    "or use TruncateReset."
                )
        with self._connect() as connection:
            try:
                connection.execute(text("SET LOCAL session_replication_role = replica"))
            except DBAPIError as exc:
                url = self.engine.url
                raise ConfigError(
                    f"ChangeCaptureReset cannot undo writes in database {url.database!r} on {url.host}:{url.port}: "
                    f"role {url.username!r} may not set session_replication_role ({exc.orig}). Nothing was "
                    "installed. Connect as a superuser, GRANT SET ON PARAMETER session_replication_role TO "
                    f"{url.username} (PostgreSQL 15+), or use TruncateReset."
                ) from exc
            connection.execute(text("SET LOCAL session_replication_role = DEFAULT"))
            connection.execute(text(_install_sql([self._describe(connection, table) for table in self.tables])))
            connection.commit()
        self._installed = True
        return self

    def _describe(self, connection: Connection, table: Table) -> _Captured:
        name = connection.dialect.identifier_preparer.format_table(table)
        oid, columns, sequences = connection.execute(_CATALOG, {"name": name}).one()
        if oid is None:
            raise ConfigError(
                f"ChangeCaptureReset: table {table.fullname!r} of the metadata is not in database "
                f"{self.engine.url.database!r}. Nothing was installed. Create the schema and load the seed "
                "before install()."
            )
        key = [column.name for column in table.primary_key.columns]
        return _Captured(name, oid, key, columns, [(relid, value, bool(called)) for relid, value, called in sequences])

    def reset(self) -> int:
        """Undo every row change since install, in one transaction; returns how many row changes it undid."""
        if not self._installed:
            raise UsageError(
                "ChangeCaptureReset.reset() before install() (or after remove()): nothing recorded the app's "
                "writes. Call install() once the schema exists and the seed is loaded (at class setup)."
            )
        with self._connect() as connection:
            try:
                undone = connection.execute(text(f"SELECT {CAPTURE_SCHEMA}.undo()")).scalar_one()
            except DBAPIError as exc:
                advice = "The log is kept. If the schema changed since install(), call remove() and install()."
                raise self._failed("undo the test's writes", exc, advice) from exc
            connection.commit()
        return int(undone)

    def remove(self) -> None:
        """Drop the triggers, their functions, ``undo()`` and the log: the whole private schema; safe twice."""
        with self.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {CAPTURE_SCHEMA} CASCADE"))
        self._installed = False


@dataclass
class _Captured:
    """One table as the undo needs it: quoted name, oid, key and insertable column names, owned sequences."""

    name: str
    oid: int
    key: list[str]
    columns: list[str]
    sequences: list[tuple[int, int, bool]]  # (oid, value, is_called) at install

    def json_key(self, row: str) -> str:
        """``jsonb_build_object('id', NEW."id", ...)``: the row's key, named as ``to_jsonb`` names it."""
        pairs = ("'" + k.replace("'", "''") + f"', {row}.{_quote(k)}" for k in self.key)
        return f"jsonb_build_object({', '.join(pairs)})"

    def undo_sql(self) -> str:
        """Delete the rows at every key the log names, then put back those that existed before the test."""
        log, key = f"{CAPTURE_SCHEMA}.log", ", ".join(map(_quote, self.key))
        typed = f"jsonb_populate_record(NULL::{self.name}"
        # Every appearance of a key: as the row before an update or delete (so it existed then), or as the key an
        # insert or update produced. Its earliest appearance says whether the row existed at install, and how.
        touched = (
            f"WITH touched AS (SELECT l.id AS harness_change, {_prefixed('k', self.key)}, "
            f"l.op <> 'I' AS harness_existed, l.old_row AS harness_old FROM {log} l, "
            f"{typed}, COALESCE(l.old_row, l.new_pk)) k WHERE l.tbl = {self.oid} UNION ALL SELECT l.id, "
            f"{_prefixed('k', self.key)}, false, NULL FROM {log} l, {typed}, l.new_pk) k "
            f"WHERE l.tbl = {self.oid} AND l.op = 'U')"
        )
        match = " AND ".join(f"t.{_quote(k)} = k.{_quote(k)}" for k in self.key)
        return (
            f"IF EXISTS (SELECT 1 FROM {log} WHERE tbl = {self.oid}) THEN\n"
            f"{touched} DELETE FROM {self.name} t USING touched k WHERE {match};\n"
            f"{touched}, first AS (SELECT DISTINCT ON ({key}) harness_existed, harness_old FROM touched "
            f"ORDER BY {key}, harness_change, harness_existed DESC) INSERT INTO {self.name} "
            f"({', '.join(map(_quote, self.columns))}) OVERRIDING SYSTEM VALUE SELECT {_prefixed('r', self.columns)} "
            f"FROM first f, {typed}, f.harness_old) r WHERE f.harness_existed;\nEND IF;"
        )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _prefixed(alias: str, names: list[str]) -> str:
    return ", ".join(f"{alias}.{_quote(name)}" for name in names)


def _install_sql(tables: list[_Captured]) -> str:
    """The DDL of :meth:`ChangeCaptureReset.install`: one script, re-runnable (it empties the log)."""
    log = f"{CAPTURE_SCHEMA}.log"
    parts = [
        f"CREATE SCHEMA IF NOT EXISTS {CAPTURE_SCHEMA}",
        f"CREATE UNLOGGED TABLE IF NOT EXISTS {log} (id bigserial PRIMARY KEY, tbl oid NOT NULL, "
        "op char(1) NOT NULL, old_row jsonb, new_pk jsonb)",
        f"TRUNCATE {log}",
    ]
    for table in tables:
        function = f"{CAPTURE_SCHEMA}.capture_{table.oid}"
        parts += [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $capture$ BEGIN\n"
            f"IF TG_OP = 'INSERT' THEN INSERT INTO {log} (tbl, op, new_pk) VALUES "
            f"(TG_RELID, 'I', {table.json_key('NEW')});\n"
            f"ELSIF TG_OP = 'UPDATE' THEN INSERT INTO {log} (tbl, op, old_row, new_pk) VALUES "
            f"(TG_RELID, 'U', to_jsonb(OLD), {table.json_key('NEW')});\n"
            f"ELSIF TG_OP = 'DELETE' THEN INSERT INTO {log} (tbl, op, old_row) VALUES (TG_RELID, 'D', to_jsonb(OLD));\n"
            f"ELSE INSERT INTO {log} (tbl, op, old_row) SELECT TG_RELID, 'D', to_jsonb(t) FROM {table.name} t;\n"
            "END IF; RETURN NULL; END $capture$",
            f"CREATE OR REPLACE TRIGGER harness_capture AFTER INSERT OR UPDATE OR DELETE ON {table.name} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE OR REPLACE TRIGGER harness_capture_truncate BEFORE TRUNCATE ON {table.name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    sequences = [sequence for table in tables for sequence in table.sequences]
    moved = " OR ".join(
        f"pg_sequence_last_value({relid}) IS DISTINCT FROM {value if called else 'NULL'}"
        for relid, value, called in sequences
    )
    setvals = "".join(f"PERFORM setval({relid}, {value}, {called});\n" for relid, value, called in sequences)
    undo_tables = "\n".join(table.undo_sql() for table in tables)
    # Setting session_replication_role discards the session's cached plans, so only replay() sets it, and
    # undo() calls replay() only when there is something to undo: "nothing changed" stays one cheap query.
    parts += [
        f"CREATE OR REPLACE FUNCTION {CAPTURE_SCHEMA}.replay() RETURNS void LANGUAGE plpgsql "
        f"SET session_replication_role = replica AS $replay$ BEGIN\n{undo_tables}\n{setvals}"
        f"DELETE FROM {log}; END $replay$",
        # The lock makes writes committing meanwhile wait for the undo, rather than land in a log it empties.
        f"CREATE OR REPLACE FUNCTION {CAPTURE_SCHEMA}.undo() RETURNS bigint LANGUAGE plpgsql "
        f"SET lock_timeout = '{LOCK_TIMEOUT}' AS $undo$ DECLARE changes bigint; BEGIN\n"
        f"LOCK TABLE {log} IN EXCLUSIVE MODE;\nSELECT count(*) INTO changes FROM {log};\n"
        f"IF changes = 0 AND NOT ({moved or 'false'}) THEN RETURN 0; END IF;\n"
        f"PERFORM {CAPTURE_SCHEMA}.replay(); RETURN changes; END $undo$",
    ]
    return ";\n".join(parts)
