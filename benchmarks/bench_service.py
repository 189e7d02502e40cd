"""ServiceIntegrationTest: cold class setup (services in parallel vs one after another), and an API test's cost, 4 ways.

1. Class setup, cold, for postgres + redis + kafka + the orders app (an AppProcess of
   ``python -m samples.orders``). Every repeat runs in a fresh child process
   (``bench_service.py --child parallel|serial``), so no server is reused; the child imports
   what it needs (untimed), then times:
   - the services: ``registry.acquire_all(SERVICES)`` (parallel) vs ``registry.acquire(name)``
     for each in turn (serial), and each service's own acquire (the child wraps ``registry.acquire``,
     which acquire_all's threads call). The first acquire of a process also makes the run
     directory and starts the reaper; PostgreSQL starts from harness's cached initialised cluster;
   - the rest of ``setUpClass`` of a ServiceIntegrationTest class, the services being up: the
     schema's database, the Redis lease, the Kafka admin client and class topic, and the app's
     start (``AppProcess.start`` until ``GET /health`` answers, timed on its own too).
   Its tearDownClass (the app's stop timed on its own too) and the registry's shutdown are timed
   apart, not counted. The child prints its figures as JSON; parallel and serial children
   alternate. For where the app's start goes, ``python -c pass``, ``python -c "import
   samples.orders.app, uvicorn"`` and the same with ``psycopg`` (the driver the app loads at its
   first request) are timed from the spawn until the code has run, and from then until they exited.

2. Per-test cost of an API test: POST /orders, GET /orders/{id}, the row checked with a session,
   the order_created event checked on Kafka. N tests of one generated class run by a unittest
   TestSuite with a quiet TestResult; a test runs from the result's startTest to its stopTest,
   which brackets the per-test setup and teardown (harness's, the reset included) but not the
   class setup. The per-test cost of a round is the N tests' span divided by N. Four ways, on
   servers started once by this process:
   (a) ServiceIntegrationTest, the app in-process (ASGIApp) with ``session_dependency``: each
       test rolled back;
   (b) ServiceIntegrationTest, the app as a process (AppProcess), ``app_reset = "truncate"`` (default);
   (b2) the same with ``app_reset = "capture"``;
   (c) by hand, with benchmarks/_orders_handwritten.py: a unittest.TestCase that starts the app's
       uvicorn subprocess on a database it creates, one httpx.Client for the class, and per test
       a Session and a raw kafka-python KafkaConsumer (bootstrap_servers only, positioned at the
       topic's end before the POST); after each test TRUNCATE + re-seed and FLUSHDB (harness
       empties the class's Redis database after each test too).
   The variants run in rounds, their order rotated each round, after an untimed warm-up round.
   The breakdown (setup / body / teardown / the reset) hooks harness's per-test step
   (``_harness_setup_test``) and its reset strategy (``_harness_db.reset``): internals, read here only.
"""

# ruff: noqa: E402 - this checkout's root goes first on sys.path before harness and samples are imported
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's harness and samples, not an installed harness

import json
import os
import statistics
import subprocess
import time
import unittest
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar

import httpx
import psycopg
import redis
from _common import leftovers, parse_args, ratio, summarize
from _orders_handwritten import start_app, stop_app, truncate_all
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import harness
from harness import AppProcess, ASGIApp, ServiceIntegrationTest
from harness.config import get_config
from harness.data import schema
from harness.registry import registry
from harness.services.postgres import database_url, sqlalchemy_url
from harness.services.redis import database_url as redis_database_url
from samples.orders.models import Base, Customer, Order

with warnings.catch_warnings():  # kafka-python 3.0 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka

SERVICES = ("postgres", "redis", "kafka")
ORDERS_COMMAND = [sys.executable, "-m", "samples.orders"]
EMAIL = "ada@example.com"
LINES = [{"sku": "tea", "quantity": 2, "unit_cents": 350}]
TOTAL_CENTS = 700
EVENT_TIMEOUT = 10.0
CHILD_TIMEOUT = 180.0


