import re
import subprocess
import sys

import pytest

from harness.data import databases as database_namespace
from harness.registry import registry
from tests.helpers import (
    assert_nothing_left,
    clean_env,
    run_dirs_of,
    run_pytest,
    run_python,
    servers_of_run,
    write,
    write_migrations,
)

CONFTEST = '''
import pytest
from models import Base


@pytest.fixture(scope="session")
def harness_metadata():
    return Base.metadata
'''

FIXTURE_TESTS = '''
from sqlalchemy import func, select
from models import User


def test_first(db_session):
    db_session.add(User(name="same"))
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(User)) == 1


def test_second(db_session):
    db_session.add(User(name="same"))
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(User)) == 1


def test_endpoint(harness_postgres):
    assert harness_postgres.service == "postgres"
'''


def test_db_session_fixture_isolates_tests_and_leaves_nothing(models_module):
    write(models_module, "conftest.py", CONFTEST)
    write(models_module, "test_fixtures.py", FIXTURE_TESTS)
    result = run_pytest(models_module, "-p", "no:randomly")
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)


def test_the_schema_may_be_named_once_in_setup_cfg_instead_of_a_conftest(models_module):
    write(models_module, "setup.cfg", "[harness]\nmetadata = models:Base.metadata\n")
    write(models_module, "test_fixtures.py", FIXTURE_TESTS)
    result = run_pytest(models_module, "-p", "no:randomly")
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)


def test_a_test_failing_on_a_missing_table_is_told_how_to_give_the_schema(models_module):
    write(models_module, "test_fixtures.py", FIXTURE_TESTS)
    result = run_pytest(models_module, "-p", "no:randomly", "test_fixtures.py::test_first")
    assert "1 failed" in result.stdout, result.stdout + result.stderr
    section = result.stdout[result.stdout.index("- harness -"):]
    assert (
        "harness: the test database has no table 'users': no schema was given, so harness built an empty database. "
        "Name the schema once for the run, in setup.cfg or tox.ini:\n    [harness]\n"
        "    metadata = myapp.models:Base.metadata\n"
    ) in section
    assert "def harness_metadata(): return Base.metadata" in section
    assert_nothing_left(result)


def test_a_misspelt_schema_setting_fails_the_tests_that_need_it_naming_the_file(models_module):
    write(models_module, "setup.cfg", "[harness]\nmetadata = models:Bsae.metadata\n")
    write(models_module, "test_fixtures.py", FIXTURE_TESTS)
    result = run_pytest(models_module, "-p", "no:randomly")
    assert "1 passed, 2 errors" in result.stdout, result.stdout + result.stderr  # test_endpoint needs no schema
    assert (f"ConfigError: {models_module / 'setup.cfg'} [harness]: metadata = 'models:Bsae.metadata': 'models' has "
            "no attribute 'Bsae'. Did you mean 'Base'?") in result.stdout
    assert_nothing_left(result)


UNITTEST_NO_SCHEMA = '''
from harness import DatabaseTestBase
from models import User


class TestUsers(DatabaseTestBase):
    def test_add(self):
        self.session.add(User(name="ada"))
        self.session.commit()
'''


def test_a_class_failing_on_a_missing_table_under_unittest_is_told_too(models_module):
    write(models_module, "test_users.py", UNITTEST_NO_SCHEMA)
    result = run_python(["-m", "unittest", "test_users"], models_module)
    assert "FAILED (errors=1)" in result.stderr, result.stderr
    assert "harness: the test database has no table 'users': no schema was given" in result.stderr
    write(models_module, "setup.cfg", "[harness]\nmetadata = models:Base\n")
    result = run_python(["-m", "unittest", "test_users"], models_module)
    assert result.stderr.rstrip().endswith("OK"), result.stderr
    assert_nothing_left(result)


