"""The run directory: one per test run, shared by its xdist workers, reaped when its owner dies.

A run is owned by the process that started it: the test runner, or for a
pytest-xdist worker its controller (the worker's parent). Everything a run
starts lives under ``<tmp>/harness-<uid>/run-<owner pid>-<owner start time>/``:
one work directory per server (with a ``process.json`` saying how to kill it),
one ``services/<key>.json`` per shared endpoint, and the reaper's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.providers import reaper
from harness.providers.reaper import (
    CONTAINER_FILE,
    ELSEWHERE_FILE,
    PROCESS_FILE,
    process_alive,
    process_start_time,
    read_process_record,
    reap_run_dir,
    recorded_process_alive,
    remove_workdir,
    terminate_process,
)
from harness.redaction import write_private

__all__ = [
    "CONTAINER_FILE",
    "ELSEWHERE_FILE",
    "PROCESS_FILE",
    "Run",
    "current_run",
    "default_scratch_base",
    "harness_tmp_root",
    "harness_tmp_roots",
    "host_id",
    "process_alive",
    "process_start_time",
    "read_process_record",
    "reap_run_dir",
    "recorded_process_alive",
    "remove_workdir",
    "spill_directory",
    "terminate_process",
]

REAPER_PID_FILE = "reaper.pid"
KEPT_FILE = "kept.json"


SHM = Path("/dev/shm")
SHM_MINIMUM_BYTES = 1 << 30


def _scratch_base() -> Path:
    """``scratch_dir`` when set; else memory-backed /dev/shm when it is a real one (>= 1 GiB); else the temp dir.

    Server data directories are throwaway; in memory, copying a cached cluster
    takes ~70 ms instead of ~700 ms on this kind of disk. The choice depends on
    /dev/shm's total size, not its free space, so every process of a run agrees;
    a server whose data does not fit spills to the temp dir (:func:`spill_directory`).
    """
    from harness.config import get_config  # not at import: the config is built once, on first use

    configured = get_config().scratch_dir
    if configured:
        return Path(configured)
    return default_scratch_base()


def default_scratch_base() -> Path:
    """/dev/shm when it is a real one (>= 1 GiB, writable), else the system temp dir."""
    try:
        stats = os.statvfs(SHM)
    except OSError:
        return Path(tempfile.gettempdir())
    if stats.f_blocks * stats.f_frsize >= SHM_MINIMUM_BYTES and os.access(SHM, os.W_OK | os.X_OK):
        return SHM
    return Path(tempfile.gettempdir())


def harness_tmp_root(base: Path | None = None) -> Path:
    """``<scratch>/harness-<uid>``: world-searchable so an unprivileged server can reach its directory."""
    root = (base if base is not None else _scratch_base()) / f"harness-{os.getuid()}"
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    return root


def harness_tmp_roots() -> list[Path]:
    """Where this user's run directories are: the configured scratch dir alone, else /dev/shm and the temp dir."""
    from harness.config import get_config

    configured = get_config().scratch_dir
    bases = [Path(configured)] if configured else [SHM, Path(tempfile.gettempdir())]
    roots = []
    for base in bases:
        root = base / f"harness-{os.getuid()}"
        if root.is_dir() and root not in roots:
            roots.append(root)
    return roots


def spill_directory(workdir: Path) -> Path:
    """A directory in the system temp dir for ``workdir``'s data that does not fit in the scratch dir.

    Recorded in ``workdir`` so that whoever removes the work directory (the provider, the
    reaper, the next run's sweep) removes it too.
    """
    root = harness_tmp_root(Path(tempfile.gettempdir())) / workdir.parent.name
    root.mkdir(mode=0o711, exist_ok=True)
    spill = root / workdir.name
    spill.mkdir(mode=0o700, exist_ok=True)
    elsewhere = workdir / ELSEWHERE_FILE
    paths = json.loads(elsewhere.read_text()) if elsewhere.is_file() else []
    elsewhere.write_text(json.dumps([*paths, str(spill)]))
    return spill


