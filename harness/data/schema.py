"""Test databases: one per (server, schema, worker), shared by the classes that use that schema.

A schema's database is made the first time a class asks for it and reused by
every later class with the same tables (compared by their DDL, so classes that
declare equal models in ``setup_models`` share too). It is a clone of the
schema's template (templates.py: tables built once per server and schema, and
on a server harness started, kept for later runs). A class that asks for a
fresh database gets a ``CREATE DATABASE ... TEMPLATE`` clone of its worker's
database, dropped after the class.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

from harness._optional import require
from harness.data import databases, templates
from harness.data.baseline import Baseline, record
from harness.data.databases import DATABASE_PREFIX
from harness.data.schema_source import watch_missing_tables
from harness.errors import ConfigError
from harness.providers.rundir import current_run
from harness.registry import DATA, registry
from harness.services.base import Endpoint
from harness.services.postgres import connect, sqlalchemy_url

__all__ = [
    "DATABASE_PREFIX",
    "TestDatabase",
    "drop",
    "drop_shared_databases",
    "fresh_clone",
    "schema_fingerprint",
    "shared_database",
    "sqlite_database",
]



@dataclass
class TestDatabase:
    """A database harness made for tests, and the engine that reaches it."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    name: str
    url: str = field(repr=False)
    engine: Engine
    endpoint: Endpoint | None = None
    created_by_harness: bool = True
    tables: tuple[str, ...] = ()
    """The tables harness built (``users``, ``accounting.ledger``), as failure reports name them."""
    baseline: Baseline | None = None
    """Its rows right after it was built, which every class sharing it must leave as they were."""

    def dispose(self) -> None:
        self.engine.dispose()


def schema_fingerprint(metadata: MetaData | None, migrations: str | None) -> str:
    """A digest of what would be built: the DDL of ``metadata``, or the migrations (every file of them).

    Templates outlive runs on harness's servers, so a new or edited revision must give a new digest.
    """
    digest = hashlib.sha256()
    if migrations is not None:
        digest.update(f"alembic:{Path(migrations).resolve()}".encode())
        for path in _migration_files(migrations):
            digest.update(f"{path}\0".encode() + path.read_bytes() + b"\0")
    elif metadata is not None:
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect()
        for table in sorted(metadata.tables.values(), key=lambda t: t.fullname):
            digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
    return digest.hexdigest()[:10]