def test_migrations_named_in_setup_cfg_are_relative_to_it(models_module):
    write_migrations(models_module / "db", table="users", column="name")
    write(models_module, "setup.cfg", "[harness]\nmigrations = db/alembic.ini\n")
    (models_module / "tests").mkdir()
    write(models_module / "tests", "test_migrated.py", '''
        from sqlalchemy import text


        def test_the_migrated_table(db_session):
            db_session.execute(text("INSERT INTO users (name) VALUES ('ada')"))
            assert db_session.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
        ''')
    result = run_pytest(models_module / "tests")  # run from below the ini file
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)


def test_external_server_keeps_no_database_of_the_run(models_module):
    from harness.data.owners import owner_from_marker

    endpoint = registry.acquire("postgres")
    write(models_module, "conftest.py", CONFTEST)
    write(models_module, "test_fixtures.py", FIXTURE_TESTS)
    result = run_pytest(models_module, env=clean_env(HARNESS_POSTGRES_URL=endpoint.url))
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    databases, _now = database_namespace.list_databases(endpoint, prefix="harness_")
    owners = [owner_from_marker(comment) for _name, comment in databases]
    assert not [found for found in owners if found and found[0].pid == result.pid]  # none of the child run's


def test_provider_option_is_used(models_module):
    write(models_module, "test_x.py", "def test_x(harness_postgres):\n    pass\n")
    result = run_pytest(models_module, "--harness-provider=external")
    assert "HARNESS_POSTGRES_URL is not set" in result.stdout
    assert result.returncode == 1


def test_failure_report_has_a_harness_section(models_module):
    write(models_module, "test_x.py", "def test_x(db_session):\n    assert False\n")
    result = run_pytest(models_module, "--harness-seed=77")
    assert_nothing_left(result)
    assert "harness: Faker/factory seed 77; replay with HARNESS_SEED=77" in result.stdout
    shown = r"harness: postgres \(local\) at postgresql://postgres:\*\*\*@127\.0\.0\.1:\d+/postgres"
    assert re.search(shown, result.stdout)


def test_keep_leaves_the_server_for_harness_down(models_module):
    write(models_module, "test_x.py", "def test_x(harness_postgres):\n    print('PORT', harness_postgres.port)\n")
    process = run_pytest(models_module, "--harness-keep", "-s")
    assert "1 passed" in process.stdout
    assert "kept postgres running at postgresql://postgres:***@127.0.0.1:" in process.stderr
    owner = int(re.search(r"/run-(\d+)-", "".join(str(p) for p in _kept_dirs(models_module))).group(1))
    assert servers_of_run(owner)
    status = run_python(["-m", "harness.cli", "status"], models_module)
    assert "postgres  local   postgresql://postgres:***@127.0.0.1:" in status.stdout
    down = run_python(["-m", "harness.cli", "down"], models_module)
    assert re.search(r"stopped \d+ kept run\(s\)", down.stdout)
    assert not servers_of_run(owner) and not run_dirs_of(owner)


def _kept_dirs(project):
    """The run directories kept for ``project`` (never another project's: they may be a user's)."""
    from harness.providers.kept import kept_runs, project_root

    return [kept.directory for kept in kept_runs(project_root(project))]


KAFKA_FIXTURE_TESTS = '''
import pathlib


def test_first(kafka_topic, kafka_topics):
    kafka_topics.produce(kafka_topic, {"from": "first"})
    assert [message.value for message in kafka_topics.consume(kafka_topic)] == [{"from": "first"}]
    pathlib.Path("topics.log").open("a").write(kafka_topic + "\\n")


def test_second_sees_only_its_own(kafka_topic, kafka_topics):
    kafka_topics.produce(kafka_topic, {"from": "second"})
    assert [message.value for message in kafka_topics.consume(kafka_topic)] == [{"from": "second"}]
    pathlib.Path("topics.log").open("a").write(kafka_topic + "\\n")


def test_fails(kafka_topics, harness_kafka):
    kafka_topics.consume(kafka_topics.create_topic("empty"), timeout=0.2)
'''


