"""Where a test database's schema comes from when a test names none, and what to say when a table is missing.

The run-wide settings ``metadata`` (an import path such as
``myapp.models:Base.metadata``) and ``migrations`` (an alembic.ini) give the
schema of the ``db_session`` fixture and of every database base class that sets
neither ``metadata`` nor ``migrations`` nor ``setup_models``. They are read as
text with the run's configuration and imported only when a test first needs a
database, so a typo fails that test's setup (naming the setting and where it
was given), never the whole run.

A test that fails on a missing table (``relation "users" does not exist``, ``no
such table: users``) gets report lines saying how to give the schema.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from harness.config import IntegrationTestConfig, SettingText
from harness.data.context import current_test_or_none
from harness.errors import ConfigError, did_you_mean

__all__ = ["configured_metadata", "configured_migrations", "default_schema", "explain_missing_table",
           "missing_table", "missing_table_hint", "watch_missing_tables"]

_EXAMPLE = "'myapp.models:Base.metadata'"
_resolved: dict[str, MetaData] = {}


def _origin(value: Any, name: str) -> str:
    if isinstance(value, SettingText):
        return value.origin
    return f"{name} = {value!r} (given to IntegrationTestConfig or in config_overrides)"


def _as_metadata(found: Any) -> MetaData | None:
    if isinstance(found, MetaData):
        return found
    metadata = getattr(found, "metadata", None)  # a declarative Base, or an ORM registry
    return metadata if isinstance(metadata, MetaData) else None


def configured_metadata(config: IntegrationTestConfig) -> MetaData | None:
    """The MetaData the ``metadata`` setting names (imported on first use), or None when it is not set.

    ``metadata = myapp.models:Base`` and ``myapp.models:Base.metadata`` both give ``Base.metadata``.
    """
    value = config.metadata
    if value is None:
        return None
    if not isinstance(value, str):
        metadata = _as_metadata(value)
        if metadata is None:
            raise ConfigError(f"{_origin(value, 'metadata')} is a {type(value).__name__}, not a SQLAlchemy MetaData "
                              "or declarative Base.")
        return metadata
    text = str(value)
    if text not in _resolved:
        _resolved[text] = _import_metadata(text, _origin(value, "metadata"))
    return _resolved[text]


def _import_metadata(text: str, origin: str) -> MetaData:
    module_name, colon, attributes = text.partition(":")
    if not colon or not module_name or not attributes:
        raise ConfigError(f"{origin} is not an import path: write the module, a colon, then the attribute, e.g. "
                          f"{_EXAMPLE} or 'myapp.models:Base'.")
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise ConfigError(f"{origin}: importing {module_name!r} failed: {exc}.") from exc
        raise ConfigError(
            f"{origin}: there is no module {module_name!r} ({exc}). Check the name, and that the package is "
            "importable where the tests run (installed, or its directory on sys.path, e.g. pytest's pythonpath)."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - whatever the user's module raises, said with the setting's origin
        raise ConfigError(f"{origin}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    path = module_name
    for attribute in attributes.split("."):
        if not hasattr(found, attribute):
            names = [name for name in dir(found) if not name.startswith("_")]
            raise ConfigError(f"{origin}: {path!r} has no attribute {attribute!r}." + did_you_mean(attribute, names))
        found = getattr(found, attribute)
        path = f"{path}{'.' if ':' in path else ':'}{attribute}"
    metadata = _as_metadata(found)
    if metadata is None:
        raise ConfigError(f"{origin} names a {type(found).__name__}, not a SQLAlchemy MetaData or declarative Base "
                          f"(e.g. {_EXAMPLE}).")
    return metadata


def configured_migrations(config: IntegrationTestConfig) -> str | None:
    """The absolute path of the alembic.ini the ``migrations`` setting names, or None when it is not set.

    A relative path is relative to the ini file that gives it (setup.cfg, tox.ini), else to the current directory.
    """
    value = config.migrations
    if value is None:
        return None
    base = value.base if isinstance(value, SettingText) else Path.cwd()
    path = (base / Path(value).expanduser()).resolve()
    if not path.is_file():
        raise ConfigError(f"{_origin(value, 'migrations')}: there is no file {path} (a relative path starts from "
                          f"{base}). Give the path of your alembic.ini.")
    return str(path)


# -- a missing table ------------------------------------------------------------------------------

_MISSING = (re.compile(r'relation "([^"]+)" does not exist'), re.compile(r"no such table: ([\w.\"]+)"))


def missing_table(error: BaseException | None) -> str | None:
    """The table a database error (or one it was raised from) says does not exist, else None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, NoSuchTableError):
            return str(error)
        driver_error = error.orig if isinstance(error, DBAPIError) else error
        if getattr(driver_error, "sqlstate", None) == "42P01" or type(driver_error).__module__ == "sqlite3":
            for pattern in _MISSING:
                found = pattern.search(str(driver_error))
                if found:
                    return found.group(1).strip('"')
        error = error.__cause__ or error.__context__
    return None


def missing_table_hint(table: str, built: Sequence[str] | None) -> list[str]:
    """Report lines for a test that failed because ``table`` does not exist.

    ``built``: the tables harness made for the test (empty: no schema was given), or None when not known.
    """
    if built:
        shown = ", ".join(sorted(built)[:12]) + (", ..." if len(built) > 12 else "")
        return [
            f"harness: the test database has no table {table!r}: the schema harness built has only {shown}. Is "
            f"{table!r} declared on another Base, or in a module that the one defining the metadata does not import "
            "(SQLAlchemy knows only imported models)? Or did the migrations not create it?",
        ]
    cause = "no schema was given, so harness built an empty database" if built is not None else (
        "if no schema was given, harness built an empty database")
    return [
        f"harness: the test database has no table {table!r}: {cause}. Name the schema once for the run, in "
        "setup.cfg or tox.ini:",
        "    [harness]",
        "    metadata = myapp.models:Base.metadata",
        "  or: migrations = alembic.ini   (alembic upgrade head; relative to that file)",
        "harness: or on the test class: metadata = Base.metadata (or migrations = 'alembic.ini'); or, for "
        "db_session, in conftest.py: @pytest.fixture(scope='session') def harness_metadata(): return Base.metadata",
    ]


def watch_missing_tables(engine: Engine) -> None:
    """Note on the running test every statement of ``engine`` that fails on a missing table (for its report)."""
    event.listen(engine, "handle_error", _note_missing_table)


def _note_missing_table(context: Any) -> None:
    current = current_test_or_none()
    if current is not None:
        table = missing_table(context.original_exception)
        if table is not None:
            current.missing_tables.append(table)


def default_schema(config: IntegrationTestConfig, *, sqlite: bool = False) -> tuple[MetaData | None, str | None]:
    """The run's schema settings, resolved: (metadata, migrations); an SQLite database takes the metadata alone."""
    metadata = configured_metadata(config)
    if not sqlite:
        return metadata, configured_migrations(config)
    if metadata is None and config.migrations is not None:
        raise ConfigError(f"{_origin(config.migrations, 'migrations')} cannot build an SQLite database (migrations "
                          "need database = 'postgresql'): give the class metadata = Base.metadata, or set the "
                          "metadata setting too.")
    return metadata, None


def explain_missing_table(error: BaseException, built: Sequence[str] | None) -> None:
    """Add :func:`missing_table_hint`'s lines to ``error`` as notes, when it is about a missing table."""
    table = missing_table(error)
    if table is not None and hasattr(error, "add_note"):  # Python 3.11+; older ones print the error alone
        for line in missing_table_hint(table, built):
            error.add_note(line)
