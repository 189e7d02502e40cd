"""Cold start: a local PostgreSQL ready for its first query (psycopg connect + SELECT 1).

Three ways, each measured from the start call to the first query's answer:

(a) harness with its cached initialised cluster (the normal path):
    ``LocalProvider(SERVICE, config, current_run()).start()``;
(b) harness without a cache: a fresh, empty ``cache_dir`` every time, so initdb runs;
(c) pytest-postgresql's ``postgresql_proc`` way: ``PostgreSQLExecutor.start()``
    (pg_ctl initdb, then pg_ctl start -w), run as the unprivileged user ``postgres``
    in a child process because PostgreSQL refuses root. Its template database
    (created by the fixture after the start) is not counted.

psycopg is imported before timing. (a) starts after one untimed warm-up start,
which builds the cache if it is missing. Stopping is not timed. (c) uses the
pg_ctl next to the postgres binary harness finds; its child process imports
nothing from harness, which is why harness is imported inside the functions.
Target: (a) under 300 ms; (c) is ~1.7 s on the reference machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config import IntegrationTestConfig

UNPRIVILEGED_USER = "postgres"


def first_query(conninfo: str) -> None:
    import psycopg

    with psycopg.connect(conninfo) as connection:
        connection.execute("SELECT 1").fetchone()


def harness_start(config: IntegrationTestConfig) -> float:
    """Seconds from ``LocalProvider.start()`` to the first query's answer; the server is stopped after."""
    from harness.providers.local import LocalProvider
    from harness.providers.rundir import current_run
    from harness.services.postgres import SERVICE

    provider = LocalProvider(SERVICE, config, current_run())
    try:
        started = time.perf_counter()
        endpoint = provider.start()
        first_query(endpoint.url)
        return time.perf_counter() - started
    finally:
        provider.stop()


def harness_uncached_start() -> float:
    from harness.config import IntegrationTestConfig

    cache_dir = tempfile.mkdtemp(prefix="harness-bench-cache-")
    try:
        return harness_start(IntegrationTestConfig.load(cache_dir=cache_dir))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def pytest_postgresql_starts(pg_ctl: str, repetitions: int) -> list[float]:
    """Run the executor ``repetitions`` times in a child process as ``postgres``; its timings."""
    workdir = tempfile.mkdtemp(prefix="harness-bench-pytest-postgresql-")
    try:
        user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        if user is not None:
            shutil.chown(workdir, user, user)
        command = [_python_for(user), __file__, "--pytest-postgresql-child", pg_ctl, workdir, str(repetitions)]
        # The venv's packages by path: the venv's own interpreter may sit where ``user`` cannot reach.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        output = subprocess.run(command, capture_output=True, text=True, check=True, user=user, env=env, cwd=workdir)
        return [float(value) for value in json.loads(output.stdout.strip().splitlines()[-1])]
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"pytest-postgresql child failed:\n{exc.stderr}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _python_for(user: str | None) -> str:
    """An interpreter of this Python version that ``user`` can execute (as root: not one under /root)."""
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{wanted}", "/usr/bin/python3"):
        probe = [candidate, "-c", "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"]
        try:
            found = subprocess.run(probe, capture_output=True, text=True, user=user, timeout=30, check=False)
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.strip() == wanted:
            return candidate
    raise SystemExit(f"No Python {wanted} that user {user!r} can run; the pytest-postgresql part needs one.")


def _pytest_postgresql_child(pg_ctl: str, workdir: str, repetitions: int) -> None:
    """Child process: what ``postgresql_proc`` does to start, timed, then stopped and removed."""
    import psycopg  # noqa: F401 - imported before timing
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor

    timings = []
    for index in range(repetitions):
        base = Path(workdir) / f"run-{index}"
        base.mkdir()
        port = get_port(None)
        assert port is not None
        executor = PostgreSQLExecutor(
            executable=pg_ctl,
            host="127.0.0.1",
            port=port,
            datadir=str(base / "data"),
            unixsocketdir=str(base),
            logfile=str(base / "postgresql.log"),
            startparams="-w",
            dbname="tests",
        )
        started = time.perf_counter()
        executor.start()
        executor.wait_for_postgres()
        first_query(f"host=127.0.0.1 port={port} user=postgres dbname=postgres")
        timings.append(time.perf_counter() - started)
        executor.stop()
        executor.clean_directory()
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(timings))


def main() -> None:
    import psycopg  # noqa: F401 - imported before timing
    from _common import parse_args, ratio, summarize

    from harness.config import get_config
    from harness.providers.rundir import current_run
    from harness.services.postgres import SERVICE

    arguments = parse_args(__doc__)
    repetitions = 3 if arguments.quick else 5
    print(f"Cold start to first query, {repetitions} starts each")
    try:
        config = get_config()
        binary = SERVICE.find_local_binary(config)
        if binary is None:
            raise SystemExit("no local PostgreSQL binary found; this benchmark needs one")
        pg_ctl = str(binary.path.parent / "pg_ctl")
        harness_start(config)  # warm-up: builds the cached cluster if missing
        cached = summarize("(a) harness, cached cluster", [harness_start(config) for _ in range(repetitions)])
        uncached = summarize("(b) harness, no cache (initdb)", [harness_uncached_start() for _ in range(repetitions)])
    finally:
        current_run().shutdown()  # the reaper and the run directory
    proc = summarize("(c) pytest-postgresql executor", pytest_postgresql_starts(pg_ctl, repetitions))
    ratio("harness no cache", uncached, "harness cached", cached)
    ratio("pytest-postgresql", proc, "harness cached", cached)
    ratio("pytest-postgresql", proc, "harness no cache", uncached)
    print(f"  target: (a) under 300 ms -> {'met' if cached < 0.3 else 'NOT met'} ({cached * 1000:.0f} ms)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--pytest-postgresql-child":
        _pytest_postgresql_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
