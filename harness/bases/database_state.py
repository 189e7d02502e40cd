"""What a DatabaseTestBase class holds while it runs, and what to tell it when rows outlive it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.exc import SQLAlchemyError

from harness.data import schema
from harness.data.class_transaction import ClassTransaction

__all__ = ["LEAK_ADVICE", "ClassState"]

LEAK_ADVICE = {
    "transaction": "Write through cls.engine, self.session or self.get_session(): in isolation = 'transaction' "
    "their commits only release savepoints of the class's transaction, and are undone. Code that "
    "must commit through connections of its own needs isolation = 'truncate'.",
    "tracked": "In isolation = 'tracked' only the rows inserted through self.session, self.get_session() and "
    "self.data are deleted after each test; for code that commits through connections of its own, use "
    "isolation = 'truncate'.",
    "truncate": "In isolation = 'truncate' only the tables of the class's metadata are emptied after each test: "
    "give metadata (with migrations too) so that every table the tests write to is among them.",
}


@dataclass
class ClassState:
    """Everything a class holds while it runs; deleted at class teardown."""

    engine: Engine
    tables: list[Table]
    replay: str
    run_seed: int
    database: schema.TestDatabase | None = None
    connection: Connection | None = None
    transaction: RootTransaction | None = None
    shared: ClassTransaction | None = None
    """In transaction isolation: the class transaction that the connections of ``cls.engine`` join."""
    seeded: tuple[str, ...] = field(default_factory=tuple)

    def close(self) -> None:
        """End of class: roll back the class transaction and close its connection."""
        if self.connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):  # a connection already broken has nothing to roll back
            if self.shared is not None:
                self.shared.close()
            elif self.transaction is not None and self.transaction.is_active:
                self.transaction.rollback()
        self.connection.close()

    def reconnect(self, engine: Engine) -> None:
        """Drop a connection whose transaction is not harness's any more, for a fresh one (no transaction yet)."""
        assert self.connection is not None
        with contextlib.suppress(SQLAlchemyError):
            if not self.connection.closed:
                self.connection.rollback()  # ends whatever transaction the server has, releasing its locks
        with contextlib.suppress(SQLAlchemyError):
            self.connection.close()
        self.connection = engine.connect()
        self.transaction = None

    def truncate(self) -> None:
        """Empty the schema's tables (children first), restarting identities."""
        if not self.tables:
            return
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                names = ", ".join(connection.dialect.identifier_preparer.format_table(t) for t in self.tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in self.tables:
                    connection.execute(table.delete())