# -- 1. cold class setup, in a child process -------------------------------------------------------


class TimedAppProcess(AppProcess):
    """An AppProcess that keeps how long its last ``start()`` (until ``GET /health`` answered) and ``stop()`` took."""

    start_seconds: float | None = None
    stop_seconds: float | None = None

    def start(self, env: Mapping[str, str]) -> str:
        started = time.perf_counter()
        try:
            return super().start(env)
        finally:
            self.start_seconds = time.perf_counter() - started

    def stop(self) -> None:
        started = time.perf_counter()
        try:
            super().stop()
        finally:
            if self.stop_seconds is None:  # the first stop, not the harmless second one
                self.stop_seconds = time.perf_counter() - started


def orders_process() -> AppProcess:
    return AppProcess(ORDERS_COMMAND, cwd=str(ROOT), env={"PYTHONUNBUFFERED": "1"}, health_path="/health")


def child(mode: str) -> None:
    """One cold class setup in this fresh process; print its figures as one JSON line."""
    config = get_config()
    own: dict[str, float] = {}
    acquire = registry.acquire

    def timed_acquire(name: str, given: Any = None) -> Any:
        started = time.perf_counter()
        endpoint = acquire(name, given)
        own[name] = time.perf_counter() - started
        return endpoint

    app = TimedAppProcess(ORDERS_COMMAND, cwd=str(ROOT), env={"PYTHONUNBUFFERED": "1"}, health_path="/health")
    test_class = type("ColdOrdersTest", (ServiceIntegrationTest,), {
        "metadata": Base.metadata, "topics": ("order-events",), "app": app, "test_nothing": lambda self: None,
    })
    figures: dict[str, Any] = {"mode": mode, "pid": os.getpid()}
    try:
        registry.acquire = timed_acquire  # type: ignore[method-assign]  # acquire_all's threads call self.acquire
        started = time.perf_counter()
        if mode == "parallel":
            registry.acquire_all(list(SERVICES), config)
        else:
            for name in SERVICES:
                registry.acquire(name, config)
        figures["services"] = time.perf_counter() - started
        del registry.acquire  # back to the class's method
        figures["own"] = own
        started = time.perf_counter()
        test_class.setUpClass()
        figures["rest"] = time.perf_counter() - started
        figures["app_start"] = app.start_seconds
        started = time.perf_counter()
        test_class.tearDownClass()
        test_class.doClassCleanups()
        figures["teardown"] = time.perf_counter() - started
        figures["app_stop"] = app.stop_seconds
    finally:
        started = time.perf_counter()
        schema.drop_shared_databases()
        registry.shutdown()
        figures["shutdown"] = time.perf_counter() - started
    print(json.dumps(figures))


def cold_setups(mode: str) -> dict[str, Any]:
    """Run one child; its figures."""
    process = subprocess.run(
        [sys.executable, __file__, "--child", mode], capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT,
        check=False,
    )
    if process.returncode != 0:
        raise SystemExit(f"the {mode} child failed (exit code {process.returncode}):\n{process.stderr[-4000:]}")
    return dict(json.loads(process.stdout.strip().splitlines()[-1]))


def spawn_seconds(code: str) -> tuple[float, float]:
    """``python -c code`` in the checkout: seconds from the spawn until ``code`` has run, and from then until it exited.

    The second is the interpreter's exit with those modules loaded: what stopping the app waits for too.
    """
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", f"{code}; print('done', flush=True)"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    with process.stdout:
        line = process.stdout.readline()
        ran = time.perf_counter()
    code_seconds = ran - started
    if process.wait() != 0 or line.strip() != "done":
        raise SystemExit(f"python -c {code!r} failed (exit code {process.returncode})")
    return code_seconds, time.perf_counter() - ran


APP_IMPORTS = "import samples.orders.app, uvicorn"
APP_IMPORTS_AND_DRIVER = APP_IMPORTS + ", psycopg"  # the app loads its database driver at its first request
COMMANDS = ("pass", APP_IMPORTS, APP_IMPORTS_AND_DRIVER)


