"""ServiceIntegrationTest: the application under test, started between real services, driven over real HTTP."""

from __future__ import annotations

import os
import time
import unittest
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, ClassVar

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from harness.bases.lifecycle import HarnessLifecycle, forget_class_attributes
from harness.bases.service_state import (
    AppDatabase,
    AppTestClient,
    load_contract,
    resolve,
    topic_variable,
    url_variable,
    verify_stub,
)
from harness.data import schema
from harness.data.baseline import check_after_class, check_before_class
from harness.data.context import running_test
from harness.data.leases import close_lease, open_lease
from harness.data.manager import TestDataManager
from harness.data.messages import Headers, Match, Message
from harness.data.reset import ChangeCaptureReset, ResetStrategy, TruncateReset
from harness.data.schema_source import default_schema, missing_table_hint
from harness.data.seeding import replay_hint, run_seed
from harness.data.topics import TopicManager, new_admin_client
from harness.errors import ConfigError, ServiceUnavailable, did_you_mean
from harness.http.client import APITestClient
from harness.http.stub import HTTPStub
from harness.registry import registry
from harness.services.base import Endpoint
from harness.services.catalog import get_service
from harness.services.postgres import database_url
from harness.services.redis import redis_py

__all__ = ["APP_RESETS", "ServiceIntegrationTest", "ServiceIntegrationTestMixin"]

CRASH_GRACE_SECONDS = 0.5
"""After a request got no answer: how long a crashing app gets to be seen exiting before it is called running."""

APP_RESETS = ("truncate", "capture")
_LEAK_ADVICE = (
    "After each test harness undoes the app's writes, and after the class empties the tables, only in the tables "
    "of the class's metadata: give metadata (with migrations too) so that every table the app and the tests write "
    "to is among them."
)
OUTPUT_LINES_IN_REPORT = 60


