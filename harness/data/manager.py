"""TestDataManager: create and track test rows, then delete exactly those rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import Table, create_engine, delete, event, inspect, make_url, tuple_
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoInspectionAvailable
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.sql.ddl import sort_tables_and_constraints

from harness.config import get_config
from harness.data.safety import check_cleanup_target, is_allowed, refuse_unreachable
from harness.errors import ConfigError, DataCleanupError
from harness.redaction import mask_url, redact, register_url

__all__ = ["TestDataManager", "TrackedRow"]

BATCH_SIZE = 1000


@dataclass(frozen=True)
class TrackedRow:
    """A row known by table and primary key (from :meth:`TestDataManager.track_row`)."""

    table: Table
    pk: tuple[Any, ...]


def _as_table(table_or_model: Any) -> Table:
    if isinstance(table_or_model, Table):
        return table_or_model
    try:
        mapper = inspect(table_or_model)
    except NoInspectionAvailable:
        raise ConfigError(f"{table_or_model!r} is neither a Table nor a mapped class.") from None
    if not isinstance(mapper, Mapper) or not isinstance(mapper.local_table, Table):
        raise ConfigError(f"{table_or_model!r} is neither a Table nor a mapped class.")
    return mapper.local_table


def _engine_from_url(url: str | URL) -> Engine:
    """An engine of the manager's own on ``url``; a URL it cannot use is a ConfigError that hides the password."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    register_url(text)
    shown = mask_url(text)
    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # harness's driver, not SQLAlchemy 2.0's psycopg2
        return create_engine(parsed)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"TestDataManager({shown!r}) is not a database URL SQLAlchemy can use ({redact(str(exc))}). "
            "Give one like postgresql://user:password@host:5432/dbname, or an Engine, Connection or Session."
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"TestDataManager({shown!r}): the database driver the URL names is not installed ({exc}). "
            "Install it, or name one you have in the URL (postgresql+psycopg://...)."
        ) from None


def _pk_tuple(table: Table, pk: Any) -> tuple[Any, ...]:
    columns = list(table.primary_key.columns)
    if not columns:
        raise ConfigError(f"Table {table.name!r} has no primary key, so its rows cannot be tracked.")
    if isinstance(pk, dict):
        missing = [column.name for column in columns if column.name not in pk]
        if missing:
            raise ConfigError(f"track_row({table.name!r}, ...): primary key value missing for {missing}.")
        return tuple(pk[column.name] for column in columns)
    values = tuple(pk) if isinstance(pk, (tuple, list)) else (pk,)
    if len(values) != len(columns):
        raise ConfigError(
            f"track_row({table.name!r}, {pk!r}): the primary key has {len(columns)} column(s) "
            f"({', '.join(column.name for column in columns)}), got {len(values)} value(s)."
        )
    return values


