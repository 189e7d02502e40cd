"""Under pytest-xdist, workers share one server and are isolated by database; the controller cleans up."""

import re

import pytest

from tests.helpers import run_pytest, servers_of_run, write

pytest.importorskip("xdist")

SUITE = '''
import os
from sqlalchemy import func, select, text
from harness import DatabaseTestBase
from models import Base, User


class TestWorker{n}(DatabaseTestBase):
    metadata = Base.metadata
    isolation = "tracked"

    def test_info(self):
        port = self.engine.url.port
        database = self.session.execute(text("SELECT current_database()")).scalar_one()
        worker = os.environ["PYTEST_XDIST_WORKER"]
        with open("info.log", "a") as log:  # xdist does not forward -s output
            log.write(f"INFO worker={{worker}} port={{port}} db={{database}} ppid={{os.getppid()}}\\n")
        self.session.add(User(name="same"))
        self.session.commit()
        assert self.session.scalar(select(func.count()).select_from(User)) == 1
'''


def test_workers_share_the_server_and_not_the_data(models_module):
    for n in range(4):
        write(models_module, f"test_w{n}.py", SUITE.format(n=n))
    result = run_pytest(models_module, "-n", "2")
    assert "4 passed" in result.stdout, result.stdout + result.stderr
    log = (models_module / "info.log").read_text()
    infos = re.findall(r"INFO worker=(\w+) port=(\d+) db=(\w+) ppid=(\d+)", log)
    assert len(infos) == 4
    assert len({port for _, port, _, _ in infos}) == 1  # one server for the run
    by_worker = {worker: db for worker, _, db, _ in infos}
    assert len(by_worker) == 2 and len(set(by_worker.values())) == 2  # a database per worker
    controller = int(infos[0][3])
    assert not servers_of_run(controller)


def test_keep_under_xdist_keeps_the_workers_server(models_module):
    from harness.providers.kept import kept_runs, project_root
    from tests.helpers import run_python

    write(models_module, "test_w0.py", SUITE.format(n=0))
    result = run_pytest(models_module, "-n", "2", "--harness-keep")
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert "kept postgres running at" in result.stderr
    controller_pid = result.pid
    assert any(f"run-{controller_pid}-" in str(kept.directory) for kept in kept_runs(project_root(models_module)))
    assert servers_of_run(controller_pid)
    run_python(["-m", "harness.cli", "down"], models_module)
    assert not servers_of_run(controller_pid)


KAFKA_SUITE = '''
import os
from harness import MessageQueueTestBase


class TestWorker{n}(MessageQueueTestBase):
    def test_info(self):
        topic = self.create_topic("shared")
        worker = os.environ["PYTEST_XDIST_WORKER"]
        self.produce(topic, {{"worker": worker}})
        assert [message.value for message in self.consume(topic)] == [{{"worker": worker}}]
        with open("info.log", "a") as log:
            log.write(f"INFO worker={{worker}} bootstrap={{self.bootstrap_servers}} topic={{topic}}\\n")
'''


def test_workers_share_the_broker_and_not_the_topics(tmp_path):
    for n in range(4):
        write(tmp_path, f"test_k{n}.py", KAFKA_SUITE.format(n=n))
    result = run_pytest(tmp_path, "-n", "2")
    assert "4 passed" in result.stdout, result.stdout + result.stderr
    infos = re.findall(r"INFO worker=(\w+) bootstrap=(\S+) topic=(\S+)", (tmp_path / "info.log").read_text())
    assert len(infos) == 4
    assert len({bootstrap for _, bootstrap, _ in infos}) == 1  # one broker for the run
    assert len({topic for _, _, topic in infos}) == 4
    assert all(f".{worker}." in topic for worker, _, topic in infos)  # the worker is part of the namespace
    assert not servers_of_run(result.pid)


REDIS_SUITE = '''
import os
from harness import CacheTestBase


class TestWorker{n}(CacheTestBase):
    def test_info(self):
        assert self.redis.set("only-mine", "{n}", nx=True)
        with open("info.log", "a") as log:
            log.write(f"INFO worker={{os.environ['PYTEST_XDIST_WORKER']}} db={{self.redis_database}} "
                      f"port={{self.redis.connection_pool.connection_kwargs['port']}}\\n")
'''


