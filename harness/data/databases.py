"""Databases as namespaces on a PostgreSQL server: create, mark as harness's, keep alive, drop, sweep.

Every database harness creates carries an owner marker in its comment (which run,
on which host, and a heartbeat in the server's clock on servers shared with other
runs), so that ``harness down`` and later runs drop only what provably finished
runs left, and never a database harness did not create.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

from harness._optional import require
from harness.data.owners import current_owner, heartbeat, marker, owner_from_marker
from harness.errors import ServiceUnavailable
from harness.redaction import detach, redact
from harness.services.base import Endpoint
from harness.services.postgres import connect

__all__ = [
    "DATABASE_PREFIX",
    "comment_databases",
    "create_database",
    "create_statement",
    "drop_database",
    "list_databases",
    "owner_comment",
    "run_statement",
    "set_comments",
    "started_by_harness",
    "sweep",
    "sweep_databases",
    "unwatch",
    "wait_until_unused",
    "watch",
]

DATABASE_PREFIX = "harness_"
SERVER_TIME = "SELECT floor(extract(epoch FROM clock_timestamp()))"
_CONNECTED = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = %s)"


def create_database(
    endpoint: Endpoint, name: str, *, template: str | None = None,
    comment: Callable[[int], str] | None = None, conn: Any = None,
) -> None:
    """``CREATE DATABASE name [TEMPLATE template]``, then ``comment(server time)`` as its comment.

    On the open autocommit connection ``conn`` when given, else on a connection of its own.
    """
    with contextlib.nullcontext(conn) if conn is not None else connect(endpoint, autocommit=True) as conn:
        if template is not None:
            wait_until_unused(endpoint, conn, template)
        statement = create_statement(endpoint, conn, name, template=template)
        action = f"create database {name!r}" + (f" from {template!r}" if template is not None else "")
        run_statement(endpoint, conn, statement, action)
        if comment is not None:
            set_comments(endpoint, conn, [name], lambda _name, now: comment(now))

def started_by_harness(endpoint: Endpoint) -> bool:
    """Whether harness started the server: for this run, or left running by ``harness up`` / ``--harness-keep``."""
    return endpoint.owned or bool(endpoint.details.get("kept"))


def create_statement(endpoint: Endpoint, conn: Any, name: str, *, template: str | None = None) -> Any:
    """``CREATE DATABASE name [TEMPLATE template]``; on a server harness started, by copying files.

    PostgreSQL 15's default strategy writes every page of the template to the WAL; copying
    the files is ~20% faster for the small databases tests use, but costs a checkpoint: cheap
    on the servers harness starts (no fsync), not on someone else's.
    """
    from psycopg import sql

    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    if started_by_harness(endpoint) and conn.info.server_version >= 150000:
        statement = sql.SQL("{} STRATEGY FILE_COPY").format(statement)
    return statement


def wait_until_unused(endpoint: Endpoint, conn: Any, name: str, *, timeout: float = 2.0) -> None:
    """Return once no session is connected to database ``name`` (or ``timeout`` passed: the caller's error says why).

    A closed connection's server process exits a moment after the client let go, and
    ``CREATE DATABASE ... TEMPLATE name`` that finds it still there sleeps 100 ms before
    looking again: waiting here, in milliseconds, spares those 100 ms.
    """
    deadline = time.monotonic() + timeout
    while conn.execute(_CONNECTED, (name,)).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.001)


def comment_databases(endpoint: Endpoint, names: list[str], comment: Callable[[str, int], str]) -> None:
    """Set each database's comment to ``comment(name, server time)`` (e.g. an owner's heartbeat)."""
    with connect(endpoint, autocommit=True) as conn:
        set_comments(endpoint, conn, names, comment)

def set_comments(endpoint: Endpoint, conn: Any, names: list[str], comment: Callable[[str, int], str]) -> None:
    """On the open connection ``conn``: each database's comment to ``comment(name, server time)``."""
    from psycopg import sql

    # The server's clock, not this machine's: every run sharing the server reads the same one.
    now = int(conn.execute(SERVER_TIME).fetchone()[0])
    for name in names:
        run_statement(
            endpoint, conn,
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(comment(name, now))),
            f"mark database {name!r} as harness's",
        )

def drop_database(endpoint: Endpoint, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting whoever is still connected to it."""
    from psycopg import sql

    with connect(endpoint, autocommit=True) as conn:
        run_statement(
            endpoint, conn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
            f"drop database {name!r}",
        )

def list_databases(
    endpoint: Endpoint, *, prefix: str, conn: Any = None
) -> tuple[list[tuple[str, str | None]], int]:
    """(name, comment) of every database whose name starts with ``prefix``, and the server's time.

    On the open autocommit connection ``conn`` when given, else on a connection of its own.
    """
    with contextlib.nullcontext(conn) if conn is not None else connect(endpoint, autocommit=True) as conn:
        now = int(conn.execute(SERVER_TIME).fetchone()[0])
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE starts_with(datname, %s) ORDER BY datname",
            (prefix,),
        ).fetchall()
    return [(row[0], row[1]) for row in rows], now

def run_statement(endpoint: Endpoint, conn: Any, statement: Any, action: str) -> None:
    """Run ``statement`` on ``conn``; a failure says what harness was doing (``action``) and where."""
    psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            f"postgres at {endpoint.address}: could not {action}: {redact(str(exc).strip())}"
        ) from detach(exc)


# -- owners: whose database it is, the heartbeat, and sweeping what dead runs left ----------------

_watched: dict[str, tuple[Endpoint, set[str]]] = {}


def owner_comment(server_time: int) -> str:
    """The comment on every database harness creates: its owner, and a heartbeat in the server's time."""
    return marker(current_owner(), heartbeat=server_time)


def watch(endpoint: Endpoint, name: str) -> None:
    """Keep ``name``'s heartbeat fresh while this process runs (only on servers shared with others)."""
    if endpoint.owned:
        return
    _, names = _watched.setdefault(endpoint.url, (endpoint, set()))
    names.add(name)
    heartbeat.add(f"postgres {endpoint.address}", functools.partial(_beat, endpoint.url))


def unwatch(endpoint: Endpoint, name: str) -> None:
    watched = _watched.get(endpoint.url)
    if watched is not None:
        watched[1].discard(name)


def _beat(url: str) -> None:
    endpoint, names = _watched[url]
    if names:
        comment_databases(endpoint, sorted(names), lambda _name, now: owner_comment(now))


def sweep_databases(endpoint: Endpoint, *, conn: Any = None) -> list[str]:
    """Drop the databases of runs that are provably gone from ``endpoint``; return their names.

    Only databases carrying harness's owner marker are considered, and never one whose owner
    runs (on this machine: its process is there; elsewhere: its heartbeat is fresh). Looks on
    the open autocommit connection ``conn`` when given.
    """
    databases, now = list_databases(endpoint, prefix=DATABASE_PREFIX, conn=conn)
    me = current_owner()
    dropped = []
    for name, comment in databases:
        found = owner_from_marker(comment)
        if found is None:
            continue  # not harness's (or not a version that marks its databases): never touched
        owner, record = found
        beat = record.get("heartbeat")
        age = now - beat if isinstance(beat, (int, float)) else None
        if owner != me and owner.provably_dead(age):
            drop_database(endpoint, name)
            dropped.append(name)
    return dropped


def sweep(endpoint: Endpoint) -> list[str]:
    """``harness down``: drop what finished runs left on ``endpoint``; describe each."""
    return [f"database {name}" for name in sweep_databases(endpoint)]
