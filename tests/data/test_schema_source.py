"""The run-wide schema settings (metadata, migrations) and what a missing table's report says."""

import sqlite3
import sys
import unittest

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from harness import ConfigError, DatabaseTestBase, IntegrationTestConfig, ServiceIntegrationTest
from harness.data.schema_source import (
    configured_metadata,
    configured_migrations,
    default_schema,
    missing_table,
    missing_table_hint,
)
from harness.registry import registry
from tests.bases.conftest import problems, run_case
from tests.models import Base, User


def load(directory, **environ):
    return IntegrationTestConfig.load(environ=environ, search_from=directory)


def test_the_settings_are_read_from_the_ini_file_and_keep_where_they_were_given(tmp_path):
    (tmp_path / "setup.cfg").write_text("[harness]\nmetadata = tests.models:Base\nmigrations = db/alembic.ini\n")
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "alembic.ini").write_text("[alembic]\n")
    (tmp_path / "tests").mkdir()
    config = load(tmp_path / "tests")  # found from a subdirectory; the path stays relative to setup.cfg
    assert config.metadata == "tests.models:Base"
    assert config.metadata.origin == f"{tmp_path / 'setup.cfg'} [harness]: metadata = 'tests.models:Base'"
    assert configured_metadata(config) is Base.metadata
    assert configured_migrations(config) == str(tmp_path / "db" / "alembic.ini")
    assert default_schema(config) == (Base.metadata, str(tmp_path / "db" / "alembic.ini"))


def test_an_environment_variable_gives_them_too_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    monkeypatch.chdir(tmp_path)
    config = load(tmp_path, HARNESS_METADATA="tests.models:Base.metadata", HARNESS_MIGRATIONS="alembic.ini")
    assert configured_metadata(config) is Base.metadata
    assert configured_migrations(config) == str(tmp_path / "alembic.ini")
    assert IntegrationTestConfig.load(environ={}, search_from=tmp_path, metadata=Base).metadata is Base


def test_a_metadata_or_declarative_base_may_be_given_itself():
    assert configured_metadata(IntegrationTestConfig(metadata=Base)) is Base.metadata
    assert configured_metadata(IntegrationTestConfig(metadata=Base.metadata)) is Base.metadata
    unset = IntegrationTestConfig()
    assert configured_metadata(unset) is None and configured_migrations(unset) is None
    with pytest.raises(ConfigError) as excinfo:
        configured_metadata(IntegrationTestConfig(metadata=42))
    assert str(excinfo.value) == ("metadata = 42 (given to IntegrationTestConfig or in config_overrides) is a int, "
                                  "not a SQLAlchemy MetaData or declarative Base.")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("tests.models.Base.metadata", " is not an import path: write the module, a colon, then the attribute, e.g. "
                                       "'myapp.models:Base.metadata' or 'myapp.models:Base'."),
        ("tests.modles:Base", ": there is no module 'tests.modles' (No module named 'tests.modles'). Check the name, "
                              "and that the package is importable where the tests run (installed, or its directory "
                              "on sys.path, e.g. pytest's pythonpath)."),
        ("tests.models:Bsae.metadata", ": 'tests.models' has no attribute 'Bsae'. Did you mean 'Base'?"),
        ("tests.models:Base.metdata", ": 'tests.models:Base' has no attribute 'metdata'. Did you mean 'metadata'?"),
        ("tests.helpers:MODELS", " names a str, not a SQLAlchemy MetaData or declarative Base (e.g. "
                                 "'myapp.models:Base.metadata')."),
        ("broken_models:Base", ": importing 'broken_models' failed: RuntimeError: the models module raised"),
    ],
)
def test_a_metadata_setting_that_cannot_be_used_names_where_it_was_given(tmp_path, monkeypatch, value, problem):
    (tmp_path / "broken_models.py").write_text("raise RuntimeError('the models module raised')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tox.ini").write_text(f"[harness]\nmetadata = {value}\n")
    config = load(tmp_path)
    with pytest.raises(ConfigError) as excinfo:
        configured_metadata(config)
    assert str(excinfo.value) == f"{tmp_path / 'tox.ini'} [harness]: metadata = {value!r}{problem}"


def test_a_migrations_setting_naming_no_file_says_where_it_looked(tmp_path):
    (tmp_path / "setup.cfg").write_text("[harness]\nmigrations = db/alembic.ini\n")
    with pytest.raises(ConfigError) as excinfo:
        configured_migrations(load(tmp_path))
    assert str(excinfo.value) == (
        f"{tmp_path / 'setup.cfg'} [harness]: migrations = 'db/alembic.ini': there is no file "
        f"{tmp_path / 'db' / 'alembic.ini'} (a relative path starts from {tmp_path}). "
        "Give the path of your alembic.ini."
    )


def count_users(session):
    return session.scalar(select(func.count()).select_from(User))


