"""pytest-xdist ``-n 2`` against a serial run of the same 400-test suite, and where the time goes.

Generates, in a temp dir, 4 test modules x 5 classes x 20 tests, in variants:

- ``plain``: plain pytest classes, no harness base, no database: pytest-xdist's
  own cost on this machine (harness's plugin is installed, so loaded, as in all);
- ``light``: DatabaseTestBase classes on three tables (customers, products,
  orders; class-wide rows from ``seed_data``); each test inserts an order or two
  and counts them (~2 ms): the start-up and the servers are the bottleneck;
- ``light, bytecode cached``: the same with ``PYTHONDONTWRITEBYTECODE`` unset and
  ``PYTHONPYCACHEPREFIX`` in the temp dir, so that compiled and assertion-rewritten
  modules are cached from the untimed warm-up run on, as on a usual developer
  machine (this one sets PYTHONDONTWRITEBYTECODE=1: every process then compiles
  and rewrites harness, Faker and the test modules from source);
- ``work``: as ``light``, and each test does ~20 ms of its own work (a Python
  loop calibrated here to ~15 ms and a ``generate_series`` aggregate): the tests
  are the bottleneck.

Each variant runs ``python -m pytest -q -p no:cacheprovider -p bench_timer``
serially and with ``-n 2``: each run a fresh process tree, the modes
alternating after one untimed ``-n 2`` warm-up. Shown: the median wall time
(launch to exit, servers stopped) of each mode and their ratio (below 1.00x:
``-n 2`` is faster). The bytecode-cached ``light`` variant also runs
``-n 2 --dist load``: xdist's own chunks, which split classes between the workers
(given no ``--dist``, harness hands each of its classes whole to one worker, so
that a class is set up once: the "class setups" row counts ``seed_data`` runs).

The breakdown is measured, not guessed: ``bench_timer``, a plugin in the
generated suite loaded with ``-p`` (so before the entry-point plugins, and in
every xdist worker too), makes each pytest process (the serial runner; the xdist
controller and each worker) append timestamps to a file (``time.monotonic``, one
clock for all processes): its creation (from /proc/self/stat); pytest imported;
each entry-point plugin registered (the time since the previous one is that
plugin's import); configured; collection done; its tests' first start and last
end and the sums of their setup/call/teardown durations; its unconfigure; and
spans around harness's own steps, wrapped in place once collection has
imported harness (before any test runs): ``Registry.acquire`` (start
PostgreSQL, or attach to another worker's), ``Run.ensure`` (run directory and
reaper), ``Run.locked`` (waiting for the run's lock) and
``schema.shared_database`` (the process's database and tables). Each row is the
median over the runs of one run's figure; in a run, a test-process figure is
the median over the workers, except the lock wait, the wait between collection
and the first test (xdist starts no test before every worker has collected) and
the last test's end: the largest. "other setup/teardown" is what pytest timed
as setup and teardown minus the acquire and database spans: class setups
(class transaction, seed_data) and each test's isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import leftovers, parse_args, ratio

CLASSES_PER_MODULE, MODULES, TESTS_PER_CLASS = 5, 4, 20

MODELS = """
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(120), unique=True)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(20), unique=True)
    price: Mapped[int]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("orders_by_customer", "customer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
"""

MODULE_HEADER = """
from sqlalchemy import func, select, text

from bench_timer import class_set_up
from models import Base, Customer, Order, Product
from harness import DatabaseTestBase

WORK_LOOPS = {loops}


def own_work(session):
    total = 0
    for number in range(WORK_LOOPS):
        total += number * number % 7
    if WORK_LOOPS:
        total += session.scalar(text("SELECT sum(x) FROM generate_series(1, 20000) AS x"))
    return total
"""

CLASS = """

class TestOrders{number:02d}(DatabaseTestBase):
    metadata = Base.metadata

    @classmethod
    def seed_data(cls, session):
        class_set_up()
        cls.customer = Customer(name="Ada", email="ada@example.com")
        cls.products = [Product(sku=f"SKU-{{n}}", price=100 * n) for n in range(1, 4)]
        session.add_all([cls.customer, *cls.products])
"""

TEST = """
    def test_{number:02d}(self):
        own_work(self.session)
        for product in self.products[: {number} % 2 + 1]:
            self.session.add(Order(customer_id=self.customer.id, product_id=product.id, quantity={number}))
        self.session.commit()
        query = select(func.count()).select_from(Order).where(Order.customer_id == self.customer.id)
        assert self.session.scalar(query) == {number} % 2 + 1
        assert self.session.scalar(select(func.count()).select_from(Product)) == 3
"""

PLAIN_CLASS = """

class TestPlain{number:02d}:
"""

PLAIN_TEST = """
    def test_{number:02d}(self):
        assert {number} % 2 + 1 in (1, 2)
        assert [{number}] * 3 != []
"""

TIMER = '''
"""bench_xdist.py's timestamps (loaded with -p: before the entry-point plugins), to $HARNESS_BENCH_EVENTS."""
import atexit
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path

import pytest

EVENTS = os.environ["HARNESS_BENCH_EVENTS"]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_durations = {"setup": 0.0, "call": 0.0, "teardown": 0.0}
_marks = {"previous": time.monotonic()}


def emit(event, start, end=None, **extra):
    line = {"worker": WORKER, "pid": os.getpid(), "event": event, "start": start,
            "end": start if end is None else end, **extra}
    with open(EVENTS, "a") as handle:
        handle.write(json.dumps(line) + "\\n")


def process_created():
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    since_boot = ticks / os.sysconf("SC_CLK_TCK")
    return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot)


