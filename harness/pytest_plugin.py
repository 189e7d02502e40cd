"""The pytest plugin: options, fixtures, and a harness section on every failure it can explain."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData
from sqlalchemy.orm import Session

from harness.bases.lifecycle import HarnessLifecycle
from harness.config import PROVIDERS, IntegrationTestConfig, get_config, set_cli_options
from harness.data import schema
from harness.data.context import running_test
from harness.data.leases import DatabaseLease, close_lease, open_lease
from harness.data.schema_source import configured_metadata, configured_migrations, missing_table, missing_table_hint
from harness.data.seeding import replay_hint, run_seed
from harness.data.topics import TopicManager, new_admin_client
from harness.errors import ConfigError
from harness.redaction import redact_report_object
from harness.registry import registry
from harness.services.base import Endpoint
from harness.services.redis import redis_py

__all__ = [
    "db_session",
    "harness_config",
    "harness_database",
    "harness_kafka",
    "harness_metadata",
    "harness_postgres",
    "harness_redis",
    "kafka_topic",
    "kafka_topics",
    "pytest_addoption",
    "pytest_configure",
    "pytest_make_collect_report",
    "pytest_runtest_makereport",
    "pytest_unconfigure",
    "redis_client",
]

_CONFIG_FAILED = pytest.StashKey[bool]()

HARNESS_FIXTURES = frozenset(
    {
        "db_session", "harness_postgres", "harness_database", "harness_kafka", "kafka_topics", "kafka_topic",
        "harness_redis", "redis_client",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness integration-test services")
    group.addoption(
        "--harness-provider",
        choices=PROVIDERS,
        default=None,
        help="where services come from: auto (default), local, docker or external",
    )
    group.addoption("--harness-seed", type=int, default=None, help="seed Faker and factories (replays a failure)")
    group.addoption(
        "--harness-keep",
        action="store_true",
        default=None,
        help="leave the servers running after the run (stop them with `harness down`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    set_cli_options(
        {
            "provider": config.getoption("harness_provider"),
            "seed": config.getoption("harness_seed"),
            "keep": config.getoption("harness_keep"),
        }
    )
    config.addinivalue_line("markers", "docker: needs a Docker daemon (skipped with a reason when none answers)")
    try:
        get_config()  # a bad HARNESS_* value or [harness] entry is a usage error, said once, up front
    except ConfigError as exc:
        config.stash[_CONFIG_FAILED] = True
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_CONFIG_FAILED, False):
        return  # nothing could start without a configuration
    registry.shutdown()  # open steps, then the run's databases and other shared state, then the servers


@pytest.fixture(scope="session")
def harness_config() -> IntegrationTestConfig:
    """The run's IntegrationTestConfig."""
    return get_config()


def _running(service: str, config: IntegrationTestConfig) -> Iterator[Endpoint]:
    endpoint = registry.acquire(service, config)
    yield endpoint
    registry.release(endpoint)


@pytest.fixture(scope="session")
def harness_postgres(harness_config: IntegrationTestConfig) -> Iterator[Endpoint]:
    """A running PostgreSQL for the whole run (started once, reused, stopped at the end)."""
    yield from _running("postgres", harness_config)


@pytest.fixture(scope="session")
def harness_metadata(harness_config: IntegrationTestConfig) -> MetaData | None:
    """The MetaData whose tables db_session has: the run's ``metadata`` setting, imported on first use.

    Name it once in setup.cfg or tox.ini (``[harness]`` then ``metadata = myapp.models:Base.metadata``),
    or override this fixture in your conftest.py, keeping ``scope="session"`` (the database built from
    it lives for the whole run)::

        @pytest.fixture(scope="session")
        def harness_metadata():
            return Base.metadata
    """
    return configured_metadata(harness_config)


@pytest.fixture(scope="session")
def harness_database(
    harness_postgres: Endpoint, harness_metadata: MetaData | None, harness_config: IntegrationTestConfig
) -> schema.TestDatabase:
    """The database holding ``harness_metadata``'s tables, or the ``migrations`` setting's (built once per worker)."""
    migrations = configured_migrations(harness_config)
    return schema.shared_database(harness_postgres, metadata=harness_metadata, migrations=migrations)


