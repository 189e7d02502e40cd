"""DatabaseTestBase: a real database per schema, every test isolated, nothing left behind."""

from __future__ import annotations

import contextlib
import copy
import os
import unittest
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, NoInspectionAvailable, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session

from harness.bases.attributes import Replaceable
from harness.bases.database_state import LEAK_ADVICE, ClassState
from harness.bases.lifecycle import HarnessLifecycle, forget_class_attributes
from harness.data import schema
from harness.data.baseline import check_after_class, check_before_class
from harness.data.class_transaction import ClassTransaction, Savepoint
from harness.data.context import running_test
from harness.data.manager import TestDataManager
from harness.data.schema_source import default_schema, explain_missing_table, missing_table_hint, watch_missing_tables
from harness.data.seeding import replay_hint, run_seed
from harness.errors import ConfigError, IsolationError, did_you_mean

__all__ = ["DATABASES", "DatabaseTestBase", "DatabaseTestMixin", "ISOLATIONS"]

DATABASES = ("postgresql", "sqlite")
ISOLATIONS = ("transaction", "tracked", "truncate")


def _validate_choice(cls: type, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{cls.__qualname__}.{name} = {value!r} is not valid; valid values: "
            f"{', '.join(repr(choice) for choice in choices)}." + did_you_mean(str(value), choices)
        )


def _is_mapped(value: Any) -> bool:
    try:
        inspect(value).mapper  # noqa: B018 - raises for anything that is not an ORM instance
    except (NoInspectionAvailable, AttributeError):
        return False
    return True