def test_kafka_fixtures_isolate_tests_and_leave_no_topic(tmp_path, private_servers, private_kafka_admin):
    kafka_broker, kafka_admin = private_servers("kafka"), private_kafka_admin  # this module's own broker
    write(tmp_path, "test_kafka.py", KAFKA_FIXTURE_TESTS)
    before = set(kafka_admin.list_topics())
    result = run_pytest(tmp_path, "-p", "no:randomly", env=clean_env(HARNESS_KAFKA_BOOTSTRAP=kafka_broker.url))
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    first, second = (tmp_path / "topics.log").read_text().split()
    assert first != second
    assert "0 of 1 expected message(s) arrived within 0.2s" in result.stdout
    assert re.search(r"harness: this test's topics and groups: harness\.\w+\.main\.t\d+\.\*", result.stdout)
    assert re.search(rf"harness: kafka \(external\) at {re.escape(kafka_broker.url)}", result.stdout)
    assert set(kafka_admin.list_topics()) == before
    assert_nothing_left(result)


REDIS_FIXTURE_TESTS = '''
def test_first(redis_client):
    assert redis_client.set("counter", 1, nx=True)
    assert redis_client.incr("counter") == 2


def test_second_starts_empty(redis_client, harness_redis):
    assert redis_client.keys() == []  # test_first's key would be here if the database were not emptied
    assert redis_client.set("counter", 1, nx=True)
    assert harness_redis.service == "redis"


def test_fails(redis_client):
    redis_client.set("left", "x")
    assert False
'''


def test_redis_fixtures_isolate_tests_and_leave_no_key(tmp_path, private_servers):
    from tests.conftest import redis_dbs_in_use

    redis_server = private_servers("redis")  # this module's own: nothing else leases on it

    write(tmp_path, "test_redis.py", REDIS_FIXTURE_TESTS)
    result = run_pytest(tmp_path, "-p", "no:randomly", env=clean_env(HARNESS_REDIS_URL=redis_server.url))
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert re.search(r"harness: redis \(external\) at redis://:\*\*\*@127\.0\.0\.1:\d+/0", result.stdout)
    assert redis_dbs_in_use(redis_server) == ({}, [])
    assert_nothing_left(result)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HARNESS_SEED", "notanumber",
         "ERROR: HARNESS_SEED='notanumber' is not valid: expected a whole number. Fix or unset HARNESS_SEED."),
        ("HARNESS_PROVIDER", "lokal",
         "ERROR: provider='lokal' is not a provider; valid values: auto, local, docker, external. "
         "Did you mean 'local'?"),
    ],
)
def test_a_bad_setting_is_a_usage_error_not_an_internal_error(tmp_path, variable, value, message):
    write(tmp_path, "test_x.py", "def test_x():\n    pass\n")
    result = run_pytest(tmp_path, env=clean_env(**{variable: value}))
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's own code for a usage error
    assert result.stderr.strip() == message
    assert "INTERNALERROR" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_loading_the_plugin_imports_nothing_heavy():
    """Every pytest run of a user who installed harness loads the plugin: it must cost next to nothing."""
    probe = (
        "import sys, pytest; before = set(sys.modules); import harness.pytest_plugin; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    heavy = [name for name in loaded if name.split(".")[0] in ("sqlalchemy", "factory", "faker", "kafka", "redis",
                                                               "psycopg", "requests", "httpx")]
    harness_modules = sorted(name for name in loaded if name.startswith("harness"))
    assert heavy == []
    assert harness_modules == ["harness", "harness.config_text", "harness.pytest_plugin"]
    assert "configparser" not in loaded  # ~2 ms in every run; needed only where an ini file names [harness]


def test_a_run_that_uses_no_harness_feature_starts_nothing(tmp_path):
    write(tmp_path, "test_plain.py", """
        import sys

        def test_plain():
            assert "harness.registry" not in sys.modules and "sqlalchemy" not in sys.modules
    """)
    result = run_pytest(tmp_path, "test_plain.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_nothing_left(result)
