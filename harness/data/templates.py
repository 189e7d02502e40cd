"""Schema templates: a schema's tables built once per (server, schema), each test database a clone of them.

Building tables costs tens of milliseconds per schema (migrations: seconds);
``CREATE DATABASE ... TEMPLATE`` copies them in ~10 ms. So the first process to
need a schema on a server builds it into a template database, under a
PostgreSQL advisory lock that every other process (pytest-xdist workers, other
runs) waits on, and every test database is a clone.

Where the template lives depends on whose server it is:

- a server harness started (this run's, or one ``harness up`` / ``--harness-keep``
  left running, which later runs attach to): ``harness_schema_<hash>``, kept for
  as long as the server lives, so later runs reuse it instead of rebuilding. It
  goes with the server (``harness down``);
- a server someone else runs: ``harness_<run>_schema_<hash>``, marked as this
  run's like its other databases and dropped with them at the end of the run
  (or swept by a later run if this one is killed).

A template is complete once it refuses connections (``ALLOW_CONNECTIONS false``,
set as the build's last step; a connected session would make every clone fail);
one left half-built by a killed process is dropped and built again.

On a ``harness up`` server each run also leaves a spare clone behind, made in the
background while its tests run (``harness_schema_<hash>_spare_<id>``, at most
:data:`MAX_SPARES`): the next run renames one to its own name instead of copying,
which takes a fraction of a millisecond.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from harness._optional import require
from harness.data import databases
from harness.data.databases import DATABASE_PREFIX
from harness.errors import HarnessError
from harness.registry import DATA, registry
from harness.services.base import Endpoint
from harness.services.postgres import connect

__all__ = [
    "LAYOUT",
    "MAX_SPARES",
    "SPARE_KIND",
    "TEMPLATE_KIND",
    "clone_template",
    "finish_spares",
    "template_name",
]

logger = logging.getLogger("harness")

LAYOUT = 1
"""How harness builds a schema's database; part of every template's name, so a harness that builds
them differently never reuses an older one."""
TEMPLATE_KIND = "harness-schema-template"
SPARE_KIND = "harness-schema-spare"
MAX_SPARES = 4
"""Spare clones kept per template on a ``harness up`` server (one per run or worker that starts at once)."""


def template_name(endpoint: Endpoint, fingerprint: str, run_token: str) -> str:
    """``harness_schema_<hash>`` on harness's servers, ``harness_<run>_schema_<hash>`` on anyone else's."""
    digest = hashlib.sha256(f"{LAYOUT}:{fingerprint}".encode()).hexdigest()[:12]
    if databases.started_by_harness(endpoint):  # kept for as long as the server lives
        return f"{DATABASE_PREFIX}schema_{digest}"
    return f"{DATABASE_PREFIX}{run_token}_schema_{digest}".lower()


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256(f"harness-template:{name}".encode()).digest()[:8], "big", signed=True)


_STATE = "SELECT datallowconn FROM pg_database WHERE datname = %s"


def clone_template(
    endpoint: Endpoint,
    *,
    template: str,
    clone: str,
    build: Callable[[str], None],
    owner_comment: Callable[[int], str],
    admin: Any = None,
) -> bool:
    """Create database ``clone`` from ``template``, building the template first if no one has; True if built here.

    ``build(name)`` creates the tables in the new, empty database ``name`` and closes every
    connection it opened. ``clone`` (and, on someone else's server, the template) carries
    ``owner_comment``. Concurrent callers, in this process or any other, wait for one build
    on the server's advisory lock; a template is complete once it refuses connections.
    ``admin`` is an open autocommit connection to use (else one is opened for the call).
    """
    built = False
    spares = bool(endpoint.details.get("kept"))
    with contextlib.nullcontext(admin) if admin is not None else connect(endpoint, autocommit=True) as admin:
        if spares and _claim_spare(endpoint, admin, template, clone):
            databases.set_comments(endpoint, admin, [clone], lambda _name, now: owner_comment(now))
        else:
            built = _build_once(endpoint, admin, template, build, owner_comment)
            databases.create_database(endpoint, clone, template=template, comment=owner_comment, conn=admin)
    if spares:
        _make_spare_later(endpoint, template)
    return built


def _build_once(
    endpoint: Endpoint, admin: Any, template: str, build: Callable[[str], None], owner_comment: Callable[[int], str]
) -> bool:
    """Build ``template`` unless a complete one is there, under the server's advisory lock; True if built here."""
    from psycopg import sql

    key = _lock_key(template)
    admin.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        row = admin.execute(_STATE, (template,)).fetchone()
        if row is not None and not row[0]:
            return False  # complete: it refuses connections
        if row is not None:  # left half-built by a process that died
            databases.run_statement(
                endpoint, admin, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(template)),
                f"drop the half-built schema template {template!r}",
            )
        _build(endpoint, admin, template, build, owner_comment)
        return True
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (key,))


