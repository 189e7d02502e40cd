"""The docker provider: the service's official image through testcontainers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import ServiceStartError, ServiceUnavailable
from harness.providers.readiness import wait_ready
from harness.providers.rundir import CONTAINER_FILE, Run
from harness.services.base import Endpoint, Service

__all__ = ["DockerProvider", "docker_available"]

POLL_SECONDS = 0.1  # every probe of a container crosses the Docker proxy


def _ping_unix_socket(path: str) -> tuple[bool, str]:
    # A raw /_ping: docker-py leaks its socket when the daemon is absent (a ResourceWarning).
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return False, f"no Docker daemon answered at {path} ({exc.strerror or exc})"
    if b" 200 " not in reply:
        return False, f"the Docker daemon at {path} answered {reply[:40]!r} to a ping"
    return True, f"a Docker daemon answered at {path}"


def docker_available() -> tuple[bool, str]:
    """Whether a Docker daemon answers a ping (and the docker extra is installed), and if not, why."""
    try:
        docker = require("docker", extra="docker", purpose="The docker provider")
    except ServiceUnavailable as exc:
        return False, str(exc)
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        return _ping_unix_socket(host[len("unix://") :])
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except (docker.errors.DockerException, OSError) as exc:
        return False, f"no Docker daemon answered at {host} ({exc})"
    return True, f"a Docker daemon answered at {host}"


class DockerProvider:
    """Run ``service`` in a container; ``start()`` waits for a real answer, ``stop()`` removes it.

    >>> from harness.config import get_config
    >>> from harness.providers.rundir import current_run
    >>> from harness.services.catalog import get_service
    >>> SERVICE = get_service("postgres")
    >>> provider = DockerProvider(SERVICE, get_config(), current_run())
    """

    name = "docker"
    owns_server = True

    def __init__(self, service: Service, config: IntegrationTestConfig, run: Run) -> None:
        self.service = service
        self.config = config
        self.run = run
        self.container: Any = None
        self.endpoint: Endpoint | None = None
        self.workdir: Path | None = None

    def start(self) -> Endpoint:
        available, reason = docker_available()
        if not available:
            raise ServiceUnavailable(
                f"The docker provider cannot start {self.service.name}: {reason}. "
                f"To fix: {self.service.docker_hint}."
            )
        self.workdir = self.run.ensure() / f"{self.service.name}-docker-{uuid.uuid4().hex[:8]}"
        self.workdir.mkdir(mode=0o700)
        try:
            self.container = self.service.docker_container(self.config)
            self.container.start()
            container_id = self.container.get_wrapped_container().id
            (self.workdir / CONTAINER_FILE).write_text(json.dumps({"id": container_id}))
            self.endpoint = self.service.docker_endpoint(self.container)
            self._wait_ready(self.endpoint)
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def _wait_ready(self, endpoint: Endpoint) -> None:
        last_error = wait_ready(
            lambda seconds: self.service.probe(endpoint, timeout=seconds),
            timeout=self.config.startup_timeout, poll=POLL_SECONDS,
        )
        if last_error is not None:
            raise ServiceStartError(
                f"{self.service.name} container on {endpoint.address} did not answer within "
                f"{self.config.startup_timeout:g}s: {last_error}. Container log:\n{self.logs()}"
            )

    def stop(self) -> None:
        """Remove the container and its record; safe twice."""
        if self.container is not None:
            container, self.container = self.container, None
            container.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.endpoint = None

    def is_ready(self) -> bool:
        if self.endpoint is None:
            return False
        try:
            self.service.probe(self.endpoint, timeout=2.0)
        except ServiceUnavailable:
            return False
        return True

    def logs(self) -> str:
        """The tail of the container's log; never raises (it is read while reporting another failure)."""
        if self.container is None:
            return ""
        try:
            stdout, stderr = self.container.get_logs()
            return (stdout + stderr).decode(errors="replace")[-3000:]
        except Exception as exc:  # noqa: BLE001 - the daemon's own error must not hide the one being reported
            return f"(the container's log could not be read: {type(exc).__name__}: {exc})"
