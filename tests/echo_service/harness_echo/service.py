"""The echo service: how harness finds, starts, reaches and checks the echo server of :mod:`harness_echo.server`.

Locally the "binary" is a Python interpreter (the running one, or ``echo_bin``) running
``python -m harness_echo.server`` on 127.0.0.1 with a per-run password in a 0600 file.
When harness runs as root the server runs as its unprivileged user, who may not be able
to reach the running interpreter (a pyenv Python under /root): then the first ``python3``
on PATH that user can run is used, and the package is mirrored if that user cannot read it.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import signal
import sys
import uuid
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from harness.errors import ConfigError, ServiceUnavailable
from harness.redaction import Secret, detach, mask_url, new_password, write_private
from harness.services.base import (
    Endpoint,
    LaunchContext,
    LocalBinary,
    LocalLaunch,
    OSUser,
    Setting,
    binary_version,
    parse_url,
    publish_on_loopback,
    scrub,
)
from harness_echo.client import EchoClient, EchoDenied, EchoError

__all__ = ["DEFAULT_PORT", "EchoService", "SERVICE", "parse_greeting"]

DEFAULT_PORT = 7007
CONTAINER_PORT = 7007
MAX_GREETING = 80
PACKAGE_DIRECTORY = Path(__file__).resolve().parent
URL_VARIABLE = "HARNESS_ECHO_URL"
SYSTEM_BIN_DIRECTORIES = ("/usr/local/bin", "/usr/bin")

# What docker_container gave each container it made (password, instance, greeting), for docker_endpoint.
_CONTAINERS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def parse_greeting(text: str) -> str:
    """The greeting from an environment variable or ini value: one printable line of at most 80 characters."""
    greeting = text.strip()
    problem = _greeting_problem(greeting)
    if problem is not None:
        raise ValueError(problem)
    return greeting


def _greeting_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "expected a non-empty line of text"
    if len(value) > MAX_GREETING:
        return f"expected at most {MAX_GREETING} characters, got {len(value)}"
    if not value.isprintable():
        return "expected printable characters on one line"
    return None


def _check_greeting(value: object) -> str | None:
    problem = _greeting_problem(value)
    return None if problem is None else f"is not a valid greeting: {problem}."


class EchoService:
    """The echo server as a harness service (see the module docstring)."""

    name = "echo"
    install_hint = "any Python 3 runs it: pip install -e tests/echo_service, or set HARNESS_ECHO_BIN to a python3"
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon (the image is python:3-alpine)"
    external_hint = f"set {URL_VARIABLE}=echo://:password@host:{DEFAULT_PORT}"
    settings = (
        Setting("bin", "the Python interpreter that runs the echo server (default: the running one)"),
        Setting("image", "the image the docker provider runs the server in", default="python:3-alpine"),
        Setting("greeting", "what the server says after its instance in answer to INFO", default="hello",
                parse=parse_greeting, check=_check_greeting),
    )
    standalone = True
    runs_as_server_user = True
    namespace = "harness_echo.namespace"

    # -- where the interpreter is --------------------------------------------------------------

    def _candidates(self, config: Any) -> list[tuple[Path, str]]:
        explicit = config.setting(self.name, "bin")
        if explicit is not None:
            return [(Path(explicit), "echo_bin setting")]
        candidates = [(Path(sys.executable), "the running Python")]
        # Every python3 on PATH, then the system's: the first ones may be out of the server user's reach.
        directories = [*os.environ.get("PATH", "").split(os.pathsep), *SYSTEM_BIN_DIRECTORIES]
        for directory in dict.fromkeys(filter(None, directories)):
            found = shutil.which("python3", path=directory)
            if found is not None and Path(found) not in {path for path, _source in candidates}:
                candidates.append((Path(found), "python3 on PATH" if directory not in SYSTEM_BIN_DIRECTORIES
                                   else "the system's python3"))
        return candidates

    def local_candidates(self, config: Any) -> list[str]:
        return [f"{path} ({source})" for path, source in self._candidates(config)]

    def find_local_binary(self, config: Any) -> LocalBinary | None:
        for path, source in self._candidates(config):
            if path.is_file() and os.access(path, os.X_OK):
                return LocalBinary(path=path, version=_python_version(path), source=source)
        if config.setting(self.name, "bin") is not None:
            raise ServiceUnavailable(
                f"echo_bin={config.setting(self.name, 'bin')!r} is not an executable file. Point it at a Python 3 "
                "interpreter, or unset HARNESS_ECHO_BIN."
            )
        return None

    def _interpreter_for(self, config: Any, binary: LocalBinary, user: OSUser | None) -> tuple[Path, str]:
        """An interpreter ``user`` can run: ``binary``, else the next candidate (the server needs only the stdlib)."""
        if user is None or user.can_run(binary.path):
            return binary.path, binary.source
        for path, source in self._candidates(config):
            if path.is_file() and user.can_run(path):
                return path, f"{source}; {binary.path} is out of reach of user {user.name!r}"
        raise ServiceUnavailable(
            f"The echo server runs as the unprivileged user {user.name!r}, who cannot run {binary.path} "
            f"({binary.source}) nor any other Python found (tried: {'; '.join(self.local_candidates(config))}). "
            "Set HARNESS_ECHO_BIN to a Python 3 that user can execute (e.g. /usr/bin/python3)."
        )

    # -- local ------------------------------------------------------------------------------------

    def prepare_local(self, config: Any, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        user, workdir, port = context.user, context.workdir, context.port
        interpreter, source = self._interpreter_for(config, binary, user)
        package = PACKAGE_DIRECTORY
        if user is not None and not user.can_run(package):
            package = user.mirror(package)  # a world-readable copy, made once
        password = new_password()
        # The password goes in a 0600 file the server's user owns, never on the command line.
        password_file = workdir / "password"
        write_private(password_file, f"{password}\n")
        if user is not None:
            user.own(password_file)
        instance = uuid.uuid4().hex
        greeting = config.setting(self.name, "greeting")
        command = [
            str(interpreter), "-u", "-s", "-m", "harness_echo.server",
            "--port", str(port),
            "--password-file", str(password_file),
            "--instance", instance,
            "--greeting", greeting,
        ]
        endpoint = Endpoint(
            service=self.name,
            provider="local",
            host="127.0.0.1",
            port=port,
            url=f"echo://:{password}@127.0.0.1:{port}",
            owned=True,
            details={
                "instance": instance,
                "greeting": greeting,
                "binary": str(interpreter),
                "version": binary.version if interpreter == binary.path else _python_version(interpreter),
                "source": source,
                "password_file": str(password_file),
            },
        )
        # PYTHONPATH: the package's parent, so whichever interpreter runs it finds harness_echo.server
        # (which imports the standard library alone); nothing written next to the package's sources.
        env = {"PYTHONPATH": str(package.parent), "PYTHONDONTWRITEBYTECODE": "1"}
        return LocalLaunch(command=command, endpoint=endpoint, env=env, os_user=user, stop_signal=signal.SIGTERM)

    # -- external and docker ----------------------------------------------------------------------

    def external_endpoint(self, url: str) -> Endpoint:
        parsed = parse_url(url, variable=URL_VARIABLE, schemes=("echo",),
                           example=f"echo://:password@host:{DEFAULT_PORT}", default_port=DEFAULT_PORT)
        if not urlsplit(url).password:
            raise ConfigError(
                f"{URL_VARIABLE}={mask_url(url)!r} has no password; an echo server always asks for one. "
                f"Expected echo://:password@host:{DEFAULT_PORT}; fix or unset {URL_VARIABLE}."
            )
        return Endpoint(service=self.name, provider="external", host=parsed.host, port=parsed.port, url=url,
                        owned=False)

    def docker_container(self, config: Any) -> Any:
        try:
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise ServiceUnavailable(
                "The docker provider needs the Python package 'testcontainers', which is not installed. "
                "Install it with: pip install 'harness[docker]'"
            ) from exc
        password = new_password()
        instance = uuid.uuid4().hex
        greeting = config.setting(self.name, "greeting")
        container = DockerContainer(config.setting(self.name, "image"))
        container.with_exposed_ports(CONTAINER_PORT)
        publish_on_loopback(container, CONTAINER_PORT)
        # The server's source and the password reach the container through its environment; a shell
        # writes them to files, so neither is on a command line `ps` on the host would show.
        container.with_env("HARNESS_ECHO_PASSWORD", password)
        container.with_env("HARNESS_ECHO_SERVER", (PACKAGE_DIRECTORY / "server.py").read_text())
        script = (
            'printf "%s\\n" "$HARNESS_ECHO_PASSWORD" > /tmp/password && unset HARNESS_ECHO_PASSWORD && '
            'printf "%s" "$HARNESS_ECHO_SERVER" > /tmp/echo_server.py && '
            f"exec python -u /tmp/echo_server.py --listen-all --port {CONTAINER_PORT} --password-file /tmp/password "
            f"--instance {instance} --greeting {shlex.quote(greeting)}"
        )
        container.with_command(["sh", "-c", script])
        _CONTAINERS[container] = {"password": password, "instance": instance, "greeting": greeting}
        return container

    def docker_endpoint(self, container: Any) -> Endpoint:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(CONTAINER_PORT))
        started = _CONTAINERS[container]
        url = f"echo://:{quote(started['password'], safe='')}@{host}:{port}"
        return Endpoint(service=self.name, provider="docker", host=host, port=port, url=url, owned=True,
                        details={"instance": started["instance"], "greeting": started["greeting"]})

    # -- readiness, environment -------------------------------------------------------------------

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """AUTH, then a line echoed back; for a server harness started, also that INFO names its instance.

        A password alone does not tell two echo servers apart; the instance harness gave
        the one it started does (another server may hold the port it picked).
        """
        password = Secret(unquote(urlsplit(endpoint.url).password or ""))
        expected = endpoint.details.get("instance")
        token = uuid.uuid4().hex
        try:
            with EchoClient(endpoint.host, endpoint.port, password=password, timeout=timeout) as client:
                if expected is not None:
                    instance, _greeting = client.info()
                    if instance != expected:
                        raise ServiceUnavailable(
                            f"{endpoint.address}: another echo server answers there (instance {instance!r}, not "
                            "the one harness started)"
                        )
                answer = client.echo(token)
        except EchoDenied as exc:
            message = f"{endpoint.address}: {exc} (check the password in {URL_VARIABLE})"
            raise ServiceUnavailable(message) from detach(exc)
        except EchoError as exc:
            raise ServiceUnavailable(f"{endpoint.address}: {scrub(str(exc), endpoint.url)}") from detach(exc)
        if answer != token:
            raise ServiceUnavailable(f"{endpoint.address}: sent {token!r}, got {answer[:60]!r} back: not an echo")

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        return {"ECHO_URL": endpoint.url}


def _python_version(path: Path) -> str:
    if path == Path(sys.executable):
        return platform.python_version()
    return binary_version(str(path), r"Python (\d+(?:\.\d+)+)")


SERVICE = EchoService()