@functools.cache
def host_id() -> str:
    """8 hex digits naming this machine, this boot and this PID namespace.

    Two processes with the same host id can test each other's liveness by pid and
    start time; anything else (another machine, container, or boot) cannot.
    """
    parts = [socket.gethostname()]
    for source in ("/etc/machine-id", "/proc/sys/kernel/random/boot_id"):
        with contextlib.suppress(OSError):
            parts.append(Path(source).read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Run:
    """The identity of this test run and its directory."""

    owner_pid: int
    owner_started: str
    worker: str
    """"main", or the pytest-xdist worker id (gw0, gw1, ...)."""

    @property
    def directory(self) -> Path:
        return harness_tmp_root() / f"run-{self.owner_pid}-{self.owner_started or 'x'}"

    @property
    def is_owner(self) -> bool:
        return self.owner_pid == os.getpid()

    @property
    def token(self) -> str:
        """This run's owner as a name part, unique among runs on any machine: ``h<host>p<pid>s<start time>``.

        Everything harness creates on a shared server carries it, so that a later run
        can tell whether its owner is gone (see :mod:`harness.data.owners`).
        """
        return f"h{host_id()}p{self.owner_pid:x}s{self.owner_started or '0'}"

    def ensure(self) -> Path:
        """Create the run directory (and its reaper) if this is the first use; return it."""
        directory = self.directory
        if (directory / REAPER_PID_FILE).is_file():
            return directory
        directory.mkdir(mode=0o711, exist_ok=True)
        os.chmod(directory, 0o711)
        with self.locked():
            if not (directory / REAPER_PID_FILE).is_file():
                _sweep_orphans(harness_tmp_root(), keep=directory)
                _start_reaper(self)
        return directory

    @contextlib.contextmanager
    def locked(self, name: str = "") -> Iterator[None]:
        """Hold the run's lock called ``name`` (one per service: serialises its start across xdist workers)."""
        with open(self.directory / (f"lock.{name}" if name else "lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_json(self, relative: str) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads((self.directory / relative).read_text())
        except (OSError, ValueError):
            return None
        return loaded

    def write_json(self, relative: str, data: dict[str, Any]) -> None:
        path = self.directory / relative
        path.parent.mkdir(mode=0o711, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        write_private(partial, json.dumps(data))  # records hold the servers' URLs, passwords included
        os.replace(partial, path)

    def stop_reaper(self) -> None:
        """Stop the run's reaper (whichever process started it) and forget it."""
        global _reaper
        if _reaper is not None and _reaper.poll() is None:
            _reaper.kill()
            _reaper.wait()
        _reaper = None
        pid_file = self.directory / REAPER_PID_FILE
        with contextlib.suppress(OSError, ValueError):
            reaper_pid = int(pid_file.read_text())
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(reaper_pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def shutdown(self) -> None:
        """Owner only: stop the reaper, every recorded server, and delete the directory."""
        self.stop_reaper()
        reap_run_dir(self.directory)


_reaper: subprocess.Popen[bytes] | None = None


def _start_reaper(run: Run) -> None:
    """Start the run's reaper: the owner's child (it kills and waits for it at the end), else nobody's.

    A pytest-xdist worker starts it when it is the first to need the run directory, but the
    reaper watches the controller and outlives the worker, which could never wait for it: as the
    worker's child it would be a live ``subprocess.Popen`` dropped at the worker's exit
    ("ResourceWarning: subprocess N is still running"). A shell that backgrounds it and exits
    leaves it to init, as every server the worker started is once the worker is gone.
    """
    global _reaper
    # A script of the standard library alone (-I -S: no site-packages, no PYTHON* variables): importing
    # harness there would cost ~0.5 s of CPU, taken from the run's first tests on a small machine.
    arguments = [str(run.directory), str(run.owner_pid), run.owner_started]
    command = [sys.executable, "-I", "-S", reaper.__file__, *arguments]
    if not run.is_owner:
        command = ["/bin/sh", "-c", '"$@" >/dev/null & echo $!', "sh", *command]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if run.is_owner else subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    if run.is_owner:
        _reaper, pid = process, process.pid
    else:
        output, _ = process.communicate()  # the shell prints the reaper's pid and exits at once
        pid = int(output)
    (run.directory / REAPER_PID_FILE).write_text(str(pid))


def _sweep_orphans(root: Path, *, keep: Path) -> None:
    """Reap run directories whose owner and reaper are both gone (e.g. a SIGKILLed reaper)."""
    for directory in root.glob("run-*"):
        if directory == keep or (directory / KEPT_FILE).exists():
            continue
        try:
            _, pid, started = directory.name.split("-", 2)
            owner_alive = process_alive(int(pid), "" if started == "x" else started)
        except ValueError:
            continue
        if not owner_alive:
            reap_run_dir(directory)


_run: Run | None = None
_run_pid: int | None = None


def current_run() -> Run:
    """This process's run: owned by itself, or by its parent when it is a pytest-xdist worker."""
    global _run, _run_pid
    if _run is None or _run_pid != os.getpid():
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        owner = os.getppid() if worker else os.getpid()
        _run = Run(owner_pid=owner, owner_started=process_start_time(owner), worker=worker or "main")
        _run_pid = os.getpid()
    return _run
