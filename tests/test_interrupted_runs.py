"""Runs attached to shared servers leave nothing there, however they end.

The child runs point HARNESS_POSTGRES_URL, HARNESS_REDIS_URL and HARNESS_KAFKA_BOOTSTRAP at
servers this module starts (no other test's runs use them), so for them those are shared
servers that outlive them. A signal
that lets a runner unwind (TERM, INT, HUP, under pytest and under unittest) must leave no
database, lease, key or topic of theirs; after a SIGKILL nothing unwinds, so the next run,
or `harness down`, removes what the dead run left, and never what a live run holds.
"""

import signal
import subprocess
import sys
import time

import pytest

from harness.data import databases as database_namespace
from harness.data.leases import sweep_leases
from harness.data.owners import owner_from_marker
from harness.data.shared_broker import owner_of, sweep_topics
from harness.services import kafka, postgres, redis
from tests.helpers import MODELS, clean_env, run_python, signals_at_their_defaults, wait_until, write

SUITE = """
import pathlib
import time

from harness import DatabaseTestBase
from harness.bases import CacheTestMixin, MessageQueueTestMixin
from models import Base, User


class TestShared(CacheTestMixin, MessageQueueTestMixin, DatabaseTestBase):
    metadata = Base.metadata

    def test_holds_state_on_every_server(self):
        self.session.add(User(name="mine"))
        self.session.flush()
        self.redis.set("key", "value")
        self.produce(self.create_topic("events"), {"n": 1})
        if pathlib.Path("block").exists():
            pathlib.Path("ready").write_text("1")
            time.sleep(120)
"""

RUNNERS = {
    "pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shared.py"],
    "unittest": [sys.executable, "-m", "unittest", "-v", "test_shared"],
}


@pytest.fixture()
def shared(private_servers, private_kafka_admin):
    """This module's servers as the child runs see them (external), and an admin client on the broker."""
    servers = {name: module.SERVICE.external_endpoint(str(private_servers(name).url))
               for name, module in (("postgres", postgres), ("redis", redis), ("kafka", kafka))}
    servers["admin"] = private_kafka_admin
    return servers


def _shared_env(shared):
    return clean_env(
        HARNESS_POSTGRES_URL=str(shared["postgres"].url),
        HARNESS_REDIS_URL=str(shared["redis"].url),
        HARNESS_KAFKA_BOOTSTRAP=str(shared["kafka"].url),
    )


def state_of(pid, shared):
    """What a run whose owner had ``pid`` holds on the shared servers: databases, leases, keys, topics."""
    databases = [name for name, comment in database_namespace.list_databases(shared["postgres"], prefix="harness_")[0]
                 if (found := owner_from_marker(comment)) and found[0].pid == pid]
    leases, keys = [], 0
    with redis.redis_py().Redis.from_url(shared["redis"].url, decode_responses=True) as control:
        for key in control.scan_iter(match="harness:*"):
            found = owner_from_marker(control.get(key))
            if found and found[0].pid == pid:
                leases.append(key)
                number = int(key.rsplit(":", 1)[1])
                with redis.redis_py().Redis.from_url(redis.database_url(shared["redis"].url, number)) as database:
                    keys += database.dbsize()
    topics = [name for name in shared["admin"].list_topics() if (owner := owner_of(name)) and owner.pid == pid]
    return {"databases": databases, "leases": sorted(set(leases)), "keys": keys, "topics": sorted(topics)}


def _nothing(state):
    return not any(state.values())


def _start_blocked(runner, tmp_path, shared):
    write(tmp_path, "models.py", MODELS)
    write(tmp_path, "test_shared.py", SUITE)
    (tmp_path / "block").write_text("1")
    process = subprocess.Popen(RUNNERS[runner], cwd=tmp_path, env=_shared_env(shared), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=signals_at_their_defaults)
    deadline = time.monotonic() + 90
    while not (tmp_path / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the child run never reached its test"
        time.sleep(0.05)
    return process


def _end(process, signum):
    process.send_signal(signum)
    try:
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


UNWINDING = [("pytest", signal.SIGHUP), ("pytest", signal.SIGTERM), ("unittest", signal.SIGTERM),
             ("unittest", signal.SIGINT), ("unittest", signal.SIGHUP)]


@pytest.mark.parametrize(("runner", "signum"), UNWINDING, ids=[f"{r}-{s.name}" for r, s in UNWINDING])
def test_a_signal_the_runner_unwinds_from_leaves_nothing_on_shared_servers(tmp_path, shared, runner, signum):
    process = _start_blocked(runner, tmp_path, shared)
    held = state_of(process.pid, shared)
    assert held["databases"] and held["leases"] and held["keys"] and held["topics"], held
    _end(process, signum)
    wait_until(lambda: _nothing(state_of(process.pid, shared)))


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_what_a_killed_run_left_is_removed_by_the_next_run(tmp_path, shared, runner):
    killed = _start_blocked(runner, tmp_path, shared)
    _end(killed, signal.SIGKILL)
    left = state_of(killed.pid, shared)
    assert left["databases"] and left["leases"] and left["keys"] and left["topics"], left  # nothing unwound
    (tmp_path / "block").unlink()
    (tmp_path / "ready").unlink()
    following = run_python(RUNNERS[runner][1:], tmp_path, env=_shared_env(shared))
    assert following.returncode == 0, following.stdout + following.stderr
    wait_until(lambda: _nothing(state_of(killed.pid, shared)))
    assert _nothing(state_of(following.pid, shared))


def test_harness_down_removes_what_a_killed_run_left(tmp_path, shared):
    killed = _start_blocked("pytest", tmp_path, shared)
    _end(killed, signal.SIGKILL)
    left = state_of(killed.pid, shared)
    assert left["databases"] and left["leases"] and left["topics"], left
    down = subprocess.run([sys.executable, "-m", "harness.cli", "down"], cwd=tmp_path, env=_shared_env(shared),
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert left["databases"][0] in down.stdout, (left, down.stdout)
    assert "harness: removed from postgres at postgresql://postgres:***@127.0.0.1:" in down.stdout
    assert "what finished runs left: database harness_" in down.stdout
    assert "harness: removed from redis at " in down.stdout and "(emptied)" in down.stdout
    assert "harness: removed from kafka at " in down.stdout and "topic or group harness." in down.stdout
    wait_until(lambda: _nothing(state_of(killed.pid, shared)))


def test_a_live_runs_state_is_never_swept(tmp_path, shared):
    live = _start_blocked("pytest", tmp_path, shared)
    try:
        held = state_of(live.pid, shared)
        database_namespace.sweep_databases(shared["postgres"])
        sweep_leases(shared["redis"])
        sweep_topics(shared["kafka"], shared["admin"])
        assert state_of(live.pid, shared) == held
    finally:
        _end(live, signal.SIGTERM)
    wait_until(lambda: _nothing(state_of(live.pid, shared)))