# -- spares: on a server harness up left running, the next run's database is already there -----------


def _spare_prefix(template: str) -> str:
    return f"{template}_spare_"


def _claim_spare(endpoint: Endpoint, admin: Any, template: str, clone: str) -> bool:
    """Rename a spare clone of ``template`` to ``clone`` (instant, where a copy costs ~10 ms); False if none is left."""
    psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
    from psycopg import sql

    rows = admin.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY oid", (_spare_prefix(template),)
    ).fetchall()
    for (spare,) in rows:
        try:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(*map(sql.Identifier, (spare, clone))))
        except (psycopg.errors.InvalidCatalogName, psycopg.errors.ObjectInUse):
            continue  # another run took it first
        return True
    return False


_refills: list[threading.Thread] = []
_refills_lock = threading.Lock()


def _make_spare_later(endpoint: Endpoint, template: str) -> None:
    """In the background, while the tests run: clone ``template`` once more for the next run to claim."""
    with _refills_lock:
        if not _refills:
            registry.on_shutdown(finish_spares, stage=DATA)
        thread = threading.Thread(target=_make_spare, args=(endpoint, template), name="harness-spare", daemon=True)
        _refills.append(thread)
    thread.start()


def _make_spare(endpoint: Endpoint, template: str) -> None:
    psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
    spare = f"{_spare_prefix(template)}{uuid.uuid4().hex[:8]}"
    try:
        with connect(endpoint, autocommit=True) as admin:
            count = admin.execute(
                "SELECT count(*) FROM pg_database WHERE starts_with(datname, %s)", (_spare_prefix(template),)
            ).fetchone()[0]
            if count >= MAX_SPARES:
                return
            comment = json.dumps({"kind": SPARE_KIND, "layout": LAYOUT})
            databases.create_database(endpoint, spare, template=template, comment=lambda _now: comment, conn=admin)
    except (HarnessError, psycopg.Error) as exc:  # only the next run's head start is lost: it clones as usual
        logger.debug("harness: no spare of %s made: %s", template, exc)


def finish_spares() -> None:
    """End of run: wait for the spares being made (each takes ~10 ms), so no thread outlives the run."""
    with _refills_lock:
        threads = list(_refills)
        _refills.clear()
    for thread in threads:
        thread.join()


def _build(
    endpoint: Endpoint, admin: Any, template: str, build: Callable[[str], None], owner_comment: Callable[[int], str]
) -> None:
    from psycopg import sql

    identifier = sql.Identifier(template)
    # On a server harness started: a template, kept. On someone else's: the run's, like its other
    # databases (dropped at its end, or swept).
    kind = json.dumps({"kind": TEMPLATE_KIND, "layout": LAYOUT})
    mark = (lambda _now: kind) if databases.started_by_harness(endpoint) else owner_comment
    databases.create_database(endpoint, template, comment=mark, conn=admin)
    try:
        build(template)
    except BaseException:
        databases.run_statement(
            endpoint, admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier),
            f"drop the schema template {template!r} whose build failed",
        )
        raise
    # Complete: from now on it only ever serves as a template (a connected session would make clones fail).
    databases.run_statement(
        endpoint, admin, sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(identifier),
        f"close the schema template {template!r} to connections",
    )
