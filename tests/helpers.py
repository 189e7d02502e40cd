"""Helpers for the library's own tests: subprocess runs and what they leave behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from harness.providers.rundir import harness_tmp_root

MODELS = '''
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    total: Mapped[int]
'''


ALEMBIC_ENV = '''
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
'''

ALEMBIC_VERSION = '''
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("{column}", sa.String(50)))
'''


def write_migrations(directory: Path, *, table: str = "widgets", column: str = "label") -> str:
    """An alembic project in ``directory`` whose one migration creates ``table`` (id, ``column``); its alembic.ini."""
    import pytest

    pytest.importorskip("alembic")
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ALEMBIC_ENV)
    (directory / "script.py.mako").write_text("")
    (directory / "versions" / f"0001_{table}.py").write_text(ALEMBIC_VERSION.format(table=table, column=column))
    (directory / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\n")
    return str(directory / "alembic.ini")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child test run: not an xdist worker, no inherited harness settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "HARNESS_")) and key not in ("PYTEST_CURRENT_TEST", "COV_CORE_SOURCE")
    }
    env.update(extra)
    return env


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def run_python(args: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 120):
    """Run Python in a child; the result also has the child's ``pid`` (its run directory's owner)."""
    process = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=env or clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.communicate(timeout=timeout)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    result.pid = process.pid  # type: ignore[attr-defined]
    return result


def run_pytest(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return run_python(["-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd, env=env, timeout=timeout)


def servers_of_run(owner_pid: int) -> list[str]:
    """Command lines of live server processes whose run directory belongs to ``owner_pid``.

    A server is recognised by its run directory in its command line or as its working directory.
    """
    marker = f"/run-{owner_pid}-"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            # Servers whose command line does not name their directory (Tansu) run inside it.
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if (marker in cmdline or marker in cwd + "/") and "harness/providers/reaper.py" not in cmdline:
            found.append(cmdline)
    return found


def run_dirs_of(owner_pid: int) -> list[Path]:
    return list(harness_tmp_root().glob(f"run-{owner_pid}-*"))


def assert_nothing_left(result) -> None:
    """No server process and no run directory of a finished child run."""
    assert servers_of_run(result.pid) == []
    assert run_dirs_of(result.pid) == []


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still false after {timeout} s: {condition}"
        time.sleep(0.01)


def signals_at_their_defaults() -> None:
    """A child's ``preexec_fn``: SIGINT, SIGTERM and SIGHUP as a runner in a terminal has them.

    Launched from a background job or under nohup, a child inherits them ignored, and harness (as
    Python itself for SIGINT) rightly leaves an ignored signal alone: the tests that send them would hang.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def interrupt_pytest_mid_test(
    cwd: Path, env: dict[str, str], *, while_running: Callable[[], None], signum: int = signal.SIGTERM
) -> None:
    """Run pytest in ``cwd`` until a test writes ``ready``, call ``while_running()``, then send ``signum``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=signals_at_their_defaults,
    )
    try:
        deadline = time.monotonic() + 60
        while not (cwd / "ready").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the child run never became ready"
            time.sleep(0.05)
        while_running()
        process.send_signal(signum)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


RUNNER_STYLES = ["plain pytest class", "TestCase under pytest", "python -m unittest"]


def run_one_pass_one_fail(tmp_path: Path, style: str, suite: str, env: dict[str, str]):
    """Run ``suite`` (defining ``TestStyle`` with one passing and one failing test) in ``style``.

    Checks the runner reported exactly that; returns the result and the runner's report text.
    """
    write(tmp_path, "test_style.py", suite)
    if style == "python -m unittest":
        result = run_python(["-m", "unittest", "-v", "test_style"], tmp_path, env=env)
        output = result.stderr
        assert "Ran 2 tests" in output and "FAILED (failures=1)" in output, output
    else:
        result = run_pytest(tmp_path, "test_style.py", env=env)
        output = result.stdout
        assert "1 failed, 1 passed" in output, output + result.stderr
    return result, output
