"""AppProcess: the application under test as a child process, between the real services harness started."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from harness.config import get_config
from harness.errors import ConfigError, ServiceStartError, UsageError
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.services.app import AppService, AppSpec
from harness.services.base import Endpoint

__all__ = ["AppProcess"]

OUTPUT_TAIL_CHARS = 3000


class AppProcess:
    """Run the application under test as a child process; ``start(env)`` returns its URL once it is healthy.

    ``{port}`` in ``command`` becomes a free port, which the app also finds in
    ``$PORT`` (``port_env``); it is ready when ``GET health_path`` answers 2xx within
    ``startup_timeout`` seconds. Its output goes to a file in the run directory;
    ``stop()`` sends SIGTERM, then SIGKILL after 5 s, and a killed test run's reaper
    stops it too. Declared on a :class:`~harness.ServiceIntegrationTest`::

        class TestOrders(ServiceIntegrationTest):
            services = ("postgres", "redis", "kafka")
            app = AppProcess(["python", "-m", "orders"], health_path="/health")
    """

    kind = "app process"

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        port_env: str = "PORT",
        health_path: str = "/health",
        startup_timeout: float = 30.0,
    ) -> None:
        if isinstance(command, str) or not command or not all(isinstance(part, str) for part in command):
            raise ConfigError(
                f"AppProcess(command={command!r}): give the command as a non-empty list of strings, "
                "e.g. AppProcess(['python', '-m', 'orders'])."
            )
        if not health_path.startswith("/"):
            raise ConfigError(f"AppProcess(health_path={health_path!r}): a path starting with '/', e.g. '/health'.")
        if startup_timeout <= 0:
            raise ConfigError(f"AppProcess(startup_timeout={startup_timeout!r}): a positive number of seconds.")
        self.spec = AppSpec(command=tuple(command), env=dict(env or {}), cwd=cwd, port_env=port_env,
                            health_path=health_path)
        self.startup_timeout = startup_timeout
        self.url: str | None = None
        self.app: Any = None  # out of process: nothing to reach into
        self._provider: LocalProvider | None = None
        self._endpoint: Endpoint | None = None

    def __repr__(self) -> str:
        return f"AppProcess({list(self.spec.command)!r}, health_path={self.spec.health_path!r})"

    def start(self, env: Mapping[str, str]) -> str:
        """Start the app with ``env`` (the services' variables) and wait until it is healthy; return its URL."""
        if self._provider is not None:
            raise UsageError(f"{self!r} is already running at {self.url}; stop() it first.")
        service = AppService(self.spec, env)
        if service.find_local_binary(None) is None:
            raise ServiceStartError(
                f"AppProcess: the command {self.spec.command[0]!r} was not found ("
                + ("no such executable file" if "/" in self.spec.command[0] else "not on PATH")
                + f"; working directory {self.spec.cwd or '.'}). Check the command in {self!r}."
            )
        config = dataclasses.replace(get_config(), startup_timeout=self.startup_timeout)
        provider = LocalProvider(service, config, current_run())
        self._endpoint = provider.start()
        self._provider = provider
        self.url = self._endpoint.url
        return self.url

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; its directory (and output file) goes too. Safe twice."""
        provider, self._provider = self._provider, None
        if provider is not None:
            provider.stop()
        self.url = None

    @property
    def pid(self) -> int | None:
        process = self._provider.process if self._provider is not None else None
        return process.pid if process is not None else None

    def status(self) -> str | None:
        """None while the app runs; else a sentence with its exit code and the last lines it printed."""
        provider = self._provider
        if provider is None or provider.process is None:
            return "The app process is not running (it was never started, or was stopped)."
        code = provider.process.poll()
        if code is None:
            return None
        return f"The app process (pid {provider.process.pid}) exited with code {code}; its last output:\n" + (
            self.output()[-OUTPUT_TAIL_CHARS:] or "(nothing)"
        )

    def output(self) -> str:
        """Everything the app printed (stdout and stderr) since it started."""
        return self.output_since(0)

    def mark(self) -> int:
        """A position in the app's output: :meth:`output_since` gives what it printed after it."""
        path = self._log_path()
        try:
            return path.stat().st_size if path is not None else 0
        except OSError:
            return 0

    def output_since(self, mark: int) -> str:
        path = self._log_path()
        if path is None:
            return ""
        try:
            with open(path, "rb") as log:
                log.seek(mark)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_path(self) -> Any:
        launch = self._provider.launch if self._provider is not None else None
        return launch.log_path if launch is not None else None