def _migration_files(alembic_ini: str) -> list[Path]:
    """alembic.ini and every file of its script directory (env.py, the revisions), in a stable order."""
    ini = Path(alembic_ini)
    if not ini.is_file():
        return []  # upgrade_head says so, with the fix
    alembic_config = require("alembic.config", extra="migrations", purpose="migrations = ...")
    alembic_script = require("alembic.script", extra="migrations", purpose="migrations = ...")
    directory = Path(alembic_script.ScriptDirectory.from_config(alembic_config.Config(str(ini))).dir)
    files = [path for path in directory.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    return [ini.resolve(), *sorted(files)]


_lock = threading.Lock()
_swept: set[str] = set()
_shared: dict[tuple[str, str, str], TestDatabase] = {}
_run_templates: dict[tuple[str, str], Endpoint] = {}
"""This run's templates on servers it shares with others, dropped at its end."""


def _build_schema(database: TestDatabase, metadata: MetaData | None, migrations: str | None) -> None:
    if migrations is not None:
        upgrade_head(migrations, database)
    elif metadata is not None:
        with database.engine.begin() as connection:
            for name in sorted({table.schema for table in metadata.tables.values() if table.schema}):
                connection.execute(CreateSchema(name, if_not_exists=True))
            metadata.create_all(connection, checkfirst=False)  # a new, empty database: nothing to look for


def upgrade_head(alembic_ini: str, database: TestDatabase) -> None:
    """Run ``alembic upgrade head`` from ``alembic_ini`` against ``database``."""
    path = Path(alembic_ini)
    if not path.is_file():
        raise ConfigError(f"migrations = {alembic_ini!r}: no such alembic.ini; give the path to your alembic.ini.")
    alembic_config = require("alembic.config", extra="migrations", purpose="migrations = ...")
    alembic_command = require("alembic.command", extra="migrations", purpose="migrations = ...")
    config = alembic_config.Config(str(path))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        alembic_command.upgrade(config, "head")


def shared_database(
    endpoint: Endpoint, *, metadata: MetaData | None = None, migrations: str | None = None
) -> TestDatabase:
    """The database holding this schema on ``endpoint`` for this worker, made on first use.

    A clone of the schema's template (templates.py), except on a server this run started and
    uses alone (no xdist workers), where nobody could reuse a template: the tables are built
    straight into it.
    """
    run = current_run()
    fingerprint = schema_fingerprint(metadata, migrations)
    key = (endpoint.url, fingerprint, run.worker)
    with _lock:
        database = _shared.get(key)
        if database is None:
            name = f"{DATABASE_PREFIX}{run.token}_{run.worker}_{fingerprint}".lower()
            alone = endpoint.owned and run.worker == "main"
            with connect(endpoint, autocommit=True) as admin:
                if not endpoint.owned and endpoint.url not in _swept:
                    _swept.add(endpoint.url)
                    databases.sweep_databases(endpoint, conn=admin)  # what killed runs left on this shared server
                if alone:
                    databases.create_database(endpoint, name, comment=databases.owner_comment, conn=admin)
                else:
                    _clone(endpoint, admin, name, fingerprint, run.token, metadata, migrations)
            databases.watch(endpoint, name)
            database = _engine_for(endpoint, name)
            try:
                if alone:
                    _build_schema(database, metadata, migrations)
                database.baseline = record(database.engine)
            except BaseException:
                drop(database)
                raise
            database.tables = database.baseline.names
            _shared[key] = database
            _register_exit()
        return database


def _clone(
    endpoint: Endpoint, admin: Any, name: str, fingerprint: str, run_token: str,
    metadata: MetaData | None, migrations: str | None,
) -> None:
    template = templates.template_name(endpoint, fingerprint, run_token)
    if not databases.started_by_harness(endpoint):
        databases.watch(endpoint, template)
        _run_templates[(endpoint.url, template)] = endpoint
        _register_exit()

    def build(template_name: str) -> None:
        built = _engine_for(endpoint, template_name)
        try:
            _build_schema(built, metadata, migrations)
        finally:
            built.dispose()

    templates.clone_template(endpoint, template=template, clone=name, build=build,
                             owner_comment=databases.owner_comment, admin=admin)


def fresh_clone(template: TestDatabase, *, suffix: str) -> TestDatabase:
    """A new database copied from ``template`` (``CREATE DATABASE ... TEMPLATE``); drop it with :func:`drop`."""
    assert template.endpoint is not None
    name = f"{template.name}_{suffix}"[:63]
    # A template must have no other sessions: close the idle pooled connections first.
    template.engine.dispose()
    databases.create_database(template.endpoint, name, template=template.name, comment=databases.owner_comment)
    databases.watch(template.endpoint, name)
    clone = _engine_for(template.endpoint, name)
    clone.tables = template.tables
    return clone


def _engine_for(endpoint: Endpoint, name: str) -> TestDatabase:
    url = sqlalchemy_url(endpoint, name)
    engine = create_engine(url, pool_size=5, max_overflow=10)
    watch_missing_tables(engine)
    return TestDatabase(name=name, url=url, engine=engine, endpoint=endpoint)


def drop(database: TestDatabase) -> None:
    """Dispose the engine and drop the database (when harness created it)."""
    database.dispose()
    if database.endpoint is not None and database.created_by_harness:
        databases.unwatch(database.endpoint, database.name)
        databases.drop_database(database.endpoint, database.name)


def _register_exit() -> None:
    registry.on_shutdown(drop_shared_databases, stage=DATA)


def drop_shared_databases() -> None:
    """End of run: close every engine; drop the databases on servers harness does not own.

    A server harness started is thrown away whole, so its databases need no drop.
    """
    with _lock:
        for database in _shared.values():
            if database.endpoint is not None and not database.endpoint.owned:
                drop(database)
            else:
                database.dispose()
        _shared.clear()
        for (_url, name), endpoint in _run_templates.items():
            databases.unwatch(endpoint, name)
            databases.drop_database(endpoint, name)
        _run_templates.clear()


def sqlite_database(metadata: MetaData | None, *, name: str = "memory") -> TestDatabase:
    """A private in-memory SQLite database (one connection shared by all), tables created."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    _enable_sqlite_savepoints(engine)
    watch_missing_tables(engine)
    tables = tuple(table.fullname for table in metadata.sorted_tables) if metadata is not None else ()
    database = TestDatabase(name=name, url="sqlite://", engine=engine, created_by_harness=True, tables=tables)
    if metadata is not None:
        metadata.create_all(engine)
    return database


def _enable_sqlite_savepoints(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")
