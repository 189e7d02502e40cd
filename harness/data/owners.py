"""Who owns a piece of state harness made on a server, and whether that owner is provably gone.

Every database, Redis lease and Kafka topic harness creates carries its owner: the
run's host (this machine, boot and PID namespace), the pid and start time of the
run's owner process, and a heartbeat for those who cannot check a pid. A later run
(and ``harness down``) removes what belongs to a dead owner:

- same host: the owner's pid no longer runs with the recorded start time;
- another host: its heartbeat is older than :data:`EXPIRY_SECONDS`.

State without a readable owner was not made by harness (or not by this version)
and is never touched; nor is the state of an owner that is alive.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.providers.rundir import Run, current_run, host_id, process_alive
from harness.redaction import redact
from harness.registry import TESTS, registry

__all__ = [
    "EXPIRY_SECONDS",
    "HEARTBEAT_SECONDS",
    "Heartbeat",
    "Owner",
    "current_owner",
    "heartbeat",
    "marker",
    "owner_from_marker",
    "owner_from_token",
]

HEARTBEAT_SECONDS = 30
"""How often a live owner refreshes the heartbeat of what it holds on servers it shares."""
EXPIRY_SECONDS = 300
"""A heartbeat older than this means the owner is gone (ten missed beats: clock skew and pauses fit)."""

logger = logging.getLogger("harness")

MARKER_KEY = "harness"
_TOKEN = re.compile(r"h(?P<host>[0-9a-f]{8})p(?P<pid>[0-9a-f]+)s(?P<started>\d+)")


@dataclass(frozen=True)
class Owner:
    """The owner of a run: the process that started it, on a given host."""

    host: str
    pid: int
    started: str

    @property
    def token(self) -> str:
        """The owner as a name part: ``h<host>p<pid hex>s<start time>`` (what :attr:`Run.token` gives)."""
        return f"h{self.host}p{self.pid:x}s{self.started}"

    @property
    def local(self) -> bool:
        """Whether this machine (boot, PID namespace) can check the owner's pid itself."""
        return self.host == host_id()

    def provably_dead(self, heartbeat_age: float | None) -> bool:
        """Gone for sure: on this host its process is not running; elsewhere its heartbeat expired.

        ``heartbeat_age`` is the seconds since its last beat, or None if it never beat.
        """
        if self.local:
            return not process_alive(self.pid, self.started)
        return heartbeat_age is not None and heartbeat_age > EXPIRY_SECONDS


def current_owner(run: Run | None = None) -> Owner:
    """The owner of this process's run (an xdist worker's run is its controller's)."""
    run = run if run is not None else current_run()
    return Owner(host=host_id(), pid=run.owner_pid, started=run.owner_started or "0")


def owner_from_token(text: str) -> Owner | None:
    """The owner named by a token inside ``text`` (a topic or database name), or None."""
    match = _TOKEN.search(text)
    if match is None:
        return None
    return Owner(host=match.group("host"), pid=int(match.group("pid"), 16), started=match.group("started"))


def marker(owner: Owner, **extra: Any) -> str:
    """The JSON that marks a piece of state as harness's and names its owner."""
    return json.dumps({MARKER_KEY: 1, "owner": owner.token, **extra}, sort_keys=True)


def owner_from_marker(text: str | None) -> tuple[Owner, dict[str, Any]] | None:
    """The owner (and the rest of the record) of a :func:`marker`, or None for anything else."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get(MARKER_KEY) != 1 or not isinstance(record.get("owner"), str):
        return None
    owner = owner_from_token(record["owner"])
    if owner is None or owner.token != record["owner"]:
        return None
    return owner, record


class Heartbeat:
    """One daemon thread per process that keeps the heartbeat of everything registered with it.

    Each beat is a callable (refresh a database's comment, renew a lease, ...) run every
    :data:`HEARTBEAT_SECONDS`; one that fails is logged and tried again at the next beat.
    The thread stops when the run ends, before anything it beats for is removed.
    """

    def __init__(self, interval: float = HEARTBEAT_SECONDS) -> None:
        self.interval = interval
        self._beats: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: str, beat: Callable[[], None]) -> None:
        """Run ``beat`` at every heartbeat from now on (replacing an earlier beat of the same key)."""
        with self._lock:
            self._beats[key] = beat
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, name="harness-heartbeat", daemon=True)
                self._thread.start()
        registry.on_shutdown(self.stop, stage=TESTS)

    def remove(self, key: str) -> None:
        with self._lock:
            self._beats.pop(key, None)

    def beat_now(self) -> None:
        """Run every beat once, now (also what the thread does at each interval)."""
        with self._lock:
            beats = list(self._beats.items())
        for key, beat in beats:
            try:
                beat()
            except Exception as exc:  # noqa: BLE001 - one server's trouble must not stop the others' beats
                logger.warning("harness: heartbeat %s failed: %s", key, redact(str(exc)))

    def stop(self) -> None:
        """Stop beating (the run is ending); safe twice."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.interval)
        with self._lock:
            self._beats.clear()
            self._thread = None

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.beat_now()


heartbeat = Heartbeat()
"""The process's heartbeat (started by the first beat added)."""