def test_a_class_naming_no_schema_gets_the_configured_one():
    seen = []

    class Case(DatabaseTestBase):
        config_overrides = {"metadata": "tests.models:Base.metadata"}

        def test_users_table(self):
            self.session.add(User(name="configured"))
            self.session.commit()
            seen.append(count_users(self.session))

    class Sqlite(Case):
        database = "sqlite"

    assert problems(run_case(Case)) == [] and problems(run_case(Sqlite)) == [] and seen == [1, 1]


def test_a_class_schema_wins_over_the_configured_one():
    seen = []

    class Case(DatabaseTestBase):
        config_overrides = {"metadata": "tests.models:Base.metadata"}

        @classmethod
        def setup_models(cls):  # a schema of the class's own: no table at all
            pass

        def test_no_users_table(self):
            seen.append(self.engine.dialect.has_table(self.connection, "users"))

    assert problems(run_case(Case)) == [] and seen == [False]


def test_a_service_test_naming_no_schema_gets_the_configured_one():
    seen = []

    class Case(ServiceIntegrationTest):
        services = ("postgres",)
        config_overrides = {"metadata": "tests.models:Base"}

        def test_users_table(self):
            self.session.add(User(name="configured"))
            self.session.flush()
            seen.append(count_users(self.session))

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert problems(result) == [] and seen == [1]


def test_migrations_alone_cannot_build_an_sqlite_database(tmp_path):
    (tmp_path / "alembic.ini").write_text("[alembic]\n")

    class Case(DatabaseTestBase):
        database = "sqlite"
        config_overrides = {"migrations": str(tmp_path / "alembic.ini")}

        def test_never_runs(self):
            raise AssertionError("must not run")

    result = run_case(Case)
    assert len(result.errors) == 1
    assert result.errors[0][1].rstrip().endswith(
        f"ConfigError: migrations = {str(tmp_path / 'alembic.ini')!r} (given to IntegrationTestConfig or in "
        "config_overrides) cannot build an SQLite database (migrations need database = 'postgresql'): give the class "
        "metadata = Base.metadata, or set the metadata setting too."
    )


# -- a missing table ------------------------------------------------------------------------------


def test_missing_tables_are_recognised_in_postgresql_and_sqlite_errors():
    postgres = create_engine(registry.acquire("postgres").url.replace("postgresql://", "postgresql+psycopg://"))
    with postgres.connect() as connection, pytest.raises(DBAPIError) as excinfo:
        connection.execute(text("SELECT * FROM accounting.ledger"))
    postgres.dispose()
    assert missing_table(excinfo.value) == "accounting.ledger"
    raw_connection = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as raw:
        raw_connection.execute("SELECT * FROM users")
    raw_connection.close()  # Python 3.13 warns of an unclosed one, wherever it is collected
    assert missing_table(raw.value) == "users"
    try:
        try:
            raise raw.value
        except sqlite3.Error as exc:
            raise RuntimeError("the repository failed") from exc
    except RuntimeError as chained:
        assert missing_table(chained) == "users"
    assert missing_table(AssertionError("no such table: users")) is None  # not a database's error
    assert missing_table(None) is None


def test_the_hint_names_the_table_and_how_to_give_the_schema():
    given = missing_table_hint("users", ())
    assert given[0] == ("harness: the test database has no table 'users': no schema was given, so harness built an "
                        "empty database. Name the schema once for the run, in setup.cfg or tox.ini:")
    assert given[1:3] == ["    [harness]", "    metadata = myapp.models:Base.metadata"]
    assert "def harness_metadata(): return Base.metadata" in given[-1]
    assert "metadata = Base.metadata (or migrations = 'alembic.ini')" in given[-1]
    assert missing_table_hint("users", None)[0].startswith(
        "harness: the test database has no table 'users': if no schema was given, harness built an empty database.")
    assert missing_table_hint("invoices", ("users", "orders"))[0].startswith(
        "harness: the test database has no table 'invoices': the schema harness built has only orders, users. Is "
        "'invoices' declared on another Base")


MISSING = "harness: the test database has no table 'users': no schema was given, so harness built an empty database."


def test_a_class_failing_on_a_missing_table_says_how_to_give_the_schema():
    class Case(DatabaseTestBase):
        def test_fails_on_the_table(self):
            self.session.add(User(name="ada"))
            self.session.flush()

        def test_fails_otherwise(self):
            raise AssertionError("unrelated")

    result = run_case(Case)
    traces = {test._testMethodName: trace for test, trace in result.errors + result.failures}
    assert MISSING in traces["test_fails_on_the_table"] and "[harness]" in traces["test_fails_on_the_table"]
    assert "no table" not in traces["test_fails_otherwise"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the hint rides on exception notes (add_note), Python 3.11+")
def test_a_seed_failing_on_a_missing_table_says_how_to_give_the_schema():
    class Case(DatabaseTestBase):
        @classmethod
        def seed_data(cls, session):
            session.add(User(name="seed"))

        def test_never_runs(self):
            raise AssertionError("must not run")

    result = run_case(Case)
    assert len(result.errors) == 1 and MISSING in result.errors[0][1], problems(result)