@pytest.fixture()
def db_session(
    request: pytest.FixtureRequest, harness_database: schema.TestDatabase, harness_config: IntegrationTestConfig
) -> Iterator[Session]:
    """A Session whose work is rolled back after the test (its commit() releases a savepoint)."""
    with harness_database.engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            with running_test(request.node.nodeid, session, run_seed=run_seed(harness_config)):
                yield session
        finally:
            session.close()
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture(scope="session")
def harness_kafka(harness_config: IntegrationTestConfig) -> Iterator[Endpoint]:
    """A running Kafka-protocol broker for the whole run; ``harness_kafka.url`` is its bootstrap list."""
    yield from _running("kafka", harness_config)


@pytest.fixture(scope="session")
def _harness_kafka_admin(harness_kafka: Endpoint) -> Iterator[Any]:
    admin = new_admin_client(harness_kafka)
    yield admin
    admin.close()


@pytest.fixture()
def kafka_topics(harness_kafka: Endpoint, _harness_kafka_admin: Any) -> Iterator[TopicManager]:
    """This test's TopicManager: create_topic, produce, consume, assert_published, new_consumer.

    Its topics and groups are deleted, and its clients closed, after the test.
    """
    with TopicManager(harness_kafka, admin=_harness_kafka_admin) as manager:
        yield manager


@pytest.fixture()
def kafka_topic(kafka_topics: TopicManager) -> str:
    """The name of a fresh one-partition topic, deleted after the test."""
    return kafka_topics.create_topic()


@pytest.fixture(scope="session")
def harness_redis(harness_config: IntegrationTestConfig) -> Iterator[Endpoint]:
    """A running Redis for the whole run; ``harness_redis.url`` carries its password (database 0: leases)."""
    yield from _running("redis", harness_config)


@pytest.fixture(scope="session")
def _harness_redis_lease(harness_redis: Endpoint) -> Iterator[DatabaseLease]:
    lease = open_lease(harness_redis, "redis_client fixture")
    yield lease
    close_lease(lease)


@pytest.fixture()
def redis_client(_harness_redis_lease: DatabaseLease) -> Iterator[Any]:
    """A ``redis.Redis`` (decoded strings) on a logical database of this process's own, emptied after the test."""
    _harness_redis_lease.renew()
    client = redis_py().Redis.from_url(_harness_redis_lease.url, decode_responses=True)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def _uses_harness(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    if isinstance(cls, type) and issubclass(cls, HarnessLifecycle):
        return True
    return bool(HARNESS_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def _redact_report(report: Any) -> Any:
    """Mask every registered password in what a report will print (traceback, locals, captured output)."""
    report.longrepr = redact_report_object(report.longrepr)
    report.sections = redact_report_object(list(report.sections))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    return _redact_report(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = _redact_report((yield))
    if report.failed and _uses_harness(item):
        config = get_config()
        lines = [replay_hint(config)]
        instance = getattr(item, "instance", None)
        if isinstance(instance, HarnessLifecycle):
            lines += instance._harness_failure_hint().splitlines()
        table = missing_table(call.excinfo.value if call.excinfo is not None else None)
        if table is not None:
            lines += missing_table_hint(table, _built_tables(item))
        manager = getattr(item, "funcargs", {}).get("kafka_topics")
        if isinstance(manager, TopicManager):
            lines.append(f"harness: this test's topics and groups: {manager.prefix}*")
        lines += [f"harness: {endpoint.service} ({endpoint.provider}) at {endpoint.display_url}"
                  for endpoint in registry.endpoints()]
        report.sections.append(("harness", "\n".join(dict.fromkeys(lines))))
    return report


def _built_tables(item: pytest.Item) -> tuple[str, ...] | None:
    """The tables harness built for ``item``'s database (empty: no schema was given), or None when not known."""
    cls = getattr(item, "cls", None)
    state = vars(cls).get("_harness_state") or vars(cls).get("_harness_db") if isinstance(cls, type) else None
    database = getattr(state, "database", None) or getattr(item, "funcargs", {}).get("harness_database")
    return database.tables if isinstance(database, schema.TestDatabase) else None
