"""A class's transaction that every connection of one Engine joins: their commits become savepoint releases.

Code under test makes its own sessions and connections from an engine
(``sessionmaker(bind=cls.engine)``, ``engine.begin()``, a repository, pandas)
and commits. Were they real connections, those commits would land in the
database every class shares. :class:`ClassTransaction` gives instead an Engine
whose every connection is the class's one connection, inside the class's
transaction, as Django's TestCase does for its ORM: a unit of work (from a
connection's first statement to its ``commit()`` or ``rollback()``) is a
SAVEPOINT; ``commit()`` releases it, so later code sees its rows; ``rollback()``
rolls back to it, undoing that unit alone; ``begin_nested()`` is a savepoint
inside it. Savepoints are kept on one stack: one that ends while a later one
is still open (two sessions used in turns) is released when those after it
end, so no order of commits and rollbacks breaks the transaction. Harness's own
per-test savepoint is on the same stack, so that rolling it back at the end of
the test undoes whatever the test's units committed::

    with engine.connect() as connection:
        transaction = ClassTransaction(connection)       # begins the class transaction
        with Session(transaction.engine) as session:
            session.add(User(name="ada"))
            session.commit()                               # RELEASE SAVEPOINT: visible, not committed
        test = transaction.savepoint()
        ...                                                # a test: its commits, its rollbacks
        transaction.rollback_to(test)                      # the test undone, the class data kept
        transaction.close()                                # everything undone

The engine is a real ``Engine`` (its dialect is the class engine's), so it can
be given to anything that takes one. Its connections share one database
connection: like Django's, they are not for concurrent use from several
threads, and code that must see data from another connection or process needs
commits that are real (``isolation = "tracked"`` or ``"truncate"``).
``engine.dispose()`` only drops the idle handles: the class transaction lives on.
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from harness.errors import UsageError

__all__ = ["ClassTransaction", "Savepoint"]


class Savepoint:
    """One SAVEPOINT on the class connection: a unit of work, a nested block, or a test."""

    __slots__ = ("alive", "name", "released")

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True
        self.released = False  # ended, but still under savepoints that are not: released when they end


class ClassTransaction:
    """The transaction begun on ``connection``, and :attr:`engine`, whose connections all run inside it.

    ``owner`` names the class in the error a use after :meth:`close` raises.
    """

    def __init__(self, connection: Connection, *, owner: str = "the test class") -> None:
        self.connection = connection
        self.owner = owner
        self.transaction = connection.begin()
        self._stack: list[Savepoint] = []
        self._names = itertools.count(1)
        self._lock = threading.RLock()
        self._closed = False
        self.engine = _joined_engine(self, connection.engine)

    # -- the stack of savepoints -------------------------------------------------------------

    def _execute(self, statement: str) -> None:
        self.connection.exec_driver_sql(statement)

    def savepoint(self) -> Savepoint:
        """A new SAVEPOINT on top of every open one."""
        with self._lock:
            self.check_open()
            savepoint = Savepoint(f"harness_{next(self._names)}")
            self._execute(f"SAVEPOINT {savepoint.name}")
            self._stack.append(savepoint)
            return savepoint

    def release(self, savepoint: Savepoint) -> None:
        """End ``savepoint`` keeping its work: RELEASE it now, or once the savepoints opened after it end."""
        with self._lock:
            if savepoint.alive:
                savepoint.released = True
                self._settle()

    def rollback_to(self, savepoint: Savepoint, *, release: bool = True) -> None:
        """Undo ``savepoint``'s work and every savepoint opened after it (already gone: nothing to do)."""
        with self._lock:
            if not savepoint.alive:
                return
            index = next(index for index, open_ in enumerate(self._stack) if open_ is savepoint)
            statements = [f"ROLLBACK TO SAVEPOINT {savepoint.name}"]
            if release:  # else left in place, as SQLAlchemy leaves its own: the next RELEASE below takes it
                statements.append(f"RELEASE SAVEPOINT {savepoint.name}")
            if self.connection.dialect.name == "postgresql":
                statements = ["; ".join(statements)]  # one round trip
            for statement in statements:
                self._execute(statement)
            self._forget(index)
            self._settle()

    def _settle(self) -> None:
        """RELEASE the run of released savepoints at the top of the stack, in one statement."""
        low = len(self._stack)
        while low > 0 and self._stack[low - 1].released:
            low -= 1
        if low < len(self._stack):
            self._execute(f"RELEASE SAVEPOINT {self._stack[low].name}")
            self._forget(low)

    def _forget(self, index: int) -> None:
        for savepoint in self._stack[index:]:
            savepoint.alive = False
        del self._stack[index:]

    def forget_savepoints(self) -> None:
        """Take every savepoint as gone (the transaction they were in has ended)."""
        with self._lock:
            self._forget(0)

    def rebind(self, connection: Connection) -> None:
        """Go on with a new class connection (the old one's transaction was lost), beginning its transaction."""
        with self._lock:
            self.forget_savepoints()
            self.connection = connection
            self.transaction = connection.begin()

    def check_open(self) -> None:
        if self._closed:
            raise UsageError(
                f"This engine ran inside the class transaction of {self.owner}, which has ended with the class. "
                "Use the engine of the class that is running (cls.engine), not one kept from another class."
            )

    def close(self) -> None:
        """Roll the class transaction back; the engine refuses further use. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.forget_savepoints()
            self.engine.dispose()
            if self.transaction.is_active:
                self.transaction.rollback()


class _JoinedConnection:
    """What the joined engine's pool hands out: the class's DBAPI connection, commit and rollback made savepoints."""

    __slots__ = ("_nested", "_transaction", "_unit")

    def __init__(self, transaction: ClassTransaction) -> None:
        object.__setattr__(self, "_transaction", transaction)
        object.__setattr__(self, "_unit", None)
        object.__setattr__(self, "_nested", {})

    def _driver(self) -> Any:
        self._transaction.check_open()
        return self._transaction.connection.connection.dbapi_connection

    def _begin(self) -> None:
        unit = self._unit
        if unit is None or not unit.alive:  # a unit rolled back with the test that held it begins again
            object.__setattr__(self, "_unit", self._transaction.savepoint())

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        self._begin()
        return self._driver().cursor(*args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> Any:  # psycopg's connection.execute()
        self._begin()
        return self._driver().execute(*args, **kwargs)

    def commit(self) -> None:
        unit = self._unit
        object.__setattr__(self, "_unit", None)
        if unit is not None:
            self._transaction.release(unit)

    def rollback(self) -> None:
        unit = self._unit
        object.__setattr__(self, "_unit", None)
        self._nested.clear()
        if unit is not None:
            self._transaction.rollback_to(unit)

    def close(self) -> None:
        """Roll back the unit left open; the class connection itself stays (it is the class's)."""
        if not self._transaction._closed:
            self.rollback()

    def nested(self, name: str) -> None:
        self._begin()
        self._nested[name] = self._transaction.savepoint()

    def end_nested(self, name: str, *, keep: bool) -> None:
        savepoint = self._nested.pop(name, None)
        if savepoint is None:
            return
        if keep:
            self._transaction.release(savepoint)
        else:
            self._transaction.rollback_to(savepoint)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._driver(), name, value)


def _handle(connection: Connection) -> _JoinedConnection:
    handle = connection.connection.dbapi_connection
    assert isinstance(handle, _JoinedConnection)
    return handle


def _joined_engine(transaction: ClassTransaction, engine: Engine) -> Engine:
    # The class engine's dialect, already initialised (server version, ...), copied so that its savepoints
    # (begin_nested) can go on the shared stack without touching the class engine's own.
    dialect = copy.copy(engine.dialect)
    dialect.do_savepoint = lambda connection, name: _handle(connection).nested(name)  # type: ignore[method-assign]
    dialect.do_release_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: _handle(connection).end_nested(name, keep=True))
    dialect.do_rollback_to_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: _handle(connection).end_nested(name, keep=False))
    # A handle per connection checked out (each its own unit of work), kept for reuse; never a second real one.
    pool = QueuePool(lambda: _JoinedConnection(transaction), pool_size=8, max_overflow=-1, dialect=dialect)
    event.listen(pool, "checkout", lambda *_args: transaction.check_open())  # after the class: say so, unwrapped
    return Engine(pool, dialect, engine.url, logging_name=engine.logging_name, echo=engine.echo,
                  hide_parameters=engine.hide_parameters)