def test_workers_share_the_redis_server_and_not_a_database(tmp_path):
    for n in range(4):
        write(tmp_path, f"test_r{n}.py", REDIS_SUITE.format(n=n))
    result = run_pytest(tmp_path, "-n", "2")
    assert "4 passed" in result.stdout, result.stdout + result.stderr
    infos = re.findall(r"INFO worker=(\w+) db=(\d+) port=(\d+)", (tmp_path / "info.log").read_text())
    assert len(infos) == 4 and len({port for _, _, port in infos}) == 1  # one server for the run
    assert {worker for worker, _, _ in infos} == {"gw0", "gw1"}
    # Each class found its database empty (set nx): no class running at the same time wrote into it.
    # That two classes at the same time get two databases is shown in tests/bases/test_cache.py.
    assert not servers_of_run(result.pid)


CLASSES_SUITE = '''
import os
from sqlalchemy import func, select
from harness import DatabaseTestBase
from models import Base, User


def log(line):
    with open("classes.log", "a") as handle:
        handle.write(line + "\\n")


class Seeded(DatabaseTestBase):
    metadata = Base.metadata

    @classmethod
    def seed_data(cls, session):
        log(f"SEED {{cls.__name__}}")
        session.add(User(name=cls.__name__))


class TestFirst(Seeded):
{first}

class TestSecond(Seeded):
{second}

class TestPlain:
{plain}
'''

HARNESS_TEST = '''
    def test_{n:02d}(self):
        log(f"RAN {{os.environ['PYTEST_XDIST_WORKER']}} {{type(self).__name__}}")
        assert self.session.scalar(select(func.count()).select_from(User)) == 1
'''

PLAIN_TEST = '''
    def test_{n:02d}(self):
        log(f"RAN {{os.environ['PYTEST_XDIST_WORKER']}} TestPlain")
'''


def _run_classes_suite(directory, *options):
    tests = "".join(HARNESS_TEST.format(n=n) for n in range(10))
    plain = "".join(PLAIN_TEST.format(n=n) for n in range(20))
    write(directory, "test_classes.py", CLASSES_SUITE.format(first=tests, second=tests, plain=plain))
    result = run_pytest(directory, "-n", "2", *options)
    assert "40 passed" in result.stdout, result.stdout + result.stderr
    lines = (directory / "classes.log").read_text().splitlines()
    workers: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("RAN "):
            _, worker, name = line.split()
            workers.setdefault(name, set()).add(worker)
    seeds = [line for line in lines if line.startswith("SEED ")]
    assert not servers_of_run(result.pid)
    return workers, seeds


def test_each_harness_class_runs_whole_on_one_worker(models_module):
    # xdist's load scheduling would hand the first 5 tests to gw0 and the next 5 to gw1: TestFirst split.
    workers, seeds = _run_classes_suite(models_module)
    assert len(workers["TestFirst"]) == 1 and len(workers["TestSecond"]) == 1
    assert workers["TestFirst"] != workers["TestSecond"]  # each worker was handed a whole class at once
    assert sorted(seeds) == ["SEED TestFirst", "SEED TestSecond"]  # each class set up once in the run


def test_a_dist_the_run_chose_is_left_alone(models_module):
    workers, seeds = _run_classes_suite(models_module, "--dist", "load")
    assert workers["TestFirst"] == {"gw0", "gw1"}  # xdist's own chunks: 5 tests each
    assert seeds.count("SEED TestFirst") == 2


def test_a_chunk_grows_to_its_harness_class_end_and_no_further():
    from harness.xdist_scheduling import HarnessClassScheduling, class_of

    assert class_of("tests/test_a.py::TestA::test_x[a::b-1]") == "tests/test_a.py::TestA"
    assert class_of("tests/test_a.py::test_function") == "tests/test_a.py"  # never a harness class
    scheduler = HarnessClassScheduling.__new__(HarnessClassScheduling)  # xdist's nodes and config are not needed
    scheduler.collection = [
        "t.py::TestA::test_1", "t.py::TestA::test_2[x]", "t.py::TestA::test_2[y]",
        "t.py::TestB::test_1", "t.py::TestB::test_2", "t.py::test_f", "t.py::test_g", "t.py::TestPlain::test_1",
        "t.py::TestPlain::test_2",
    ]
    scheduler._harness_classes = frozenset({"t.py::TestA", "t.py::TestB"})
    scheduler.pending = list(range(9))
    assert scheduler._to_class_end(1) == 3  # TestA's parametrized tests too
    assert scheduler._to_class_end(3) == 3  # ends at a class boundary already
    assert scheduler._to_class_end(4) == 5  # TestB
    assert scheduler._to_class_end(6) == 6 and scheduler._to_class_end(8) == 8  # functions, and a plain class
    assert scheduler._to_class_end(0) == 0 and scheduler._to_class_end(20) == 20
    scheduler.pending = [4, 0, 1, 2]  # what a crashed worker left is queued again at the end
    assert scheduler._to_class_end(1) == 1 and scheduler._to_class_end(2) == 4