def report_cold(runs: list[dict[str, Any]], commands: dict[str, list[tuple[float, float]]]) -> None:
    by_mode = {mode: [run for run in runs if run["mode"] == mode] for mode in ("parallel", "serial")}
    medians: dict[str, dict[str, float]] = {}
    for mode, found in by_mode.items():
        print(f"\n {mode}: {'registry.acquire_all' if mode == 'parallel' else 'registry.acquire, one after another'}")
        for name in SERVICES:
            summarize(f"{name}, its own acquire", [run["own"][name] for run in found])
        own_sum = statistics.median(sum(run["own"].values()) for run in found)
        slowest = statistics.median(max(run["own"].values()) for run in found)
        medians[mode] = {
            "services": summarize("the three services", [run["services"] for run in found]),
            "total": summarize("class setup (services + the rest)", [run["services"] + run["rest"] for run in found]),
        }
        print(f"  (per run: sum of the three own acquires, median {own_sum * 1000:.0f} ms; "
              f"the slowest of them, median {slowest * 1000:.0f} ms)")
    everything = by_mode["parallel"] + by_mode["serial"]
    print("\n the rest of setUpClass, the services being up (both modes)")
    rest = summarize("rest of setUpClass", [run["rest"] for run in everything])
    app_start = summarize("of which the app's start (AppProcess.start)", [run["app_start"] for run in everything])
    print(f"  of which the database, the Redis lease, the topic: {(rest - app_start) * 1000:.0f} ms")
    summarize("tearDownClass", [run["teardown"] for run in everything])
    summarize("of which the app's stop (AppProcess.stop)", [run["app_stop"] for run in everything])
    summarize("registry.shutdown (servers stopped)", [run["shutdown"] for run in everything])
    print("\n where the app's start goes: python -c <code> in the checkout, from the spawn until <code> has run")
    interpreter = summarize("python -c pass", [ran for ran, _ in commands["pass"]])
    imported = summarize("python -c '<the app's imports>'", [ran for ran, _ in commands[APP_IMPORTS]])
    driver = summarize("python -c '<the app's imports>, psycopg'", [ran for ran, _ in commands[APP_IMPORTS_AND_DRIVER]])
    print(f"  interpreter {interpreter * 1000:.0f} ms + the app's imports {(imported - interpreter) * 1000:.0f} ms "
          f"+ its database driver {(driver - imported) * 1000:.0f} ms; the rest of AppProcess.start "
          f"(uvicorn starting, the app's first request, the probe, harness's launch) "
          f"{(app_start - driver) * 1000:.0f} ms")
    summarize("then the interpreter's exit, those loaded", [exited for _, exited in commands[APP_IMPORTS_AND_DRIVER]])
    print()
    ratio("services serial", medians["serial"]["services"], "parallel", medians["parallel"]["services"])
    ratio("class setup serial", medians["serial"]["total"], "parallel", medians["parallel"]["total"])


# -- 2. per-test cost of an API test ---------------------------------------------------------------


class Records:
    """What one class's run recorded: per-test phase seconds, in test order."""

    def __init__(self) -> None:
        self.phases: list[dict[str, float]] = []

    def begin(self) -> dict[str, float]:
        self.phases.append({})
        return self.phases[-1]


@contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


def api_test(
    phases: dict[str, float], session: Session, post: Callable[..., Any], get: Callable[..., Any],
    event_published: Callable[[int], None],
) -> None:
    """The test body every variant runs."""
    with timed(phases, "POST"):
        customer_id = session.scalars(select(Customer.id).where(Customer.email == EMAIL)).one()
        response = post("/orders", json={"customer_id": customer_id, "lines": LINES})
        if response.status_code != 201:
            raise AssertionError(f"POST /orders answered {response.status_code}: {response.text}")
        order = response.json()
    with timed(phases, "GET"):
        read = get(f"/orders/{order['id']}")
        if read.status_code != 200 or read.json()["total_cents"] != TOTAL_CENTS:
            raise AssertionError(f"GET /orders/{order['id']} answered {read.status_code}: {read.text}")
    with timed(phases, "row"):
        row = session.get(Order, order["id"])
        if row is None or row.total_cents != TOTAL_CENTS:
            raise AssertionError(f"order {order['id']} is not in the database as posted")
    with timed(phases, "event"):
        event_published(order["id"])


