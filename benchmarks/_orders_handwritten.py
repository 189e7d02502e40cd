"""The orders service run the way users wire it up by hand today, for the benchmarks to compare with harness.

Given ``DATABASE_URL``, ``REDIS_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` (in the
``env`` passed, or in this process's environment), ``start_app`` starts
``python -m samples.orders`` on a free port and polls ``/health`` until it
answers; ``truncate_all`` empties its tables between tests; ``stop_app`` ends
it. No timing here: the benchmarks time these calls.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from samples.orders.models import Base

__all__ = ["start_app", "stop_app", "truncate_all"]

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(log_path: str, lines: int = 20) -> str:
    with open(log_path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])


def start_app(env: Mapping[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start the orders service with ``env`` over this process's environment; return it and its base URL once healthy.

    Its output goes to a temporary file (``proc.log_path``), whose tail a failed start shows.
    """
    port = _free_port()
    environment = {**os.environ, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    log = tempfile.NamedTemporaryFile(prefix="harness-bench-orders-", suffix=".log", delete=False)
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "samples.orders"], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    proc.log_path = log.name  # type: ignore[attr-defined]
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the orders service exited with {proc.returncode} before answering:\n{_tail(log.name)}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return proc, base_url
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            stop_app(proc)
            raise RuntimeError(
                f"the orders service at {base_url} was not healthy within {STARTUP_TIMEOUT:.0f} s:\n{_tail(log.name)}"
            )
        time.sleep(0.05)


def truncate_all(engine: Engine) -> None:
    """Empty every table of the orders schema and restart its id sequences."""
    quote = engine.dialect.identifier_preparer.quote
    tables = ", ".join(quote(table.name) for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def stop_app(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT``; safe on a process already gone."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log_path = getattr(proc, "log_path", None)
    if log_path is not None:
        Path(log_path).unlink(missing_ok=True)