emit("pytest_imported", process_created(), _marks["previous"])
atexit.register(lambda: emit("atexit_last", time.monotonic()))  # registered first: runs after every other


def pytest_plugin_registered(plugin, manager):
    now = time.monotonic()
    name = manager.get_name(plugin) or ""
    if now - _marks["previous"] > 0.002 and not name.startswith(("_pytest", "builtins")):
        emit("plugin", _marks["previous"], now, name=name)  # the time since the previous one: importing it
    _marks["previous"] = now


def timed(owner, name, event, registry):
    original = getattr(owner, name, None)
    if original is None:
        return  # renamed in this harness: that row stays empty

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        before = len(getattr(registry, "_providers", {}))
        start = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            emit(event, start, time.monotonic(), started=len(getattr(registry, "_providers", {})) > before)

    setattr(owner, name, wrapper)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    emit("configured", _marks["previous"], time.monotonic())


def pytest_collection_finish(session):
    emit("collected", _marks["previous"], time.monotonic())
    if "harness.registry" not in sys.modules:
        return  # harness not in use (a lazy plugin imports it only for tests that use it): nothing to time
    import harness.registry
    from harness.data import schema
    from harness.providers import rundir

    registry = harness.registry.registry
    timed(harness.registry.Registry, "acquire", "acquire", registry)
    timed(rundir.Run, "ensure", "run_ensure", registry)
    timed(schema, "shared_database", "database", registry)
    original_locked = getattr(rundir.Run, "locked", None)
    if original_locked is None:
        return

    @contextlib.contextmanager
    def locked(self, name=""):
        waiting = time.monotonic()
        with original_locked(self, name):
            emit("lock_wait", waiting, time.monotonic(), name=name)
            yield

    rundir.Run.locked = locked


def pytest_runtest_logstart(nodeid, location):
    _marks.setdefault("first", time.monotonic())


def pytest_runtest_logreport(report):
    if getattr(report, "node", None) is None:  # an xdist controller also sees its workers' reports
        _durations[report.when] += report.duration
        _marks["last"] = time.monotonic()


def class_set_up():
    emit("class_setup", time.monotonic())


def pytest_xdist_setupnodes(config, specs):
    emit("spawn", time.monotonic())


def pytest_sessionfinish(session):
    if "last" in _marks:
        emit("tests", _marks["first"], _marks["last"], **_durations)


@pytest.hookimpl(wrapper=True)
def pytest_unconfigure(config):
    start = time.monotonic()
    try:
        return (yield)
    finally:
        emit("unconfigure", start, time.monotonic())