class ServiceIntegrationTestMixin(HarnessLifecycle):
    """The application-under-test lifecycle without unittest.TestCase, for plain pytest classes.

    ``ServiceIntegrationTest`` is this plus ``unittest.TestCase``; see it for the attributes.
    """

    services: ClassVar[tuple[str, ...]] = ("postgres", "redis", "kafka")
    metadata: ClassVar[MetaData | None] = None
    migrations: ClassVar[str | None] = None
    topics: ClassVar[tuple[str, ...]] = ()
    stubs: ClassVar[tuple[str, ...]] = ()
    """HTTP stubs of the APIs the app calls: one HTTPStub per name per class, handed to the app as ``<NAME>_URL``."""
    app: ClassVar[Any] = None
    """An AppProcess, ASGIApp or WSGIApp (None: the services alone)."""
    app_reset: ClassVar[str] = "capture"
    """How rows the app committed through its own connections are undone after each test: "capture" (triggers
    record each change, reset() undoes them: cost follows what the test wrote; needs a superuser, which the
    servers harness starts give) or "truncate" (empty the tables and run seed_data again)."""
    session_dependency: ClassVar[Any] = None
    """In-process FastAPI app: its session dependency (``get_db`` or "pkg.mod:get_db"); harness overrides it with a
    session inside the test's transaction, so each test is rolled back instead of reset."""
    session_config_key: ClassVar[str | None] = None
    """In-process Flask app: the ``app.config`` key harness sets to a session factory inside the test's transaction."""
    message_timeout: ClassVar[float] = 10.0
    contract: ClassVar[Any] = None
    """Every ``self.api`` response is validated against it: a ContractTest, or an OpenAPI document's location:
    a path on the app (``"/openapi.json"``: the document the app publishes), a URL, or a file."""

    _harness_settings: ClassVar[Mapping[str, Callable[[Any], bool]]] = {
        "services": lambda value: isinstance(value, (tuple, list)),
        "metadata": lambda value: isinstance(value, MetaData),
        "migrations": lambda value: isinstance(value, (str, os.PathLike)),
        "topics": lambda value: isinstance(value, (tuple, list)),
        "stubs": lambda value: isinstance(value, (tuple, list)),
        "contract": lambda value: value is not None,
        "app": lambda value: hasattr(value, "start") and hasattr(value, "stop"),
        "app_reset": lambda value: value in APP_RESETS,
        "session_dependency": lambda value: value is not None,
        "session_config_key": lambda value: isinstance(value, str),
        "message_timeout": lambda value: isinstance(value, (int, float)),
    }

    endpoints: ClassVar[dict[str, Endpoint]]
    app_url: ClassVar[str | None]
    app_env: ClassVar[dict[str, str]]
    engine: ClassVar[Engine]
    database_url: ClassVar[str]
    redis_url: ClassVar[str]
    bootstrap_servers: ClassVar[str]
    _harness_app: ClassVar[Any]
    _harness_db: ClassVar[AppDatabase | None]
    _harness_redis: ClassVar[Any]
    _harness_topics: ClassVar[TopicManager | None]
    _harness_admin: ClassVar[Any]
    _harness_stubs: ClassVar[dict[str, HTTPStub]]
    _harness_contract: ClassVar[Any]

    api: APITestClient
    session: Session
    data: TestDataManager
    redis: Any
    kafka: TopicManager

    # -- hooks -------------------------------------------------------------------------------

    @classmethod
    def seed_data(cls, session: Session) -> None:
        """Create class-wide rows (committed: the app sees them); they are restored after every test."""

    # -- class lifecycle ---------------------------------------------------------------------

    @classmethod
    def _harness_validate(cls) -> None:
        if isinstance(cls.services, str) or not isinstance(cls.services, (tuple, list)):
            raise ConfigError(f"{cls.__qualname__}.services must be a tuple of service names, got {cls.services!r}.")
        for name in cls.services:
            get_service(name)  # an unknown name: the registered ones, with "did you mean"
        if cls.app_reset not in APP_RESETS:
            raise ConfigError(f"{cls.__qualname__}.app_reset = {cls.app_reset!r} is not valid; valid values: "
                              + ", ".join(map(repr, APP_RESETS)) + "." + did_you_mean(str(cls.app_reset), APP_RESETS))
        if isinstance(cls.stubs, str) or not all(isinstance(name, str) and name for name in cls.stubs):
            raise ConfigError(f"{cls.__qualname__}.stubs must be a tuple of names (e.g. stubs = (\"payments\",)), "
                              f"got {cls.stubs!r}.")
        needs = {"topics": "kafka", "metadata": "postgres", "migrations": "postgres"}
        for attribute, service in needs.items():
            if getattr(cls, attribute) and service not in cls.services:
                raise ConfigError(f"{cls.__qualname__}.{attribute} needs {service!r} in services "
                                  f"(services = {tuple(cls.services)!r}).")

    @classmethod
    def _harness_setup_class(cls, stack: ExitStack) -> None:
        super()._harness_setup_class(stack)
        cls._harness_validate()
        config = cls._harness_config()
        started = registry.acquire_all(list(cls.services), config)  # in parallel: the slowest, not the sum
        for endpoint in started:
            stack.callback(registry.release, endpoint)
        cls.endpoints = dict(zip(cls.services, started, strict=True))
        stack.callback(forget_class_attributes, cls, (
            "endpoints", "app_url", "app_env", "engine", "database_url", "redis_url", "bootstrap_servers",
            "_harness_app", "_harness_db", "_harness_redis", "_harness_topics", "_harness_admin", "_harness_stubs",
            "_harness_contract",
        ))
        env: dict[str, str] = {}
        for name, endpoint in cls.endpoints.items():
            env.update(get_service(name).env_vars(endpoint))
        cls._harness_db = None
        cls._harness_topics = None
        cls._harness_redis = None
        if "postgres" in cls.endpoints:
            env.update(cls._harness_setup_database(stack, cls.endpoints["postgres"], config))
        if "redis" in cls.endpoints:
            lease = open_lease(cls.endpoints["redis"], f"{cls.__module__}.{cls.__qualname__}")
            stack.callback(close_lease, lease)
            cls.redis_url = env["REDIS_URL"] = lease.url
            pool = redis_py().ConnectionPool.from_url(lease.url, decode_responses=True)
            stack.callback(pool.disconnect)
            cls._harness_redis = pool
        if "kafka" in cls.endpoints:
            endpoint = cls.endpoints["kafka"]
            cls.bootstrap_servers = endpoint.url
            cls._harness_admin = new_admin_client(endpoint)
            stack.callback(cls._harness_admin.close)
            topics = TopicManager(endpoint, timeout=cls.message_timeout, admin=cls._harness_admin)
            stack.callback(topics.cleanup)
            cls._harness_topics = topics
            for topic in cls.topics:
                env[topic_variable(topic)] = topics.create_topic(topic)
        cls._harness_stubs = {}
        for name in cls.stubs:
            stub = cls._harness_stubs[name] = HTTPStub().start()
            stack.callback(stub.stop)
            env[url_variable(name)] = stub.url
        cls.app_env = env
        cls.app_url = None
        cls._harness_app = cls.app
        if cls.app is not None:
            cls.app_url = cls.app.start(env)
            stack.callback(cls.app.stop)
            cls._harness_inject_session()
        cls._harness_contract = load_contract(cls.contract, cls.app_url, owner=cls.__qualname__)

    @classmethod
    def _harness_setup_database(cls, stack: ExitStack, endpoint: Endpoint, config: Any) -> dict[str, str]:
        metadata, migrations = cls.metadata, cls.migrations
        if metadata is None and migrations is None:
            metadata, migrations = default_schema(config)
        database = schema.shared_database(endpoint, metadata=metadata, migrations=migrations)
        if database.baseline is not None:  # the schema's database is shared: leave it as found
            check_before_class(database.engine, database.baseline, owner=cls.__qualname__)
            stack.callback(check_after_class, database.engine, database.baseline, owner=cls.__qualname__,
                           advice=_LEAK_ADVICE)
        cls.engine = database.engine
        cls.database_url = database.url
        tables = list(reversed(metadata.sorted_tables)) if metadata is not None else []
        state = AppDatabase(engine=database.engine, tables=tables, replay=replay_hint(config),
                          run_seed=run_seed(config), database=database)
        cls._harness_db = state
        stack.callback(state.truncate)
        if cls._harness_rolls_back():
            state.connection = database.engine.connect()
            stack.callback(state.close)
            state.transaction = state.connection.begin()
            with Session(bind=state.connection, join_transaction_mode="create_savepoint") as session:
                cls.seed_data(session)
                session.commit()
        else:
            state.truncate()
            with Session(database.engine) as session:
                cls.seed_data(session)
                session.commit()
            if tables:
                strategy: ResetStrategy
                assert metadata is not None  # there are tables
                if cls.app_reset == "capture":
                    strategy = ChangeCaptureReset(database.engine, metadata)
                else:
                    strategy = TruncateReset(database.engine, metadata, seed=cls._harness_reseed)
                state.reset = strategy.install()
                stack.callback(strategy.remove)
        return {"DATABASE_URL": database_url(endpoint, database.name), "PGDATABASE": database.name}

    @classmethod
    def _harness_reseed(cls, connection: Connection) -> None:
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            cls.seed_data(session)
            session.commit()

    @classmethod
    def _harness_rolls_back(cls) -> bool:
        """Whether tests are isolated by rolling back (an in-process app whose session harness injects)."""
        return cls.session_dependency is not None or cls.session_config_key is not None

    @classmethod
    def _harness_inject_session(cls) -> None:
        state = cls._harness_db
        if state is None or state.connection is None:
            return
        target = getattr(cls.app, "app", None)
        if target is None:
            raise ConfigError(
                f"{cls.__qualname__}: session_dependency and session_config_key need an in-process app "
                "(ASGIApp or WSGIApp); an AppProcess's rows are undone by app_reset instead."
            )
        if cls.session_dependency is not None:
            dependency = resolve(cls.session_dependency, f"{cls.__qualname__}.session_dependency")
            target.dependency_overrides[dependency] = state.request_session
            return
        if cls.session_config_key is not None:
            target.config[cls.session_config_key] = state.new_session

    # -- test lifecycle ----------------------------------------------------------------------

    def _harness_setup_test(self, stack: ExitStack) -> None:
        super()._harness_setup_test(stack)
        cls = type(self)
        runner = cls._harness_app
        if runner is not None:
            crashed = runner.status()
            if crashed is not None:
                raise ServiceUnavailable(f"The application under test is not running any more. {crashed}")
            self._harness_output_mark = runner.mark()
            self.api = AppTestClient(
                cls.app_url, app_status=self._harness_app_status, contract=cls._harness_contract  # type: ignore[arg-type]
            )
            if cls._harness_db is not None and cls._harness_db.connection is not None:
                self.api.settled = cls._harness_db.wait_idle
            stack.callback(self.api.close)
        state = cls._harness_db
        if state is not None:
            if state.connection is not None:
                savepoint = state.connection.begin_nested()
                self.session = Session(bind=state.connection, join_transaction_mode="create_savepoint")
                stack.callback(state.end_test, self.session, savepoint)
            else:
                self.session = Session(state.engine)
                stack.callback(state.after_test, self.session)
            current = stack.enter_context(running_test(self._harness_test_id(), self.session, run_seed=state.run_seed))
            self.data = current.data
            self._harness_current = current
        if cls._harness_redis is not None:
            self.redis = redis_py().Redis(connection_pool=cls._harness_redis)
            stack.callback(self.redis.close)
            stack.callback(self.redis.flushdb)
        for name, stub in cls._harness_stubs.items():
            stack.callback(stub.reset)  # after verify (an ExitStack unwinds in reverse), whatever it raised
            stack.callback(verify_stub, name, stub)  # a request no route matched fails the test
        if cls._harness_topics is not None:
            self.kafka = TopicManager(cls.endpoints["kafka"], timeout=cls.message_timeout, admin=cls._harness_admin)
            stack.callback(self.kafka.cleanup)
            if cls._harness_topics.topics:
                self.kafka.mark(*cls._harness_topics.topics)  # assertions see only this test's messages

    def _harness_app_status(self) -> str:
        """Why a request got no answer, as far as the app's state tells (asked only after a request failed)."""
        runner = type(self).__dict__.get("_harness_app")
        if runner is None:
            return "The app is not running (its class is not set up)."
        # An app that crashes mid-request resets the connection a moment before its process is seen to exit.
        deadline = time.monotonic() + CRASH_GRACE_SECONDS
        while (status := runner.status()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return status or f"The app ({type(runner).__name__}) is still running."

    def _harness_failure_hint(self) -> str:
        hints = [super()._harness_failure_hint()]
        cls = type(self)
        state = cls.__dict__.get("_harness_db")
        if state is not None:
            hints.append(state.replay)
            current = self.__dict__.get("_harness_current")
            if current is not None and current.missing_tables and state.database is not None:
                hints += missing_table_hint(current.missing_tables[-1], state.database.tables)
        runner = cls.__dict__.get("_harness_app")
        if runner is not None and "_harness_output_mark" in self.__dict__:
            crashed = runner.status()
            if crashed is not None:
                hints.append(f"harness: the app crashed during this test. {crashed}")
            else:
                lines = self.app_logs().splitlines()[-OUTPUT_LINES_IN_REPORT:]
                hints.append("harness: the app's output during this test:\n" + ("\n".join(lines) or "(nothing)"))
        return "\n".join(hint for hint in hints if hint)

    # -- helpers for tests -------------------------------------------------------------------

    def app_logs(self) -> str:
        """What the app printed (or, in process, logged) since this test began."""
        runner = type(self)._harness_app
        return "" if runner is None else str(runner.output_since(self.__dict__.get("_harness_output_mark", 0)))

    def topic(self, name: str) -> str:
        """The full name of the class topic ``name`` (the one the app got in ``<NAME>_TOPIC``)."""
        cls = type(self)
        if name not in cls.topics:
            raise ConfigError(f"{name!r} is not one of {cls.__qualname__}.topics {tuple(cls.topics)!r}."
                              + did_you_mean(name, cls.topics))
        assert cls._harness_topics is not None
        return cls._harness_topics.topic_name(name)

    def stub(self, name: str) -> HTTPStub:
        """The class's HTTPStub ``name`` (the one the app got in ``<NAME>_URL``); routes and records reset per test."""
        cls = type(self)
        if name not in cls.stubs:
            raise ConfigError(f"{name!r} is not one of {cls.__qualname__}.stubs {tuple(cls.stubs)!r}."
                              + did_you_mean(name, cls.stubs))
        return cls._harness_stubs[name]

    def _topic(self, topic: str) -> str:
        return self.topic(topic) if topic in type(self).topics else topic

    def produce(self, topic: str, value: Any, key: str | bytes | None = None,
                headers: Headers | None = None) -> Message:
        """Write one message to ``topic`` (a class topic's short name, or a full name)."""
        return self.kafka.produce(self._topic(topic), value, key, headers)

    def consume(self, topic: str, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """The next ``count`` messages of ``topic`` published since this test began."""
        return self.kafka.consume(self._topic(topic), count, timeout)

    def assert_published(self, topic: str, match: Match, timeout: float = 10.0) -> Message:
        """The first message of ``topic`` published since this test began that matches ``match``."""
        return self.kafka.assert_published(self._topic(topic), match, timeout)


class ServiceIntegrationTest(ServiceIntegrationTestMixin, unittest.TestCase):
    """The application under test, started between real PostgreSQL, Redis and Kafka, driven over real HTTP.

    Class attributes: ``services`` (registered services, started in parallel),
    ``metadata``/``migrations`` (the app database's schema), ``topics`` (class topics,
    handed to the app as ``<NAME>_TOPIC``), ``stubs`` (an HTTPStub per name, handed to the
    app as ``<NAME>_URL``), ``app`` (AppProcess, ASGIApp or WSGIApp), ``contract`` (every
    ``self.api`` response validated against it, e.g. ``"/openapi.json"``: the app's own
    document), ``app_reset`` and, for an in-process app, ``session_dependency`` (FastAPI) or
    ``session_config_key`` (Flask). The app gets ``DATABASE_URL``, ``REDIS_URL``,
    ``KAFKA_BOOTSTRAP_SERVERS``, ``PORT`` and the topic and stub variables. Per test:
    ``self.api``, ``self.session``/``self.data``, ``self.redis``, ``self.topic(name)``,
    ``self.stub(name)`` (its routes and records reset after each test, and a request no
    route matched fails the test), ``produce``/``consume``/``assert_published`` (only what
    was published since the test began), ``self.app_logs()``::

        class TestOrders(ServiceIntegrationTest):
            metadata = Base.metadata
            topics = ("order-events",)
            stubs = ("payments",)
            app = AppProcess(["python", "-m", "orders"], health_path="/health")
            contract = "/openapi.json"

            def test_create(self):
                self.stub("payments").when("POST", "/charges").respond(201, json={"status": "accepted"})
                response = self.api.post("/orders", json={"customer_id": 1, "lines": []})
                assert response.status_code == 201
                assert self.session.get(Order, response.json()["id"]) is not None
                self.assert_published("order-events", {"type": "order_created"})
    """
