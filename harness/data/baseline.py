"""A shared test database's seeded state, and the check after each class that it is back to it.

A schema's database is shared by every class using that schema (schema.py), so
rows one class commits outside harness's transaction (through an engine of its
own made from ``cls.database_url``, a subprocess, ...) would meet the next
class far from their cause, as a UniqueViolation or a wrong count. Right after
the database is built, :func:`record` counts the rows of each of its tables;
after each class, :func:`restore` compares, in one query (a table built empty
is only asked whether it has a row: its cost does not grow with what leaked),
and when a table differs it empties the tables that were filled and says
which, with their counts (:class:`Drift`), for the bases to report::

    baseline = record(engine)                 # once, after create_all / upgrade head
    ...                                       # a class runs
    drift = restore(engine, baseline)         # None, or what the class left (now removed)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from harness.data.reset import CAPTURE_SCHEMA, LOCK_TIMEOUT
from harness.errors import HarnessWarning, IsolationError

__all__ = ["Baseline", "Drift", "check_after_class", "check_before_class", "record", "restore"]

_TABLES = text(
    "SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    f"AND n.nspname NOT IN ('information_schema', '{CAPTURE_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%' "
    "ORDER BY 1, 2"
)
_COLUMNS_PER_QUERY = 400  # PostgreSQL allows 1664 columns in a result


@dataclass
class Baseline:
    """The row count of every table of a database, as it was right after it was built (and seeded)."""

    names: tuple[str, ...]
    """How tables are shown: ``users``, or ``accounting.ledger`` outside the public schema."""
    quoted: tuple[str, ...]
    counts: tuple[int, ...]
    committed: bool = False
    """Whether something committed through the database's engine since the last check (code outside the
    classes, between them, is looked for only then)."""

    def queries(self, *, exact: bool = False) -> list[str]:
        """The statements that count the rows; unless ``exact``, a table built empty is asked for one row only."""
        seeded = self.counts if not exact else (None,) * len(self.quoted)
        counts = [f"(EXISTS (SELECT FROM {table}))::int" if count == 0 else f"(SELECT count(*) FROM {table})"
                  for table, count in zip(self.quoted, seeded, strict=True)]
        return [f"SELECT {', '.join(counts[start:start + _COLUMNS_PER_QUERY])}"
                for start in range(0, len(counts), _COLUMNS_PER_QUERY)]


def _count(connection: Connection, baseline: Baseline, *, exact: bool = False) -> list[int]:
    found: list[int] = []
    for query in baseline.queries(exact=exact):
        found += connection.exec_driver_sql(query).one()
    return found


def record(engine: Engine) -> Baseline:
    """Count the rows of every table of ``engine``'s PostgreSQL database (its own schemas, not the catalogs).

    From then on the baseline notes every commit made through ``engine`` (:attr:`Baseline.committed`).
    """
    with engine.connect() as connection:
        rows = connection.execute(_TABLES).all()
        names = tuple(name if schema == "public" else f"{schema}.{name}" for schema, name, _quoted in rows)
        baseline = Baseline(names=names, quoted=tuple(quoted for _s, _n, quoted in rows), counts=())
        baseline.counts = tuple(_count(connection, baseline, exact=True)) if rows else ()
    event.listen(engine, "commit", lambda _connection: setattr(baseline, "committed", True))
    return baseline


@dataclass(frozen=True)
class Drift:
    """How a database differed from its baseline, and what :func:`restore` could not put back."""

    database: str
    changed: tuple[tuple[str, int, int], ...]
    """(table, rows found, rows expected) of each table that differed."""
    kept: tuple[tuple[str, int], ...]
    """(table, rows now) of each table whose seeded rows could not be put back (it still differs)."""

    def describe(self, expected: str) -> str:
        """``3 rows in table users (expected 0 after the class), 1 row in table orders (expected 0)``."""
        parts = [f"{_rows(found)} in table {table} (expected {count}{expected if index == 0 else ''})"
                 for index, (table, found, count) in enumerate(self.changed)]
        return ", ".join(parts)

    def outcome(self) -> str:
        """What harness did about it, in a sentence or two."""
        kept = {table for table, _rows_now in self.kept}
        emptied = [table for table, _found, _count in self.changed if table not in kept]
        said = f"harness emptied {', '.join(emptied)}, so the next class starts clean." if emptied else ""
        if self.kept:
            still = "; ".join(f"{table} still has {_rows(count)}" for table, count in self.kept)
            said += (f" harness cannot put back the rows the database was built with ({still}); later classes "
                     "see them so.")
        return said.strip()


def restore(engine: Engine, baseline: Baseline) -> Drift | None:
    """None when every table of ``engine``'s database has its ``baseline`` row count; else put it back and say how.

    One query (one round trip) when nothing changed. Tables whose seeded count was 0 are emptied
    (``TRUNCATE ... RESTART IDENTITY CASCADE``); rows the schema was built with cannot be put back,
    so from then on ``baseline`` takes such a table as it is.
    """
    if not baseline.quoted:
        return None
    database = str(engine.url.database)
    try:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")  # one round trip, no BEGIN nor ROLLBACK
            if _count(connection, baseline) == list(baseline.counts):
                baseline.committed = False
                return None
        with engine.begin() as connection:
            found = _count(connection, baseline, exact=True)
            expected = baseline.counts
            changed = [index for index, count in enumerate(found) if count != expected[index]]
            emptied = [baseline.quoted[index] for index in changed if expected[index] == 0]
            if emptied:
                connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                connection.exec_driver_sql(f"TRUNCATE {', '.join(emptied)} RESTART IDENTITY CASCADE")
            after = _count(connection, baseline, exact=True)
    except DBAPIError as exc:
        raise IsolationError(
            f"harness could not count or empty the tables of the shared test database {database!r} ({exc.orig}). "
            "Was a table dropped or renamed outside a test's transaction, or is a transaction holding a lock on it "
            f"still open ({LOCK_TIMEOUT} waited)? Later classes using this schema may fail too."
        ) from exc
    baseline.counts, baseline.committed = tuple(after), False
    return Drift(
        database=database,
        changed=tuple((baseline.names[index], found[index], expected[index]) for index in changed),
        kept=tuple((baseline.names[index], after[index]) for index, count in enumerate(after)
                   if count != expected[index]),
    )


def check_before_class(engine: Engine, baseline: Baseline, *, owner: str) -> None:
    """Warn (HarnessWarning) and restore when the database is not as built before ``owner`` starts.

    What a class leaves is caught after it; this catches what code outside the classes left
    (a test writing through the database's engine), so that ``owner`` is not blamed for it. Checked
    only when something committed through that engine since the last check: no query otherwise.
    """
    drift = restore(engine, baseline) if baseline.committed else None
    if drift is not None:
        warnings.warn(HarnessWarning(
            f"Before {owner} started, the shared test database {drift.database!r} had {drift.describe('')}: rows "
            "committed by code outside harness's test classes (a test writing through an engine of its own, or a "
            f"db_session test whose code commits through another connection). {drift.outcome()}"
        ), stacklevel=2)


def check_after_class(engine: Engine, baseline: Baseline, *, owner: str, advice: str) -> None:
    """Raise IsolationError, once the seeded state is restored, if ``owner`` left rows (``advice``: how not to)."""
    drift = restore(engine, baseline)
    if drift is not None:
        raise IsolationError(
            f"{owner} left {drift.describe(' after the class')} of the shared test database {drift.database!r}: "
            "they were committed outside harness's transaction, and would have met the next class using this "
            f"schema. {drift.outcome()} {advice}"
        )


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"