class _TimedReset:
    """Stands in for a class's reset strategy: the same reset, its seconds recorded."""

    def __init__(self, strategy: Any, records: Records) -> None:
        self.strategy = strategy
        self.records = records

    def reset(self) -> int:
        started = time.perf_counter()
        try:
            return int(self.strategy.reset())
        finally:
            self.records.phases[-1]["reset"] = time.perf_counter() - started


class HarnessOrdersTest(ServiceIntegrationTest):
    """The API test on harness; the generated classes set ``app`` (and the session or the reset)."""

    metadata = Base.metadata
    topics = ("order-events",)
    _records: ClassVar[Records]

    @classmethod
    def seed_data(cls, session: Session) -> None:
        session.add(Customer(email=EMAIL, name="Ada"))
        session.commit()

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        state = cls.__dict__.get("_harness_db")
        if state is not None and state.reset is not None:
            state.reset = _TimedReset(state.reset, cls._records)

    def _harness_setup_test(self, stack: ExitStack) -> None:
        phases = type(self)._records.begin()
        stack.callback(self._end_phase, phases, "teardown")  # pushed first, so it runs last
        started = time.perf_counter()
        super()._harness_setup_test(stack)
        phases["setup"] = time.perf_counter() - started
        stack.callback(self._start_phase, phases, "teardown")  # pushed last, so it runs first

    @staticmethod
    def _start_phase(phases: dict[str, float], name: str) -> None:
        phases[name] = time.perf_counter()

    @staticmethod
    def _end_phase(phases: dict[str, float], name: str) -> None:
        phases[name] = time.perf_counter() - phases[name]

    def run_api_test(self) -> None:
        phases = type(self)._records.phases[-1]
        with timed(phases, "body"):
            api_test(phases, self.session, self.api.post, self.api.get, self._event_published)

    def _event_published(self, order_id: int) -> None:
        self.assert_published("order-events", {"type": "order_created", "order_id": order_id},
                              timeout=EVENT_TIMEOUT)


