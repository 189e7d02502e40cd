"""The application under test as a service: a command the local provider runs, ready when its health path is 2xx.

It is a service like PostgreSQL is (the local provider starts it in the run
directory, records it for the reaper, captures its output, stops it TERM then
KILL), with two differences: it runs as the user running the tests (it is their
code), and it is not started on its own (``standalone = False``): it needs the
other services' endpoints, which arrive in its environment. One AppService is
made per :class:`harness.http.process.AppProcess`; it is not in the catalog.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ServiceUnavailable
from harness.services.base import Endpoint, LaunchContext, LocalBinary, LocalLaunch, Setting

__all__ = ["AppService", "AppSpec", "listening_ports"]

PORT_PLACEHOLDER = "{port}"


@dataclass(frozen=True)
class AppSpec:
    """What AppProcess was given: the command and how to reach the app once it runs."""

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    port_env: str = "PORT"
    health_path: str = "/health"


class AppService:
    """The service description of one application command (see the module docstring)."""

    name = "app"
    settings: tuple[Setting, ...] = ()
    install_hint = "check the command given to AppProcess (is it installed, is the path right?)"
    docker_hint = "AppProcess runs the application as a local process; it has no image"
    external_hint = "pass the URL of a running app to APITestClient instead"
    standalone = False
    runs_as_server_user = False
    namespace: str | None = None

    def __init__(self, spec: AppSpec, services_env: Mapping[str, str]) -> None:
        self.spec = spec
        self.services_env = dict(services_env)

    def _program(self) -> Path | None:
        program = self.spec.command[0]
        if os.sep in program:
            path = Path(self.spec.cwd or ".", program) if not os.path.isabs(program) else Path(program)
            return path if path.is_file() and os.access(path, os.X_OK) else None
        found = shutil.which(program)
        return Path(found) if found else None

    def find_local_binary(self, config: Any) -> LocalBinary | None:
        program = self._program()
        return None if program is None else LocalBinary(path=program, version="", source="AppProcess command")

    def local_candidates(self, config: Any) -> list[str]:
        program = self.spec.command[0]
        return [program if os.sep in program else f"{program} on PATH"]

    def prepare_local(self, config: Any, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        port = context.port
        command = [part.replace(PORT_PLACEHOLDER, str(port)) for part in self.spec.command]
        env = {**self.services_env, self.spec.port_env: str(port), **self.spec.env}
        endpoint = Endpoint(
            service=self.name, provider="local", host="127.0.0.1", port=port, url=f"http://127.0.0.1:{port}",
            owned=True, details={"health_path": self.spec.health_path, "port_env": self.spec.port_env},
        )
        longer = f"raise AppProcess(startup_timeout=...) if it needs longer than {config.startup_timeout:g}s"
        return LocalLaunch(
            command=command, endpoint=endpoint, env=env, stop_signal=signal.SIGTERM,
            cwd=Path(self.spec.cwd) if self.spec.cwd else Path.cwd(), diagnose=self._diagnose(port),
            title="The app", output_label="Its output",
            slow_start_advice=longer,
        )

    def _diagnose(self, port: int) -> Callable[[int], str]:
        def diagnose(pid: int) -> str:
            ports = [found for found in listening_ports(pid) if found != port]
            if not ports:
                return ""
            return (f"The app listens on port {', '.join(map(str, ports))}, not on {port}, the one it was given in "
                    f"${self.spec.port_env}: make it read ${self.spec.port_env} (or put {{port}} in its command).")

        return diagnose

    def external_endpoint(self, url: str) -> Endpoint:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return Endpoint(service=self.name, provider="external", host=parts.hostname or "localhost", port=port,
                        url=url.rstrip("/"), owned=False, details={"health_path": self.spec.health_path})

    def docker_container(self, config: Any) -> Any:
        raise ServiceUnavailable(f"The application under test has no container: {self.docker_hint}.")

    def docker_endpoint(self, container: Any) -> Endpoint:
        raise ServiceUnavailable(f"The application under test has no container: {self.docker_hint}.")

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """``GET <health path>`` answers 2xx."""
        path = str(endpoint.details.get("health_path", "/health"))
        url = f"{endpoint.url}{path}"
        connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
        except ConnectionRefusedError:
            port_env = endpoint.details.get("port_env", "PORT")
            raise ServiceUnavailable(
                f"GET {url}: connection refused (nothing listens on {endpoint.address}, the port given to the app "
                f"in ${port_env})"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ServiceUnavailable(f"GET {url}: {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise ServiceUnavailable(f"GET {url} answered {response.status} {response.reason}")

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        return {"APP_URL": endpoint.url}


def listening_ports(pid: int) -> list[int]:
    """The TCP ports the process ``pid`` and its children listen on (Linux /proc; empty elsewhere)."""
    inodes: set[str] = set()
    for process in _process_tree(pid):
        try:
            for fd in os.listdir(f"/proc/{process}/fd"):
                target = os.readlink(f"/proc/{process}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def _process_tree(pid: int) -> Sequence[int]:
    found = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found += list(_process_tree(int(entry)))
    return found
