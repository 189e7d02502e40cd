"""The reaper: a detached watcher that cleans a run up when its owner dies without doing so.

Started once per run (``python -I -S .../reaper.py RUN_DIR OWNER_PID OWNER_STARTED``)
in its own session, so Ctrl-C in the terminal and a SIGKILL of the runner leave it
standing. It blocks until the owner exits (pidfd where the kernel has it, else a
short poll), then kills every server recorded in the run directory and deletes it.
A normal shutdown kills the reaper first and cleans up itself.

This module imports nothing but the standard library, so that the reaper runs
as a script without importing harness (and SQLAlchemy with it): it starts in
~20 ms instead of burning ~0.5 s of CPU beside the run's first tests. The run
directory's owner uses the same functions (see :mod:`harness.providers.rundir`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "CONTAINER_FILE",
    "ELSEWHERE_FILE",
    "PROCESS_FILE",
    "main",
    "process_alive",
    "process_start_time",
    "read_process_record",
    "reap_run_dir",
    "recorded_process_alive",
    "remove_workdir",
    "terminate_process",
    "wait_for_exit",
]

PROCESS_FILE = "process.json"
CONTAINER_FILE = "container.json"
ELSEWHERE_FILE = "elsewhere.json"
POLL_SECONDS = 0.1


def process_start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (guards against pid reuse), or "" where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def process_alive(pid: int, started: str = "") -> bool:
    """Whether ``pid`` runs and (when ``started`` is given) is the same process as before."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    return not started or process_start_time(pid) == started


def terminate_process(pid: int, *, stop_signal: int, started: str = "", grace: float = 5.0) -> None:
    """Send ``stop_signal`` to the process group of ``pid``, then SIGKILL it after ``grace`` seconds."""
    if not process_alive(pid, started):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, stop_signal)
    deadline = time.monotonic() + grace
    while process_alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.01)
    # Kill the whole group even if the leader went: backends can outlive their postmaster briefly.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def read_process_record(workdir: Path) -> dict[str, Any] | None:
    """The ``process.json`` the local provider wrote in ``workdir`` (pid, start time, stop signal), if any."""
    try:
        record: dict[str, Any] = json.loads((workdir / PROCESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record


def recorded_process_alive(workdir: Path) -> bool | None:
    """Whether the server process recorded in ``workdir`` still runs; None when none is recorded (a container)."""
    record = read_process_record(workdir)
    if record is None:
        return None
    return process_alive(int(record["pid"]), str(record.get("started", "")))


def _stop_recorded(workdir: Path) -> None:
    record = read_process_record(workdir)
    if record is not None:
        terminate_process(
            int(record["pid"]),
            stop_signal=int(record.get("signal", signal.SIGKILL)),
            started=str(record.get("started", "")),
            grace=1.0,
        )
    container_file = workdir / CONTAINER_FILE
    if container_file.is_file() and shutil.which("docker"):
        with contextlib.suppress(OSError, ValueError):
            container = json.loads(container_file.read_text())["id"]
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60, check=False)


def reap_run_dir(directory: Path) -> None:
    """Stop every server recorded under ``directory`` and delete it (used by owner and reaper)."""
    if not directory.is_dir():
        return
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            _stop_recorded(child)
            remove_workdir(child)
    shutil.rmtree(directory, ignore_errors=True)


def remove_workdir(workdir: Path) -> None:
    """Delete a server's work directory and what it recorded elsewhere (``rundir.spill_directory``)."""
    with contextlib.suppress(OSError, ValueError):
        for path in json.loads((workdir / ELSEWHERE_FILE).read_text()):
            target = Path(path)
            shutil.rmtree(target, ignore_errors=True)
            with contextlib.suppress(OSError):
                target.parent.rmdir()  # the spilled run directory, once empty
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for_exit(pid: int, started: str, directory: Path) -> None:
    """Return once ``pid`` has exited (or ``directory`` vanished: the owner cleaned up)."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    try:
        while process_alive(pid, started) and directory.is_dir():
            if pidfd is not None:
                select.select([pidfd], [], [], 1.0)
            else:
                time.sleep(POLL_SECONDS)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main(argv: list[str]) -> int:
    directory, pid, started = Path(argv[0]), int(argv[1]), argv[2] if len(argv) > 2 else ""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    wait_for_exit(pid, started, directory)
    reap_run_dir(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