class DatabaseTestMixin(HarnessLifecycle):
    """The database lifecycle without unittest.TestCase, for plain pytest classes.

    ``DatabaseTestBase`` is this plus ``unittest.TestCase``; see it for the attributes.
    """

    metadata: ClassVar[MetaData | None] = None
    database: ClassVar[str] = "postgresql"
    isolation: ClassVar[str] = "transaction"
    migrations: ClassVar[str | None] = None
    fresh_database: ClassVar[bool] = False
    """Give this class its own copy of the schema's database (a TEMPLATE clone, ~15 ms) instead of sharing."""

    _harness_settings: ClassVar[Mapping[str, Callable[[Any], bool]]] = {
        "metadata": lambda value: isinstance(value, MetaData),
        "database": lambda value: value in DATABASES,
        "isolation": lambda value: value in ISOLATIONS,
        "migrations": lambda value: isinstance(value, (str, os.PathLike)) and str(value).endswith(".ini"),
        "fresh_database": lambda value: isinstance(value, bool),
    }

    engine: ClassVar[Engine]
    database_url: ClassVar[str]
    _harness_state: ClassVar[ClassState]
    Base: ClassVar[type[DeclarativeBase]]

    _harness_session: Session
    connection: Connection
    data: TestDataManager

    @Replaceable
    def session(self) -> Session:
        """This test's Session, in its isolation; or the session the class or the test sets itself (``self.data``,
        factories and the seeded copies keep using harness's). Harness closes its own and the one the test set
        after the test; one the class set is the class's to close."""
        return self._harness_session

    # -- hooks for subclasses ----------------------------------------------------------------

    @classmethod
    def setup_models(cls) -> None:
        """Declare models on ``cls.Base`` here; its metadata then becomes the class's schema."""

    @classmethod
    def seed_data(cls, session: Session) -> None:
        """Create class-wide rows; attributes set on ``cls`` here are given to each test as copies."""

    # -- class lifecycle ---------------------------------------------------------------------

    @classmethod
    def _harness_schema(cls, stack: ExitStack, config: Any) -> tuple[MetaData | None, str | None]:
        """(metadata, migrations): the class's own (setup_models, metadata, migrations), else the run's settings."""
        if cls.setup_models.__func__ is not DatabaseTestMixin.setup_models.__func__:  # type: ignore[attr-defined]

            class Base(DeclarativeBase):
                pass

            cls.Base = Base
            stack.callback(forget_class_attributes, cls, ("Base",))
            cls.setup_models()
            # A guide's setup_models often makes a base of its own (cls.Base = declarative_base()).
            declared = cls.Base
            metadata = getattr(declared, "metadata", None)
            if not isinstance(metadata, MetaData):
                raise ConfigError(
                    f"{cls.__qualname__}.setup_models() set cls.Base to {declared!r}, which has no SQLAlchemy "
                    "metadata. Declare the models on cls.Base as given, or set cls.Base to your declarative base."
                )
            return metadata, cls.migrations
        if cls.metadata is not None or cls.migrations is not None:
            return cls.metadata, cls.migrations
        return default_schema(config, sqlite=cls.database == "sqlite")

    @classmethod
    def _harness_services(cls) -> tuple[str, ...]:
        own = () if cls.database == "sqlite" else ("postgres",)
        return (*super()._harness_services(), *own)

    @classmethod
    def _harness_setup_class(cls, stack: ExitStack) -> None:
        super()._harness_setup_class(stack)
        _validate_choice(cls, "database", cls.database, DATABASES)
        _validate_choice(cls, "isolation", cls.isolation, ISOLATIONS)
        if cls.metadata is not None and not isinstance(cls.metadata, MetaData):
            raise ConfigError(
                f"{cls.__qualname__}.metadata must be a SQLAlchemy MetaData (e.g. Base.metadata), "
                f"got {type(cls.metadata).__name__}."
            )
        if cls.database == "sqlite" and cls.migrations is not None:
            raise ConfigError(f"{cls.__qualname__}: migrations need database = 'postgresql'.")
        config = cls._harness_config()
        metadata, migrations = cls._harness_schema(stack, config)

        if cls.database == "sqlite":
            database = schema.sqlite_database(metadata, name=cls.__qualname__)
            stack.callback(database.dispose)
        else:
            endpoint = cls._harness_endpoint(stack, "postgres")
            database = schema.shared_database(endpoint, metadata=metadata, migrations=migrations)
            if database.baseline is not None and not cls.fresh_database:  # shared: leave it as found
                check_before_class(database.engine, database.baseline, owner=cls.__qualname__)
                stack.callback(check_after_class, database.engine, database.baseline, owner=cls.__qualname__,
                               advice=LEAK_ADVICE[cls.isolation])
            if cls.fresh_database:
                database = schema.fresh_clone(database, suffix=f"c{id(cls) & 0xFFFFFF:x}")
                stack.callback(schema.drop, database)
        state = ClassState(
            engine=database.engine,
            tables=list(reversed(metadata.sorted_tables)) if metadata is not None else [],
            replay=replay_hint(config),
            run_seed=run_seed(config),
            database=database,
        )
        cls._harness_state = state
        cls.engine = database.engine
        cls.database_url = database.url
        stack.callback(
            lambda: forget_class_attributes(cls, ("_harness_state", "engine", "database_url", *state.seeded))
        )

        try:
            cls._harness_start_isolation(stack, state)
        except DBAPIError as exc:  # seed_data on a table the schema does not have: say how to give one
            explain_missing_table(exc, database.tables)
            raise

    @classmethod
    def _harness_start_isolation(cls, stack: ExitStack, state: ClassState) -> None:
        if cls.isolation == "transaction":
            state.connection = cls.engine.connect()
            stack.callback(state.close)  # whichever connection the class holds by then
            state.shared = ClassTransaction(state.connection, owner=cls.__qualname__)
            state.transaction = state.shared.transaction
            cls.engine = state.shared.engine  # what code under test makes its sessions from joins the class too
            watch_missing_tables(cls.engine)
            cls._harness_seed_class(Session(cls.engine, expire_on_commit=False))
        elif cls.isolation == "tracked":
            class_data = TestDataManager(cls.engine)
            stack.callback(class_data.cleanup)
            session = Session(cls.engine, expire_on_commit=False)
            class_data.watch(session)
            cls._harness_seed_class(session)
        else:
            state.truncate()
            stack.callback(state.truncate)
            cls._harness_seed_class(Session(cls.engine, expire_on_commit=False))

    @classmethod
    def _harness_after_class_hook(cls, hook: str) -> None:
        """Refuse an engine of the class's own in place of harness's: what tests commit through it would stay."""
        super()._harness_after_class_hook(hook)
        step = cls._harness_class_step()
        engine, given = cls.__dict__.get("engine"), step.given.get("engine") if step is not None else None
        if given is None or engine is given or cls.isolation == "truncate":
            return
        if getattr(engine, "pool", None) is not getattr(given, "pool", None):  # engine.execution_options() shares it
            raise IsolationError(
                f"{cls.__qualname__}.{hook}() replaced cls.engine with an engine of its own. harness undoes what "
                f"tests write only through its own engine, so what they commit through this one would stay in the "
                f"database (which classes with the same schema share). Use the cls.engine harness gives (it is on "
                f"cls.database_url already) for the code under test, or set isolation = 'truncate' if that code "
                f"must have an engine of its own (the tables are emptied after each test)."
            )

    @classmethod
    def _harness_seed_class(cls, session: Session) -> None:
        # commit() is real in tracked/truncate mode; in transaction mode it releases a savepoint.
        before = dict(cls.__dict__)
        with session:
            cls.seed_data(session)
            session.commit()
        changed = [name for name, value in cls.__dict__.items() if before.get(name, _MISSING) is not value]
        state = cls._harness_state
        state.seeded = tuple(dict.fromkeys((*state.seeded, *changed)))

    # -- test lifecycle ----------------------------------------------------------------------

    def _harness_setup_test(self, stack: ExitStack) -> None:
        super()._harness_setup_test(stack)
        cls = type(self)
        state: ClassState = cls._harness_state
        if cls.isolation == "transaction":
            assert state.connection is not None and state.shared is not None
            self.connection = state.connection
            savepoint = state.shared.savepoint()
            # Its commit() releases a savepoint, as every cls.engine session's.
            session = self._harness_session = Session(cls.engine)
            stack.callback(self._harness_end_test_transaction, savepoint)  # closes the session too
        else:
            self.connection = stack.enter_context(cls.engine.connect())
            session = self._harness_session = Session(cls.engine)
            stack.callback(session.close)
        current = stack.enter_context(running_test(self._harness_test_id(), session, run_seed=state.run_seed))
        self.data = current.data
        self._harness_current = current
        if cls.isolation != "transaction":
            if cls.isolation == "tracked":
                self.data.watch(session)
            stack.callback(self._harness_remove_committed)
        for name in state.seeded:
            setattr(self, name, self._harness_copy(getattr(cls, name)))
        stack.callback(self._harness_close_own_session)  # first: before the rollback, TRUNCATE or DELETE

    def _harness_close_own_session(self) -> None:
        """Close a session the test set as ``self.session``: in the test's transaction, or holding locks, it is in
        the way of what harness undoes next."""
        own = self.__dict__.get("session")
        if isinstance(own, Session) and own is not self._harness_session:
            with contextlib.suppress(SQLAlchemyError):  # a broken connection: the steps after it say so
                own.close()

    def _harness_remove_committed(self) -> None:
        # The test is over. Roll back what it left open first: uncommitted work needs no
        # removing, and its locks (even a SELECT's) would make the DELETE or TRUNCATE wait forever.
        self._harness_session.rollback()
        if self.connection.in_transaction():
            self.connection.rollback()
        if type(self).isolation == "tracked":
            self.data.cleanup()
        else:
            type(self)._harness_reset_after_truncate()

    def _harness_copy(self, value: Any) -> Any:
        """A per-test copy of class data: ORM instances merged into this test's session."""
        if _is_mapped(value):
            return self._harness_session.merge(value, load=False)
        if isinstance(value, list):
            return [self._harness_copy(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._harness_copy(item) for item in value)
        if isinstance(value, dict):
            return {key: self._harness_copy(item) for key, item in value.items()}
        return copy.deepcopy(value)

    def _harness_end_test_transaction(self, savepoint: Savepoint) -> None:
        """Roll the test back; if the class transaction is no longer the one harness opened, restore it."""
        cls = type(self)
        state: ClassState = cls._harness_state
        assert state.connection is not None and state.transaction is not None and state.shared is not None
        if state.connection.closed:
            problem = "closed self.connection, the connection the class's transaction lives on"
        elif state.connection.invalidated:
            problem = "lost the class's connection (it was invalidated: the server dropped it?)"
        elif not state.transaction.is_active:
            problem = "ended the class-level transaction (commit() or rollback() on self.connection)"
        else:
            try:
                state.shared.rollback_to(savepoint, release=False)  # and every unit of work opened after it
                self._harness_session.close()
                return
            except DBAPIError:
                # Our savepoints are gone: the transaction they lived in was ended underneath
                # SQLAlchemy, which still believes it open.
                problem = (
                    "ended the class-level transaction underneath SQLAlchemy (a raw COMMIT or ROLLBACK "
                    "through session.execute() or connection.exec_driver_sql(), or commit() on the DBAPI "
                    "connection)"
                )
        # Whatever it committed must not survive: a new class transaction on a new connection,
        # the tables emptied, the class data seeded again; then say what happened.
        state.shared.forget_savepoints()
        state.reconnect(state.engine)
        with contextlib.suppress(SQLAlchemyError):
            self._harness_session.close()
        state.truncate()  # before the new transaction: SQLite's StaticPool has one connection for both
        state.shared.rebind(state.connection)
        state.transaction = state.shared.transaction
        cls._harness_seed_class(Session(cls.engine, expire_on_commit=False))
        raise IsolationError(
            f"{self._harness_test_id()} {problem}. Its data may have been committed, so harness emptied the "
            "tables, seeded them again and opened a new class transaction; the next test starts clean. Use "
            "self.session (its commit() only releases a savepoint) or self.get_session(), leave self.connection "
            "open, or set isolation = 'tracked' for code that must commit for real."
        )

    @classmethod
    def _harness_reset_after_truncate(cls) -> None:
        cls._harness_state.truncate()
        cls._harness_seed_class(Session(cls.engine, expire_on_commit=False))

    def _harness_failure_hint(self) -> str:
        state = type(self).__dict__.get("_harness_state")
        hints = [super()._harness_failure_hint(), state.replay if state is not None else ""]
        current = self.__dict__.get("_harness_current")
        if current is not None and current.missing_tables and state is not None and state.database is not None:
            hints += missing_table_hint(current.missing_tables[-1], state.database.tables)
        return "\n".join(hint for hint in hints if hint)

    # -- helpers for tests -------------------------------------------------------------------

    @contextmanager
    def get_session(self) -> Iterator[Session]:
        """A new session in this test's isolation: committed at the end, rolled back on error."""
        session = Session(type(self).engine)
        if type(self).isolation == "tracked":
            self.data.watch(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


_MISSING = object()

class DatabaseTestBase(DatabaseTestMixin, unittest.TestCase):
    """A test case on a real database, isolated per test, with nothing left behind.

    Class attributes: ``metadata`` (tables to create), ``database``
    ("postgresql" or "sqlite"), ``isolation`` ("transaction": each test is
    rolled back; "tracked": commits are real and the rows the test created are
    deleted; "truncate": tables are emptied after each test), ``migrations``
    (an alembic.ini to upgrade to head instead), ``fresh_database``; a class
    giving no schema gets the run's ``metadata`` / ``migrations`` settings.
    Gives ``cls.engine`` (in transaction isolation, its connections all join the
    class transaction: code under test's own sessions are rolled back too),
    ``cls.database_url``; per test ``self.session``, ``self.connection``,
    ``self.data`` and ``self.get_session()``::

        class TestUsers(DatabaseTestBase):
            metadata = Base.metadata

            @classmethod
            def seed_data(cls, session):
                cls.admin = User(name="admin")
                session.add(cls.admin)

            def test_add(self):
                self.session.add(User(name="ada"))
                self.session.commit()          # safe: only a savepoint is released
                assert self.session.query(User).count() == 2

    ``setup_class``/``setup_method`` find ``cls.engine``/``self.session`` set up, with or
    without ``super()``. A session the test sets (``self.session = ...``) is what
    ``self.session`` gives (``self.data`` and factories keep harness's); harness closes
    both after the test. An engine of the class's own in place of ``cls.engine`` is an
    ``IsolationError`` unless ``isolation = "truncate"``: harness could not undo its commits.
    """
