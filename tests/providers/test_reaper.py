"""However a run ends, no server process and no run directory is left behind."""

import json
import signal
import subprocess
import sys
import time

import pytest

from harness.providers import reaper
from harness.providers.rundir import process_start_time
from tests.helpers import clean_env, run_dirs_of, run_python, servers_of_run, signals_at_their_defaults, write

CHILD = """
import pathlib, sys, time
from harness.registry import registry
endpoint = registry.acquire(sys.argv[2])
pathlib.Path(sys.argv[1]).write_text(str(endpoint.port))
time.sleep(120)
"""

PYTEST_CHILD = """
import pathlib, time
from harness import DatabaseTestBase

class TestSlow(DatabaseTestBase):
    def test_waits(self):
        pathlib.Path("ready").write_text("1")
        time.sleep(120)
"""


def _wait_for(path, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"child exited early: {process.communicate()}")
        assert time.monotonic() < deadline, "child never became ready"
        time.sleep(0.05)


def _assert_cleaned(owner_pid, within):
    deadline = time.monotonic() + within
    while servers_of_run(owner_pid) or run_dirs_of(owner_pid):
        assert time.monotonic() < deadline, (servers_of_run(owner_pid), run_dirs_of(owner_pid))
        time.sleep(0.05)


def _interrupt_and_check(command, cwd, ready, signum):
    """Start ``command``, wait until its server runs, send ``signum``: nothing of its run may remain."""
    process = subprocess.Popen(command, env=clean_env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=signals_at_their_defaults)
    try:
        _wait_for(ready, process)
        assert servers_of_run(process.pid), "the server should be running"
        process.send_signal(signum)
        process.communicate(timeout=30)
        _assert_cleaned(process.pid, within=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("service", ["postgres", "redis", "kafka"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["KILL", "TERM", "INT"])
def test_runner_ended_by_a_signal_leaves_nothing(tmp_path, signum, service):
    script = write(tmp_path, "child.py", CHILD)
    ready = tmp_path / "ready"
    _interrupt_and_check([sys.executable, str(script), str(ready), service], tmp_path, ready, signum)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_pytest_run_interrupted_mid_test_leaves_nothing(tmp_path, signum):
    write(tmp_path, "test_slow.py", PYTEST_CHILD)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    _interrupt_and_check(command, tmp_path, tmp_path / "ready", signum)


def test_orphaned_run_directory_is_swept_by_the_next_run(tmp_path):
    """A run whose reaper was killed too (e.g. kill -9 of everything) is cleaned by the next run."""
    from harness.providers.rundir import harness_tmp_root

    orphan = harness_tmp_root() / "run-999999999-1"
    (orphan / "postgres-dead").mkdir(parents=True)
    script = write(tmp_path, "child.py", "from harness.registry import registry\nregistry.acquire('postgres')\n")
    result = subprocess.run([sys.executable, str(script)], env=clean_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert not orphan.exists()


XDIST_WORKER = """
import os, pathlib
from harness.providers.rundir import REAPER_PID_FILE, current_run

run = current_run()
run.ensure()  # the first to need the run directory starts the reaper
reaper = int((run.directory / REAPER_PID_FILE).read_text())
parent = int(pathlib.Path(f"/proc/{reaper}/stat").read_text().rsplit(")", 1)[1].split()[1])
print(os.getpid(), reaper, parent)
"""

XDIST_CONTROLLER = """
import json, os, subprocess, sys
from harness.providers.rundir import current_run, process_alive

run = current_run()
try:
    worker = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", sys.argv[1]],
        env={**os.environ, "PYTEST_XDIST_WORKER": "gw0"}, capture_output=True, text=True, timeout=60,
    )
    worker_pid, reaper, parent = map(int, worker.stdout.split())
    print(json.dumps({"returncode": worker.returncode, "stderr": worker.stderr, "worker": worker_pid,
                      "parent": parent, "reaper_alive": process_alive(reaper)}))
finally:
    run.shutdown()  # as the controller does at the end: stops the reaper, removes the run directory
"""


def test_a_reaper_started_by_an_xdist_worker_is_not_its_child(tmp_path):
    """The reaper outlives the worker that started it (it watches the controller), so the worker
    never holds it as a running subprocess it drops at exit ('subprocess N is still running')."""
    script = write(tmp_path, "controller.py", XDIST_CONTROLLER)
    result = run_python([str(script), XDIST_WORKER], tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["returncode"] == 0 and seen["stderr"] == "", seen["stderr"]
    assert seen["parent"] != seen["worker"]
    assert seen["reaper_alive"]  # still watching the controller after the worker is gone
    assert run_dirs_of(result.pid) == []


def test_reaper_is_a_standard_library_script(tmp_path):
    """It runs with no site-packages and no PYTHON* variables (harness not importable), as a run starts it,
    and still stops a dead owner's recorded server and removes its run directory."""
    run_directory = tmp_path / "run-1-x"
    workdir = run_directory / "server"
    workdir.mkdir(parents=True)
    server = subprocess.Popen(["sleep", "120"], start_new_session=True)
    record = {"pid": server.pid, "started": process_start_time(server.pid), "signal": int(signal.SIGTERM)}
    (workdir / "process.json").write_text(json.dumps(record))
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    command = [sys.executable, "-I", "-S", reaper.__file__, str(run_directory), str(owner.pid)]
    watcher = subprocess.Popen([*command, process_start_time(owner.pid)], stderr=subprocess.PIPE, text=True)
    try:
        owner.communicate(b"")  # the owner exits
        _, errors = watcher.communicate(timeout=30)
        assert watcher.returncode == 0, errors
        assert server.wait(timeout=10) == -signal.SIGTERM
        assert not run_directory.exists()
    finally:
        for process in (server, owner, watcher):
            if process.poll() is None:
                process.kill()
                process.wait()