class HandWrittenOrdersTest(unittest.TestCase):
    """The API test wired by hand: the app's subprocess, a database of its own, TRUNCATE + re-seed per test."""

    _records: ClassVar[Records]
    engine: ClassVar[Any]
    http: ClassVar[httpx.Client]
    cache: ClassVar[redis.Redis]
    bootstrap: ClassVar[str]
    topic: ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        postgres, cache, broker = endpoints = [registry.acquire(name) for name in SERVICES]  # the same servers
        for endpoint in endpoints:
            cls.addClassCleanup(registry.release, endpoint)
        name = f"bench_handwritten_{os.getpid()}"
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        cls.addClassCleanup(cls._drop_database, postgres.url, name)
        cls.engine = create_engine(sqlalchemy_url(postgres, name))
        cls.addClassCleanup(cls.engine.dispose)
        Base.metadata.create_all(cls.engine)
        cls.seed()
        cls.bootstrap = broker.url
        cls.topic = f"bench-handwritten-orders-{os.getpid()}"
        topics = kafka.KafkaAdminClient(bootstrap_servers=cls.bootstrap)
        cls.addClassCleanup(topics.close)
        topics.create_topics([kafka.admin.NewTopic(cls.topic, num_partitions=1, replication_factor=1)])
        cls.addClassCleanup(topics.delete_topics, [cls.topic])
        # Database 0 holds harness's leases, which start at 1: the last one is free.
        redis_url = redis_database_url(cache.url, int(cache.details.get("databases", 16)) - 1)
        cls.cache = redis.Redis.from_url(redis_url)
        cls.addClassCleanup(cls.cache.close)
        cls.addClassCleanup(cls.cache.flushdb)
        process, base_url = start_app({
            "DATABASE_URL": database_url(postgres, name), "REDIS_URL": redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": cls.bootstrap, "ORDER_EVENTS_TOPIC": cls.topic,
        })
        cls.addClassCleanup(stop_app, process)
        cls.http = httpx.Client(base_url=base_url, timeout=10.0)
        cls.addClassCleanup(cls.http.close)

    @classmethod
    def seed(cls) -> None:
        with Session(cls.engine) as session:
            session.add(Customer(email=EMAIL, name="Ada"))
            session.commit()

    @staticmethod
    def _drop_database(url: str, name: str) -> None:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def setUp(self) -> None:
        phases = type(self)._records.begin()
        with timed(phases, "setup"):
            self.session = Session(self.engine)
            self.consumer = kafka.KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            partition = kafka.TopicPartition(self.topic, 0)
            self.consumer.assign([partition])
            self.consumer.seek_to_end(partition)
            self.consumer.position(partition)  # resolved now: the event comes after this offset

    def tearDown(self) -> None:
        phases = type(self)._records.phases[-1]
        with timed(phases, "teardown"):
            self.consumer.close()
            self.session.close()
            with timed(phases, "reset"):
                truncate_all(self.engine)
                self.seed()
            self.cache.flushdb()

    def run_api_test(self) -> None:
        phases = type(self)._records.phases[-1]
        with timed(phases, "body"):
            api_test(phases, self.session, self.http.post, self.http.get, self._event_published)

    def _event_published(self, order_id: int) -> None:
        deadline = time.monotonic() + EVENT_TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=100).values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("type") == "order_created" and event.get("order_id") == order_id:
                        return
                    seen.append(event)
        raise AssertionError(f"no order_created event for order {order_id} within {EVENT_TIMEOUT:g}s; saw {seen}")


VARIANTS = ("(a) in-process ASGIApp, rollback", "(b) AppProcess, truncate", "(b2) AppProcess, capture",
            "(c) hand-written")


def make_class(variant: str, tests: int, records: Records) -> type[unittest.TestCase]:
    """A new class of ``tests`` API tests for ``variant`` (its own app runner: runners are not shared)."""
    attributes: dict[str, Any] = {"_records": records}
    attributes.update({f"test_{number:03d}": lambda self: self.run_api_test() for number in range(tests)})
    if variant == VARIANTS[3]:
        return type("HandWrittenOrders", (HandWrittenOrdersTest,), attributes)
    if variant == VARIANTS[0]:
        attributes.update(app=ASGIApp("samples.orders.app:app"), session_dependency="samples.orders.app:get_db")
    else:
        attributes.update(app=orders_process(), app_reset="capture" if variant == VARIANTS[2] else "truncate")
    return type("HarnessOrders", (HarnessOrdersTest,), attributes)


