"""The reaper: a detached watcher that cleans a run up when its owner dies without doing so.

Started once per run (``python -m harness.providers.reaper RUN_DIR OWNER_PID OWNER_STARTED``)
in its own session, so Ctrl-C in the terminal and a SIGKILL of the runner leave it
standing. It blocks until the owner exits (pidfd where the kernel has it, else a
short poll), then kills every server recorded in the run directory and deletes it.
A normal shutdown kills the reaper first and cleans up itself.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

from harness.providers.rundir import process_alive, reap_run_dir

__all__ = ["main", "wait_for_exit"]

POLL_SECONDS = 0.1


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
