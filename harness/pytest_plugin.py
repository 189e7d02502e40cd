"""The pytest plugin: options, fixtures, and a harness section on every failure it can explain."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.config_text import PROVIDERS  # light (the option's choices); the rest is imported where used

if TYPE_CHECKING:  # imported where used: a run that uses no harness fixture or base must not pay for them
    from sqlalchemy import MetaData
    from sqlalchemy.orm import Session

    from harness.config import IntegrationTestConfig
    from harness.data import schema
    from harness.data.leases import DatabaseLease
    from harness.data.topics import TopicManager
    from harness.http.stub import HTTPStub
    from harness.services.base import Endpoint

__all__ = [
    "db_session",
    "harness_config",
    "harness_database",
    "harness_kafka",
    "harness_metadata",
    "harness_postgres",
    "harness_redis",
    "http_stub",
    "kafka_topic",
    "kafka_topics",
    "pytest_addoption",
    "pytest_cmdline_main",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_make_collect_report",
    "pytest_runtest_makereport",
    "pytest_unconfigure",
    "pytest_xdist_make_scheduler",
    "redis_client",
]

_CONFIG_FAILED = pytest.StashKey[bool]()
_DIST_LEFT_TO_XDIST = pytest.StashKey[bool]()

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


def _configured(options: dict[str, Any]) -> bool:
    """Whether the run gives harness settings (options, HARNESS_* variables, a [harness] section) to check."""
    if any(value is not None for value in options.values()) or any(name.startswith("HARNESS_") for name in os.environ):
        return True
    from harness.config_text import find_ini

    return find_ini(Path.cwd().resolve()) is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker daemon (skipped with a reason when none answers)")
    options = {
        "provider": config.getoption("harness_provider"),
        "seed": config.getoption("harness_seed"),
        "keep": config.getoption("harness_keep"),
    }
    if not _configured(options):
        return  # nothing to check: the configuration (defaults) is built when a test first uses harness
    from harness.config import get_config, set_cli_options
    from harness.errors import ConfigError

    set_cli_options(options)
    try:
        get_config()  # a bad HARNESS_* value or [harness] entry is a usage error, said once, up front
    except ConfigError as exc:
        config.stash[_CONFIG_FAILED] = True
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_CONFIG_FAILED, False):
        return  # nothing could start without a configuration
    # An xdist controller runs no test itself but owns what its workers started; any other process
    # started something only if a test imported the registry.
    if "harness.registry" in sys.modules or config.pluginmanager.hasplugin("dsession"):
        from harness.registry import registry

        registry.shutdown()  # open steps, then the run's databases and shared state, then the servers


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    # Seen before pytest-xdist fills in its default (a wrapper runs first): did the run choose a --dist?
    option = config.option
    config.stash[_DIST_LEFT_TO_XDIST] = getattr(option, "dist", None) == "no" and not getattr(option, "distload", False)
    return (yield)


def _keeps_classes_together(config: pytest.Config) -> bool:
    """Whether xdist hands out harness classes whole (see :mod:`harness.xdist_scheduling`): unless --dist was given."""
    return config.stash.get(_DIST_LEFT_TO_XDIST, False) and config.getvalue("dist") == "load"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if not _keeps_classes_together(config):
        return None
    from harness.xdist_scheduling import HarnessClassScheduling

    return HarnessClassScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput["harness_classes_together"] = _keeps_classes_together(node.config)


@pytest.hookimpl(tryfirst=True)  # before the worker reports its collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput and workerinput.get("harness_classes_together") and "harness.bases.lifecycle" in sys.modules:
        from harness.xdist_scheduling import record_harness_classes

        record_harness_classes(session)


@pytest.fixture(scope="session")
def harness_config() -> IntegrationTestConfig:
    """The run's IntegrationTestConfig."""
    from harness.config import get_config

    return get_config()


def _running(service: str, config: IntegrationTestConfig) -> Iterator[Endpoint]:
    from harness.registry import registry

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
    from harness.data.schema_source import configured_metadata

    return configured_metadata(harness_config)


@pytest.fixture(scope="session")
def harness_database(
    harness_postgres: Endpoint, harness_metadata: MetaData | None, harness_config: IntegrationTestConfig
) -> schema.TestDatabase:
    """The database holding ``harness_metadata``'s tables, or the ``migrations`` setting's (built once per worker)."""
    from harness.data import schema
    from harness.data.schema_source import configured_migrations

    migrations = configured_migrations(harness_config)
    return schema.shared_database(harness_postgres, metadata=harness_metadata, migrations=migrations)


@pytest.fixture()
def db_session(
    request: pytest.FixtureRequest, harness_database: schema.TestDatabase, harness_config: IntegrationTestConfig
) -> Iterator[Session]:
    """A Session whose work is rolled back after the test (its commit() releases a savepoint)."""
    from sqlalchemy.orm import Session

    from harness.data.context import running_test
    from harness.data.seeding import run_seed

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
    from harness.data.topics import new_admin_client

    admin = new_admin_client(harness_kafka)
    yield admin
    admin.close()


@pytest.fixture()
def kafka_topics(harness_kafka: Endpoint, _harness_kafka_admin: Any) -> Iterator[TopicManager]:
    """This test's TopicManager: create_topic, produce, consume, assert_published, new_consumer.

    Its topics and groups are deleted, and its clients closed, after the test.
    """
    from harness.data.topics import TopicManager

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
    from harness.data.leases import close_lease, open_lease

    lease = open_lease(harness_redis, "redis_client fixture")
    yield lease
    close_lease(lease)


@pytest.fixture()
def redis_client(_harness_redis_lease: DatabaseLease) -> Iterator[Any]:
    """A ``redis.Redis`` (decoded strings) on a logical database of this process's own, emptied after the test."""
    from harness.services.redis import redis_py

    _harness_redis_lease.renew()
    client = redis_py().Redis.from_url(_harness_redis_lease.url, decode_responses=True)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def http_stub() -> Iterator[HTTPStub]:
    """A started HTTPStub (a real HTTP server on 127.0.0.1) for this test; stopped after it.

    A request that no route matched fails the test at teardown (the stub is strict).
    """
    from harness.http.stub import HTTPStub

    with HTTPStub() as stub:
        yield stub
        stub.verify()


def _uses_harness(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    lifecycle = sys.modules.get("harness.bases.lifecycle")  # a harness base's module, if a test imported one
    if lifecycle is not None and isinstance(cls, type) and issubclass(cls, lifecycle.HarnessLifecycle):
        return True
    return bool(HARNESS_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def _redact_report(report: Any) -> Any:
    """Mask every registered password in what a report will print (traceback, locals, captured output)."""
    redaction = sys.modules.get("harness.redaction")
    if redaction is None:  # nothing of harness's ran, so no password is registered
        return report
    redact_report_object = redaction.redact_report_object
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
        from harness.bases.lifecycle import HarnessLifecycle
        from harness.config import get_config
        from harness.data.schema_source import missing_table, missing_table_hint
        from harness.data.seeding import replay_hint
        from harness.data.topics import TopicManager
        from harness.registry import registry

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
    from harness.data import schema

    cls = getattr(item, "cls", None)
    state = vars(cls).get("_harness_state") or vars(cls).get("_harness_db") if isinstance(cls, type) else None
    database = getattr(state, "database", None) or getattr(item, "funcargs", {}).get("harness_database")
    return database.tables if isinstance(database, schema.TestDatabase) else None
