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

Then the copy alone, most of (a) before issue 11, the two ways alternately into the
run's scratch directory (memory-backed /dev/shm where there is one), each copy removed
untimed: the old way, ``cp -a`` of the cluster as initdb leaves it (made once, untimed, by
harness's initdb command, and kept beside the cached cluster, on its filesystem, as the
old cache was), and the new way, harness's listed ``sendfile`` copy of the cached,
trimmed cluster, owned by the server's user as it is made.

Target: (a) under 120 ms (issue 11); (c) is ~1.7 s on the reference machine.
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
from typing import TYPE_CHECKING, Any

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


def copy_timings(config: IntegrationTestConfig, repetitions: int) -> tuple[list[float], list[float]]:
    """Seconds per copy: ``cp -a`` of an untrimmed cluster, and harness's copy of the trimmed cached one."""
    from harness.providers.osuser import server_user
    from harness.providers.rundir import current_run
    from harness.services import postgres_cluster, postgres_local
    from harness.services.postgres import SERVICE

    binary = SERVICE.find_local_binary(config)
    assert binary is not None
    user = server_user(config.os_user)
    bin_dir = postgres_local.runnable_bin_dir(binary.path.parent, user)
    scratch = Path(tempfile.mkdtemp(prefix="bench-copy-", dir=current_run().ensure()))  # removed with the run
    template, _ = postgres_local.cached_cluster(config, bin_dir, binary.version, user, staging=scratch)
    identity = user.popen_arguments() if user is not None else {}
    owner = (identity["user"], identity["group"]) if identity else None
    listing = postgres_cluster.listing_of(template)
    # Beside the cached cluster, on its filesystem, as the old cache was.
    beside = Path(tempfile.mkdtemp(prefix="harness-bench-", dir=template.parent.parent))
    old, new = [], []
    try:
        untrimmed = beside / "cluster"
        subprocess.run(["cp", "-a", str(_untrimmed_cluster(bin_dir, scratch, identity)), str(untrimmed)], check=True)
        for index in range(repetitions):
            target = scratch / f"old-{index}"
            started = time.perf_counter()
            subprocess.run(["cp", "-a", str(untrimmed), str(target)], check=True)
            old.append(time.perf_counter() - started)
            shutil.rmtree(target)
            target = scratch / f"new-{index}"
            started = time.perf_counter()
            postgres_cluster.copy_listed(template, target, listing, owner=owner)
            new.append(time.perf_counter() - started)
            shutil.rmtree(target)
    finally:
        shutil.rmtree(beside)
        shutil.rmtree(scratch)
    return old, new


def _untrimmed_cluster(bin_dir: Path, scratch: Path, identity: dict[str, Any]) -> Path:
    """A cluster as initdb leaves it (not trimmed), by harness's initdb command, run as the server's user."""
    from harness.services.postgres_local import initdb_command

    cluster = scratch / "untrimmed"
    password_file = scratch / "password"
    password_file.write_text("bench-only\n")
    if identity:
        for path in (scratch, password_file):
            os.chown(path, identity["user"], identity["group"])
    subprocess.run(initdb_command(bin_dir, cluster, password_file), capture_output=True, check=True, **identity)
    return cluster


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
        old_copies, new_copies = copy_timings(config, repetitions * 3)
    finally:
        current_run().shutdown()  # the reaper and the run directory
    proc = summarize("(c) pytest-postgresql executor", pytest_postgresql_starts(pg_ctl, repetitions))
    ratio("harness no cache", uncached, "harness cached", cached)
    ratio("pytest-postgresql", proc, "harness cached", cached)
    ratio("pytest-postgresql", proc, "harness no cache", uncached)
    print(f"  target: (a) under 120 ms -> {'met' if cached < 0.12 else 'NOT met'} ({cached * 1000:.0f} ms)")
    print("The copy alone (part of (a)):")
    old_copy = summarize("cp -a, untrimmed cluster (before)", old_copies)
    new_copy = summarize("listed sendfile copy, trimmed cluster (now)", new_copies)
    ratio("cp -a untrimmed", old_copy, "listed copy trimmed", new_copy)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--pytest-postgresql-child":
        _pytest_postgresql_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