class TimingResult(unittest.TestResult):
    """A quiet result that keeps when each test started and stopped (harness's setup and teardown inside)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[float] = []
        self.stopped: list[float] = []

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        self.started.append(time.perf_counter())
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        super().stopTest(test)
        self.stopped.append(time.perf_counter())


def run_class(variant: str, tests: int) -> dict[str, Any]:
    """Run one class of ``tests`` tests; its class setup, per-test figures and phases."""
    records = Records()
    test_class = make_class(variant, tests, records)
    suite = unittest.TestSuite(test_class(f"test_{number:03d}") for number in range(tests))
    result = TimingResult()
    started = time.perf_counter()
    suite.run(result)
    ended = time.perf_counter()
    problems = result.errors + result.failures
    if problems or result.testsRun != tests:
        detail = problems[0][1] if problems else f"{result.testsRun} of {tests} tests ran"
        raise SystemExit(f"{variant}: a test failed:\n{detail}")
    durations = [stop - start for start, stop in zip(result.started, result.stopped, strict=True)]
    return {
        "class setup": result.started[0] - started,
        "class teardown": ended - result.stopped[-1],
        "per test": (result.stopped[-1] - result.started[0]) / tests,
        "durations": durations,
        "phases": records.phases,
    }


PHASES = ("setup", "body", "POST", "GET", "row", "event", "teardown", "reset")


def report_per_test(runs: dict[str, list[dict[str, Any]]], tests: int) -> dict[str, float]:
    per_test = {}
    for variant in VARIANTS:
        per_test[variant] = summarize(f"{variant}, per test", [run["per test"] for run in runs[variant]])
    print(f"\n medians in ms (phases: over every test of every round; class setup and teardown: per round; "
          f"first: the class's first test, later: the {tests - 1} others)")
    columns = ("per test", "first", "later", *PHASES, "cls setup", "cls tdown")
    print("  " + f"{'':<34}" + "".join(f"{column:>10}" for column in columns))
    for variant in VARIANTS:
        found = runs[variant]
        values = [
            per_test[variant],
            statistics.median(run["durations"][0] for run in found),
            statistics.median(duration for run in found for duration in run["durations"][1:]),
        ]
        for phase in PHASES:
            measured = [phases[phase] for run in found for phases in run["phases"] if phase in phases]
            values.append(statistics.median(measured) if measured else float("nan"))
        values += [statistics.median(run["class setup"] for run in found),
                   statistics.median(run["class teardown"] for run in found)]
        print("  " + f"{variant:<34}" + "".join(f"{value * 1000:10.1f}" for value in values))
    print("  (setup/teardown: harness's per-test step, or the hand-written setUp/tearDown; reset: within teardown; "
          "body = POST (with the customer lookup) + GET + row + event)")
    return per_test


def compare(label: str, value: float, other_label: str, other: float) -> None:
    """The ratio of the slower to the faster."""
    if value >= other:
        ratio(label, value, other_label, other)
    else:
        ratio(other_label, other, label, value)


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    arguments = parse_args(__doc__)
    repeats, tests, rounds = (2, 10, 2) if arguments.quick else (5, 30, 5)
    print(f"harness from {Path(harness.__file__).parent}")
    print(f"1. Cold class setup of {' + '.join(SERVICES)} + the orders app, {repeats} fresh processes per mode")
    runs: list[dict[str, Any]] = []
    commands: dict[str, list[tuple[float, float]]] = {code: [] for code in COMMANDS}
    for _ in range(repeats):
        runs += [cold_setups("parallel"), cold_setups("serial")]
        for code, seconds in commands.items():
            seconds.append(spawn_seconds(code))
    report_cold(runs, commands)
    problems = leftovers([run["pid"] for run in runs])

    print(f"\n2. Per-test cost of an API test (POST, GET, row, event), {tests} tests a class, {rounds} rounds")
    per_class: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    try:
        registry.acquire_all(list(SERVICES))
        for variant in VARIANTS:  # warm-up, untimed: imports, the servers' caches, the shared database
            run_class(variant, 3)
        for number in range(rounds):  # rotated, so that no variant always runs first or after the same one
            for variant in VARIANTS[number % len(VARIANTS):] + VARIANTS[:number % len(VARIANTS)]:
                per_class[variant].append(run_class(variant, tests))
    finally:
        schema.drop_shared_databases()
        registry.shutdown()
    per_test = report_per_test(per_class, tests)
    print()
    for variant in VARIANTS[:3]:
        compare(variant, per_test[variant], VARIANTS[3], per_test[VARIANTS[3]])
    compare(VARIANTS[1], per_test[VARIANTS[1]], VARIANTS[0], per_test[VARIANTS[0]])
    compare(VARIANTS[1], per_test[VARIANTS[1]], VARIANTS[2], per_test[VARIANTS[2]])
    for problem in problems:
        print(f"PROBLEM: a cold-setup child left {problem}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
