"""The local provider: a real server binary as a child process on 127.0.0.1.

Each server gets an ephemeral port, a private work directory inside the run
directory (so the reaper finds and removes it), its output in ``server.log``,
and a ``process.json`` written the moment it is spawned, before any wait.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import stat
import subprocess
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from harness.config import IntegrationTestConfig, setting_variable
from harness.errors import HarnessWarning, ServiceStartError, ServiceUnavailable
from harness.providers.osuser import ServerUser, server_user
from harness.providers.readiness import FIRST_POLL_SECONDS, wait_ready
from harness.providers.rundir import (
    PROCESS_FILE,
    Run,
    process_start_time,
    remove_workdir,
    spill_directory,
    terminate_process,
)
from harness.services.base import Endpoint, LaunchContext, LocalLaunch, Service

__all__ = ["LocalProvider", "free_port"]

logger = logging.getLogger("harness")

PORT_ATTEMPTS = 3
LOG_TAIL_CHARS = 3000


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port nobody listens on right now (bind to 0, read, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalProvider:
    """Start ``service``'s binary under ``run``'s directory; ``start()`` waits for a real answer.

    >>> from harness.config import get_config
    >>> from harness.providers.rundir import current_run
    >>> from harness.services.catalog import get_service
    >>> SERVICE = get_service("postgres")
    >>> provider = LocalProvider(SERVICE, get_config(), current_run())
    >>> endpoint = provider.start()   # doctest: +SKIP
    >>> provider.stop()
    """

    name = "local"
    owns_server = True

    def __init__(self, service: Service, config: IntegrationTestConfig, run: Run) -> None:
        self.service = service
        self.config = config
        self.run = run
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.launch: LocalLaunch | None = None

    def start(self) -> Endpoint:
        binary = self.service.find_local_binary(self.config)
        if binary is None:
            tried = "; ".join(self.service.local_candidates(self.config))
            raise ServiceUnavailable(
                f"No local {self.service.name} binary found (tried: {tried}). To fix: {self.service.install_hint}."
            )
        deadline = time.monotonic() + self.config.startup_timeout
        user = self._server_user()
        ports_taken = 0
        repaired: str | None = None
        while True:
            workdir = self.workdir = self.run.ensure() / f"{self.service.name}-{uuid.uuid4().hex[:8]}"
            self.workdir.mkdir(mode=0o700)
            launch: LocalLaunch | None = None
            try:
                context = LaunchContext(
                    config=self.config, workdir=workdir, port=free_port(), user=user,
                    run_directory=self.run.directory, free_port=free_port,
                    spill_directory=functools.partial(spill_directory, workdir),
                )
                launch = self.service.prepare_local(self.config, binary, context)
                self._spawn(launch)
                endpoint = self._wait_ready(launch, deadline)
                if repaired is not None:
                    logger.warning("harness: %s", repaired)
                    warnings.warn(HarnessWarning(repaired), stacklevel=2)
                return endpoint
            except _PortTakenError:
                self.stop()
                ports_taken += 1
                if ports_taken == PORT_ATTEMPTS:
                    raise ServiceStartError(
                        f"{self.service.name}: {PORT_ATTEMPTS} ephemeral ports were taken before the server "
                        "could bind them; the machine may be short of ports."
                    ) from None
            except ServiceStartError:
                note = self._repair(launch) if repaired is None else None
                self.stop()
                if note is None:
                    raise
                repaired = note  # once: a second failure is reported as it is
            except BaseException:
                self.stop()
                raise

    def _server_user(self) -> ServerUser | None:
        if not self.service.runs_as_server_user:
            return None
        own = self.config.setting(self.service.name, "os_user")
        if own is not None:
            return server_user(own, setting=setting_variable(self.service.name, "os_user"))
        return server_user(self.config.os_user)

    def _repair(self, launch: LocalLaunch | None) -> str | None:
        if launch is None or launch.repair is None:
            return None
        return launch.repair(self.logs())

    def _spawn(self, launch: LocalLaunch) -> None:
        assert self.workdir is not None
        identity: dict[str, Any] = {}
        if launch.os_user is not None:
            closed = [parent for parent in self.workdir.parents if not parent.stat().st_mode & stat.S_IXOTH]
            if closed:
                raise ServiceStartError(
                    f"{self.service.name} runs as the unprivileged user {launch.os_user.name!r}, which cannot reach "
                    f"its work directory {self.workdir}: {closed[0]} is not searchable by other users. Make it so "
                    "(chmod o+x), or set HARNESS_SCRATCH_DIR to a directory other users can reach."
                )
            # The server creates its socket and lock files here; prepare_local owns what is inside.
            launch.os_user.own(self.workdir)
            identity = launch.os_user.popen_arguments()
        log_path = launch.log_path or self.workdir / "server.log"
        self.launch = launch
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                launch.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killed as a group, untouched by Ctrl-C
                env={**os.environ, **launch.env} if launch.inherit_env else dict(launch.env),
                cwd=launch.cwd or self.workdir,
                **identity,
            )
        record = {
            "pid": self.process.pid,
            "signal": int(launch.stop_signal),
            "started": process_start_time(self.process.pid),
            "service": self.service.name,
        }
        (self.workdir / PROCESS_FILE).write_text(json.dumps(record))
        launch.log_path = log_path

    def _wait_ready(self, launch: LocalLaunch, deadline: float) -> Endpoint:
        process = self.process
        assert process is not None
        started = launch.on_start is None

        def exited() -> None:
            code = process.poll()
            if code is None:
                return
            log = self.logs()
            if "already in use" in log or "Address in use" in log:
                raise _PortTakenError()
            raise ServiceStartError(
                f"{launch.title or self.service.name} ({launch.command[0]}) exited with code {code} before it was "
                f"ready. {launch.output_label} ({launch.log_path}):\n{log}"
            )

        def attempt(seconds: float) -> None:
            nonlocal started
            if not started:
                assert launch.on_start is not None
                launch.on_start(seconds)
                started = True
            # The probe also checks that the answer comes from this process, not another server
            # that holds the port (the process then fails to bind and exits: see above).
            self.service.probe(launch.endpoint, timeout=seconds)

        # A child on loopback: a failed attempt costs little, and the first ones come every few ms.
        last_error = wait_ready(attempt, timeout=deadline - time.monotonic(), alive=exited,
                                first_poll=FIRST_POLL_SECONDS)
        if last_error is not None:
            diagnosis = launch.diagnose(process.pid) if launch.diagnose is not None else ""
            raise ServiceStartError(
                f"{launch.title or self.service.name} on {launch.endpoint.address} did not answer within "
                f"{self.config.startup_timeout:g}s (last error: {last_error}); {launch.slow_start_advice}."
                f"{' ' + diagnosis if diagnosis else ''} {launch.output_label} ({launch.log_path}):\n"
                f"{self.logs()}"
            )
        return launch.endpoint

    def stop(self) -> None:
        """Stop the server (its whole process group) and delete its directory; safe twice."""
        if self.process is not None:
            assert self.launch is not None
            terminate_process(self.process.pid, stop_signal=self.launch.stop_signal)
            self.process.wait()
            self.process = None
        if self.workdir is not None:
            remove_workdir(self.workdir)
            self.workdir = None

    def is_ready(self) -> bool:
        if self.process is None or self.process.poll() is not None or self.launch is None:
            return False
        try:
            self.service.probe(self.launch.endpoint, timeout=2.0)
        except ServiceUnavailable:
            return False
        return True

    def logs(self) -> str:
        """The tail of the server's log."""
        if self.launch is None or self.launch.log_path is None:
            return ""
        try:
            text = self.launch.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]


class _PortTakenError(Exception):
    """The ephemeral port was grabbed by someone else between choosing and binding it."""