class TestDataManager:
    """Creates rows, remembers them, and deletes exactly them (children before parents).

    Bound to an engine or connection, :meth:`create` commits each row; bound
    to a session it adds and flushes through that session. :meth:`cleanup`
    deletes every tracked row in reverse foreign-key order, one batched DELETE
    per table, tolerates rows already gone, is idempotent and returns the count::

        with TestDataManager(engine) as data:
            user = data.create(User, name="ada")
            data.create(Order, user_id=user.id, total=10)
        # both rows are gone here

    Given a database URL (a string or a SQLAlchemy ``URL``) it makes an engine of
    its own, whose connections :meth:`cleanup`, :meth:`close` and the end of a
    ``with`` block close; subclasses add their own helpers::

        class Data(TestDataManager):
            def create_test_user(self, **values):
                return self.create(User, **{"name": "ada", **values})

        data = Data("postgresql://test:test@localhost:5432/test_db")
        data.create_test_user()
        data.cleanup()

    Cleanup refuses (``UnsafeTargetError``) a database that is not local, not
    created by harness and not allowed by ``HARNESS_ALLOW_CLEANUP``.
    """

    __test__ = False  # a helper, not a test class

    def __init__(
        self, target: Engine | Connection | Session | str | URL, *, allow_unsafe_target: bool = False
    ) -> None:
        self._own_engine: Engine | None = None
        if isinstance(target, (str, URL)):
            target = self._own_engine = _engine_from_url(target)
        if not isinstance(target, (Engine, Connection, Session)):
            raise ConfigError(
                f"TestDataManager needs an Engine, Connection, Session or database URL, got {type(target).__name__}."
            )
        self.target: Engine | Connection | Session = target
        self.allow_unsafe_target = allow_unsafe_target
        self.created: list[Any] = []
        self._seen: set[int] = set()
        self._watched: list[tuple[Session, Any]] = []

    # -- creating and tracking ------------------------------------------------------------

    def create(self, model: Any, **values: Any) -> Any:
        """Insert one row of ``model`` (a mapped class or a Table) and track it; return it.

        For a mapped class the instance is returned; for a Table, its primary key tuple.
        """
        if isinstance(model, Table):
            return self._insert_row(model, values)
        instance = model(**values)
        if isinstance(self.target, Session):
            self.target.add(instance)
            self.target.flush()
        else:
            with Session(self.target, expire_on_commit=False) as session:
                session.add(instance)
                session.commit()
        return self.track(instance)

    def _insert_row(self, table: Table, values: dict[str, Any]) -> tuple[Any, ...]:
        if not table.primary_key.columns:
            raise ConfigError(
                f"create({table.name!r}, ...): table {table.name!r} has no primary key, so harness could not "
                "find the row again to delete it. Nothing was inserted. Give the table a primary key, or insert "
                "the row yourself (session.execute(table.insert().values(...))) and let isolation = "
                "'transaction' or 'truncate' remove it."
            )
        statement = table.insert().values(**values).returning(*table.primary_key.columns)
        if isinstance(self.target, (Session, Connection)):
            pk = tuple(self.target.execute(statement).one())
        else:
            with self.target.begin() as connection:
                pk = tuple(connection.execute(statement).one())
        self.track_row(table, pk)
        return pk

    def track(self, instance: Any) -> Any:
        """Remember an ORM instance (its primary key is read at cleanup); returns it."""
        try:
            inspect(instance)
        except NoInspectionAvailable:
            raise ConfigError(
                f"track() takes an ORM instance, got {type(instance).__name__}; use track_row(table, pk) for rows."
            ) from None
        if id(instance) not in self._seen:
            self._seen.add(id(instance))
            self.created.append(instance)
        return instance

    def track_row(self, table: Any, pk: Any) -> TrackedRow:
        """Remember a row by table (Table or mapped class) and primary key (value, tuple or dict)."""
        resolved = _as_table(table)
        row = TrackedRow(resolved, _pk_tuple(resolved, pk))
        self.created.append(row)
        return row

    def watch(self, session: Session) -> Session:
        """Track every ORM insert flushed through ``session`` from now on; returns it."""

        def _after_flush(flushed: Session, _context: Any) -> None:
            for instance in list(flushed.new):
                self.track(instance)

        event.listen(session, "after_flush", _after_flush)
        self._watched.append((session, _after_flush))
        return session

    # -- cleanup --------------------------------------------------------------------------

    def _rows_by_table(self) -> dict[Table, list[tuple[Any, ...]]]:
        rows: dict[Table, list[tuple[Any, ...]]] = {}
        seen: set[tuple[str, tuple[Any, ...]]] = set()

        def add(table: Table, pk: tuple[Any, ...]) -> None:
            key = (table.fullname, pk)
            if key not in seen:
                seen.add(key)
                rows.setdefault(table, []).append(pk)

        for entry in self.created:
            if isinstance(entry, TrackedRow):
                add(entry.table, entry.pk)
                continue
            state = inspect(entry)
            if state.identity is None:
                continue  # never flushed: nothing reached the database
            for table in state.mapper.tables:
                if isinstance(table, Table):
                    add(table, tuple(state.identity))
        return rows

    def _ordered(self, tables: Iterable[Table]) -> list[Table]:
        # Parents first, by foreign keys among the tracked tables; reversed for deleting.
        ordered = [table for table, _ in sort_tables_and_constraints(list(tables)) if table is not None]
        return list(reversed(ordered))

    def cleanup(self) -> int:
        """Delete every tracked row (children first, batched per table); return how many were deleted.

        Bound to a session, the deletes run in that session and are committed with it. Made from
        a URL, the manager's connections are closed afterwards, whatever the outcome.
        """
        try:
            return self._cleanup()
        finally:
            self._close_own_engine()  # not self.close(): a subclass may have its own, for its own things

    def _cleanup(self) -> int:
        for session, listener in self._watched:
            if event.contains(session, "after_flush", listener):
                event.remove(session, "after_flush", listener)
        self._watched.clear()
        rows = self._rows_by_table()
        if not rows:
            self.created.clear()
            self._seen.clear()
            return 0
        bind = self.target
        if isinstance(bind, Session):
            transaction = bind.get_transaction()
            if transaction is not None and not transaction.is_active:
                bind.rollback()  # a failed flush left it unusable; its unflushed work needs no deleting
        url = (bind.get_bind() if isinstance(bind, Session) else bind).engine.url
        try:
            deleted = self._checked_delete(bind, rows, url)
        except DBAPIError as exc:
            raise DataCleanupError(
                f"Could not clean up tracked rows in database {url.database!r} on {url.host}:{url.port}: "
                f"{exc.orig}. Nothing was deleted; the rows stay tracked, so cleanup() can be called again."
            ) from exc
        self.created.clear()
        self._seen.clear()
        return deleted

    def close(self) -> None:
        """Close the connections of the engine made from a URL (none for a given engine); safe twice.

        The manager stays usable: a later :meth:`create` connects again.
        """
        self._close_own_engine()

    def _close_own_engine(self) -> None:
        if self._own_engine is not None:
            self._own_engine.dispose()

    def _checked_delete(
        self, bind: Engine | Connection | Session, rows: dict[Table, list[tuple[Any, ...]]], url: URL
    ) -> int:
        """Check where the connection really goes (:func:`check_cleanup_target`), then delete through it."""
        allowed = get_config().allow_cleanup

        def connect(opener: Callable[[], Connection]) -> Connection:
            try:
                return opener()
            except DBAPIError as exc:
                if self.allow_unsafe_target or is_allowed(url, allowed):
                    raise  # allowed without looking: a plain cleanup failure
                raise refuse_unreachable(url, str(exc.orig).strip().splitlines()[0]) from None

        if isinstance(bind, Engine):
            with connect(bind.connect) as connection:
                check_cleanup_target(connection, allowed=allowed, allow_unsafe_target=self.allow_unsafe_target)
                return self._delete(connection, rows)
        connection = connect(bind.connection) if isinstance(bind, Session) else bind
        check_cleanup_target(connection, allowed=allowed, allow_unsafe_target=self.allow_unsafe_target)
        return self._delete(bind, rows)

    def _delete(self, bind: Engine | Connection | Session, rows: dict[Table, list[tuple[Any, ...]]]) -> int:
        order = self._ordered(rows)
        if isinstance(bind, Session):
            try:
                count = self._delete_through(bind, order, rows)
            except BaseException:
                bind.rollback()
                raise
            bind.commit()
            return count
        if isinstance(bind, Connection):
            if bind.in_transaction():
                with bind.begin_nested():
                    return self._delete_through(bind, order, rows)
            with bind.begin():
                return self._delete_through(bind, order, rows)
        with bind.begin() as connection:
            return self._delete_through(connection, order, rows)

    def _delete_through(
        self, executor: Connection | Session, order: Sequence[Table], rows: dict[Table, list[tuple[Any, ...]]]
    ) -> int:
        count = 0
        for table in order:
            columns = list(table.primary_key.columns)
            keys = rows[table]
            for start in range(0, len(keys), BATCH_SIZE):
                batch = keys[start : start + BATCH_SIZE]
                if len(columns) == 1:
                    condition = columns[0].in_([key[0] for key in batch])
                else:
                    condition = tuple_(*columns).in_(batch)
                try:
                    result = executor.execute(delete(table).where(condition))
                except DBAPIError as exc:
                    raise DataCleanupError(
                        f"Could not delete tracked rows from {table.fullname!r}: {exc.orig}. Rows that were not "
                        "tracked probably still reference them: track those too (data.track(), data.watch("
                        "session)) or use isolation = 'truncate'. Nothing was deleted."
                    ) from exc
                count += max(result.rowcount, 0)  # type: ignore[attr-defined]
        return count

    def __enter__(self) -> TestDataManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