'''


def generate_suite(directory: Path, *, work_loops: int | None) -> None:
    """The suite in ``directory``; ``work_loops`` None: the plain variant (no harness base, no database)."""
    (directory / "models.py").write_text(MODELS)
    (directory / "bench_timer.py").write_text(TIMER)
    header, cls, test = (MODULE_HEADER, CLASS, TEST) if work_loops is not None else ("", PLAIN_CLASS, PLAIN_TEST)
    number = 0
    for module in range(MODULES):
        source = header.format(loops=work_loops)
        for _ in range(CLASSES_PER_MODULE):
            source += cls.format(number=number)
            source += "".join(test.format(number=test_number) for test_number in range(TESTS_PER_CLASS))
            number += 1
        (directory / f"test_orders_{module}.py").write_text(source)


def calibrate_loops(target_seconds: float) -> int:
    """Loop count of ``own_work``'s Python loop that takes about ``target_seconds`` here."""
    loops, timings = 100_000, []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for number in range(loops):
            total += number * number % 7
        timings.append(time.perf_counter() - started)
    return int(loops * target_seconds / statistics.median(timings))


def run_pytest(directory: Path, options: Sequence[str], *, cached: bool = False) -> tuple[float, list[dict]]:
    """One pytest run of the suite in a fresh process: (wall seconds, its events).

    ``cached``: bytecode and rewritten modules cached under ``directory`` (see the module docstring).
    """
    events = directory / "events.jsonl"
    events.unlink(missing_ok=True)
    env = {
        **os.environ,
        "HARNESS_BENCH_EVENTS": str(events),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")])),
    }
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench_timer", *options]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    OWNER_PIDS.append(process.pid)
    if process.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(options)} failed ({process.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    loaded = [json.loads(line) for line in events.read_text().splitlines()]
    for event in loaded:  # relative to the launch
        event["start"] -= started
        event["end"] -= started
    return wall, loaded


OWNER_PIDS: list[int] = []
"""Every pytest run's pid (the run's owner): what they left behind is looked for at the end."""
SUITES: list[Path] = []
"""The temp directories this script made (others may run benchmarks beside it, with theirs)."""


def _span(event: dict) -> float:
    return float(event["end"] - event["start"])


def _process_phases(events: list[dict]) -> dict[str, float]:
    """One pytest process's phases, in seconds (``at``: since the launch)."""
    first: dict[str, dict] = {}
    for event in events:
        first.setdefault(event["event"], event)

    def total(kind: str, **where: Any) -> float:
        return sum(
            _span(event)
            for event in events
            if event["event"] == kind and all(event.get(key) == value for key, value in where.items())
        )

    phases = {
        "created at": first["pytest_imported"]["start"],
        "start-up": first["configured"]["end"] - first["pytest_imported"]["start"],
        "python + pytest": _span(first["pytest_imported"]),
        "harness plugin": total("plugin", name="harness"),
        "other plugins": total("plugin") - total("plugin", name="harness"),
        "configured at": first["configured"]["end"],
        "unconfigure": _span(first["unconfigure"]),
    }
    if "tests" not in first:  # the xdist controller: it runs no tests
        return phases
    tests = first["tests"]
    acquire = total("acquire")
    database = total("database")
    phases |= {
        "collection": first["collected"]["end"] - first["configured"]["end"],
        "first test at": tests["start"],
        "idle": tests["start"] - first["collected"]["end"],
        "acquire": acquire,
        "ensure": total("run_ensure"),
        "lock wait": total("lock_wait"),
        "started": float(any(event.get("started") for event in events if event["event"] == "acquire")),
        "database": database,
        "class setups": float(sum(event["event"] == "class_setup" for event in events)),
        "call": tests["call"],
        "other setup/teardown": tests["setup"] + tests["teardown"] - acquire - database,
        "last test at": tests["end"],
    }
    return phases


ROWS = (
    ("wall", "wall (launch to exit, servers stopped)"),
    ("runner start-up", "runner/controller: start-up (process to configured)"),
    ("runner harness plugin", "  of which importing harness's plugin"),
    ("runner other plugins", "  of which importing other plugins (faker, anyio...)"),
    ("spawn at", "controller spawns the workers at"),
    ("start-up", "test process start-up (process to configured)"),
    ("python + pytest", "  python + pytest"),
    ("harness plugin", "  importing harness's plugin"),
    ("other plugins", "  importing other plugins (faker, anyio...)"),
    ("collection", "collection (imports the test modules)"),
    ("idle", "collected, waiting for the first test (longest)"),
    ("first test at", "first test starts at"),
    ("acquire", "postgres: start, or attach to another's"),
    ("ensure", "  run directory + reaper (Run.ensure)"),
    ("lock wait", "  waiting for the run's lock (longest)"),
    ("database", "the process's database + schema"),
    ("class setups", "class setups (seed_data runs), all test processes"),
    ("call", "tests' own time (sum of call)"),
    ("other setup/teardown", "other setup/teardown (classes, test isolation)"),
    ("last test at", "last test ends at (the latest process)"),
    ("after", "after the last test until exit"),
    ("runner unconfigure", "  runner/controller unconfigure (stops servers)"),
)
"""(key, label) of the breakdown's rows; test-process rows are medians over the workers (of one run)."""
LATEST = {"last test at", "lock wait", "idle"}
"""Rows taken as the largest over the workers, not the median."""
SUMMED = {"class setups"}
"""Rows summed over the workers."""


def breakdown(events: list[dict], wall: float) -> dict[str, float]:
    """Where one run's time went, keyed as in :data:`ROWS`."""
    by_worker: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_worker[event["worker"]].append(event)
    owner_events = by_worker.pop("main")
    owner = _process_phases(owner_events)
    figures = {"wall": wall, **{f"runner {key}": value for key, value in owner.items()}}
    test_processes = [_process_phases(worker_events) for worker_events in by_worker.values()] or [owner]
    for key in test_processes[0]:
        values = [phases[key] for phases in test_processes if key in phases]
        if key in SUMMED:
            figures[key] = sum(values)
        else:
            figures[key] = max(values) if key in LATEST else statistics.median(values)
    if by_worker:
        figures["spawn at"] = next(event for event in owner_events if event["event"] == "spawn")["start"]
    if "last test at" in figures:
        figures["after"] = wall - figures["last test at"]
    return figures


def run_variant(
    label: str, work_loops: int | None, repetitions: int, *, cached: bool = False, xdist_chunks: bool = False
) -> tuple[float, float]:
    """Run one variant serially and with ``-n 2``, alternating; print its table; (serial, -n 2) median walls.

    ``xdist_chunks``: also ``-n 2 --dist load``, xdist's own chunks, which split classes between the
    workers (without ``--dist``, harness hands each of its classes whole to one worker).
    """
    directory = Path(tempfile.mkdtemp(prefix="harness-bench-xdist-"))
    SUITES.append(directory)
    modes = {"serial": [], "-n 2": ["-n", "2"]}
    if xdist_chunks:
        modes["--dist load"] = ["-n", "2", "--dist", "load"]
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    try:
        generate_suite(directory, work_loops=work_loops)
        run_pytest(directory, modes["-n 2"], cached=cached)  # warm-up (caches, the cached cluster), not counted
        for _ in range(repetitions):
            for mode, options in modes.items():
                wall, events = run_pytest(directory, options, cached=cached)
                results[mode].append(breakdown(events, wall))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"\n{label}: {MODULES * CLASSES_PER_MODULE * TESTS_PER_CLASS} tests, {repetitions} runs per mode, "
        "medians in seconds ('at': since the launch)"
    )
    print(f"  {'':<54} " + " ".join(f"{mode:>12}" for mode in modes))
    for key, row_label in ROWS:
        cells = []
        for mode in modes:
            values = [figures[key] for figures in results[mode] if key in figures]
            cells.append(f"{statistics.median(values):12.3f}" if values else f"{'-':>12}")
        if any(cell.strip() != "-" for cell in cells):
            print(f"  {row_label:<54} {' '.join(cells)}")
    walls = {mode: statistics.median(figures["wall"] for figures in results[mode]) for mode in modes}
    ratio("-n 2 wall", walls["-n 2"], "serial wall", walls["serial"])
    if xdist_chunks:
        ratio("-n 2 --dist load wall", walls["--dist load"], "-n 2 wall", walls["-n 2"])
    return walls["serial"], walls["-n 2"]


def main() -> None:
    arguments = parse_args(__doc__)
    repetitions = 2 if arguments.quick else 5
    loops = calibrate_loops(0.015)
    print(f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r} here")
    walls = {
        "plain": run_variant("plain: no harness base, no database (pytest-xdist's own cost)", None, repetitions),
        "light": run_variant("light: DatabaseTestBase, start-up and servers the bottleneck", 0, repetitions),
        "light, bytecode cached": run_variant(
            "light, bytecode cached (PYTHONPYCACHEPREFIX)", 0, repetitions, cached=True, xdist_chunks=True
        ),
        "work": run_variant("work: DatabaseTestBase, ~20 ms of the tests' own work each", loops, repetitions),
    }
    print("\nSummary (median wall, seconds)")
    for label, (serial, parallel) in walls.items():
        print(f"  {label:<24} serial {serial:6.2f}   -n 2 {parallel:6.2f}   ratio {parallel / serial:.2f}x")
    # Only ours: other benchmarks may be running on this machine (their temp directories are theirs).
    left = [item for item in leftovers(OWNER_PIDS) if not item.startswith("temp directory")]
    left += [f"temp directory {directory}" for directory in SUITES if directory.exists()]
    for item in left:
        print(f"  LEFT BEHIND: {item}")
    print("nothing left behind" if not left else f"{len(left)} thing(s) left behind")


if __name__ == "__main__":
    main()
