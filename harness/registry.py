"""The registry: start each service once per run, hand the same endpoint to every class, stop at exit.

Keyed by (service, provider, the service's options). Across pytest-xdist
workers the first worker to ask starts the server under the run's lock and the
others attach to its record; the run's owner stops everything when it ends,
and the reaper does it if the owner is killed.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.config import IntegrationTestConfig, external_variable, get_config
from harness.errors import ServiceStopError, ServiceUnavailable
from harness.providers.base import Provider
from harness.providers.docker import DockerProvider, docker_available
from harness.providers.external import ExternalProvider
from harness.providers.kept import keep_run
from harness.providers.local import LocalProvider
from harness.providers.rundir import (
    KEPT_FILE,
    Run,
    current_run,
    recorded_process_alive,
)
from harness.redaction import redact
from harness.services.base import Endpoint, Service
from harness.services.catalog import get_service

__all__ = [
    "DATA",
    "PROVIDER_FACTORIES",
    "ProviderStatus",
    "Registry",
    "TESTS",
    "choose_provider",
    "get_service",
    "provider_statuses",
    "registry",
]

logger = logging.getLogger("harness")

TESTS = 0
"""Shutdown stage: close what test classes interrupted mid-run still hold (their rows, keys, topics)."""
DATA = 1
"""Shutdown stage: remove what the run made on servers it shares (its databases, topics, leases)."""

@dataclass(frozen=True)
class ProviderStatus:
    """One line of ``harness doctor``: can this provider give this service, and with what."""

    service: str
    provider: str
    available: bool
    detail: str


def provider_statuses(service: Service, config: IntegrationTestConfig) -> list[ProviderStatus]:
    """Each provider's availability for ``service``, in the order ``auto`` tries them."""
    url = config.url_for(service.name)
    env_name = external_variable(service.name)
    statuses = [
        ProviderStatus(
            service.name,
            "external",
            url is not None,
            f"{env_name} = {service.external_endpoint(url).display_url}" if url else f"{env_name} is not set",
        )
    ]
    try:
        binary = service.find_local_binary(config)
    except ServiceUnavailable as exc:
        statuses.append(ProviderStatus(service.name, "local", False, str(exc)))
    else:
        if binary is None:
            detail = f"no binary (tried {'; '.join(service.local_candidates(config))}); {service.install_hint}"
            statuses.append(ProviderStatus(service.name, "local", False, detail))
        else:
            statuses.append(
                ProviderStatus(
                    service.name, "local", True, f"{binary.path} (version {binary.version}, {binary.source})"
                )
            )
    available, reason = docker_available()
    statuses.append(ProviderStatus(service.name, "docker", available, reason))
    return statuses


def choose_provider(service: Service, config: IntegrationTestConfig) -> str:
    """The provider to use: the one asked for, or for ``auto`` the first that can work."""
    asked = config.provider_for(service.name)
    if asked != "auto":
        return asked
    if config.url_for(service.name) is not None:
        return "external"
    if service.find_local_binary(config) is not None:
        return "local"
    statuses = provider_statuses(service, config)
    if statuses[-1].available:
        return "docker"
    hints = {"external": service.external_hint, "local": service.install_hint, "docker": service.docker_hint}
    lines = [f"  - {status.provider}: {status.detail}. To use it: {hints[status.provider]}" for status in statuses]
    raise ServiceUnavailable(
        f"No provider can give {service.name} (HARNESS_PROVIDER=auto tried external, local, docker):\n"
        + "\n".join(lines)
    )


def _external(service: Service, config: IntegrationTestConfig, run: Run) -> Provider:
    url = config.url_for(service.name)
    if url is None:
        raise ServiceUnavailable(
            f"provider 'external' was asked for {service.name} but {external_variable(service.name)} "
            "is not set; set it, or choose HARNESS_PROVIDER=auto."
        )
    return ExternalProvider(service, url, timeout=config.connect_timeout)


PROVIDER_FACTORIES: dict[str, Callable[[Service, IntegrationTestConfig, Run], Provider]] = {
    "external": _external,
    "local": LocalProvider,
    "docker": DockerProvider,
}
"""How each provider is made for a service: every provider takes (service, config, run)."""


def _options_key(service: Service, provider_name: str, config: IntegrationTestConfig) -> str:
    options = {**config.settings_of(service.name), "os_user": config.os_user}
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{service.name}-{provider_name}-{digest}"


class Registry:
    """Starts services on demand, once per run, and stops them when the run ends.

    >>> from harness.registry import registry
    >>> endpoint = registry.acquire("postgres")   # doctest: +SKIP
    >>> endpoint.display_url                      # doctest: +SKIP
    'postgresql://postgres@127.0.0.1:41234/postgres'
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._endpoints: dict[str, Endpoint] = {}
        self._providers: dict[str, Provider] = {}
        self._references: Counter[str] = Counter()
        self._exit_hooks_installed = False
        self._config: IntegrationTestConfig | None = None
        self._starting: dict[str, threading.Lock] = {}
        self._shutdown_callbacks: dict[int, list[Callable[[], None]]] = {TESTS: [], DATA: []}

    def acquire(self, service_name: str, config: IntegrationTestConfig | None = None) -> Endpoint:
        """A running endpoint for ``service_name``: started on the first call, reused after.

        Different services start at the same time when asked from several threads
        (:meth:`acquire_all`); the same service is started once, the others wait for it.
        """
        config = config if config is not None else get_config()
        service = get_service(service_name)
        provider_name = choose_provider(service, config)
        key = _options_key(service, provider_name, config)
        with self._lock:
            key_lock = self._starting.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                endpoint = self._endpoints.get(key)
            if endpoint is None:
                endpoint = self._start_or_attach(service, provider_name, key, config)
            with self._lock:
                self._endpoints[key] = endpoint
                self._config = config
                self._references[key] += 1
            return endpoint

    def acquire_all(self, service_names: Sequence[str], config: IntegrationTestConfig | None = None) -> list[Endpoint]:
        """:meth:`acquire` each of ``service_names`` in parallel: the wait is the slowest start, not the sum.

        If any fails, the others are still waited for (and stay registered, stopped at the end
        of the run as usual) and the first failure is raised.
        """
        if len(service_names) <= 1:
            return [self.acquire(name, config) for name in service_names]
        self._install_exit_hooks()  # here: signal handlers can only be set from the main thread
        with ThreadPoolExecutor(max_workers=len(service_names), thread_name_prefix="harness-start") as pool:
            futures = [pool.submit(self.acquire, name, config) for name in service_names]
            wait(futures)
        errors = [future.exception() for future in futures if future.exception() is not None]
        if errors:
            for future in futures:  # what did start is released: the caller will not
                if future.exception() is None:
                    self.release(future.result())
            raise errors[0]  # type: ignore[misc]
        return [future.result() for future in futures]

    def release(self, endpoint: Endpoint) -> None:
        """Drop one reference; the server keeps running until the run ends."""
        with self._lock:
            for key, known in self._endpoints.items():
                if known == endpoint and self._references[key] > 0:
                    self._references[key] -= 1
                    return

    def endpoints(self) -> list[Endpoint]:
        """The endpoints this process is using."""
        with self._lock:
            return list(self._endpoints.values())

    def references(self, endpoint: Endpoint) -> int:
        with self._lock:
            return sum(self._references[key] for key, known in self._endpoints.items() if known == endpoint)

    def _start_or_attach(
        self, service: Service, provider_name: str, key: str, config: IntegrationTestConfig
    ) -> Endpoint:
        self._install_exit_hooks()  # also for external servers: the run's own topics and rows go at exit
        run = current_run()
        provider = PROVIDER_FACTORIES[provider_name](service, config, run)
        if not provider.owns_server:
            endpoint = provider.start()
            with self._lock:
                self._providers[key] = provider
            return endpoint
        run.ensure()
        record_name = f"services/{key}.json"
        with run.locked(key):  # across xdist workers: the first starts it, the others attach to its record
            record = run.read_json(record_name)
            if record is not None and _record_alive(record):
                return Endpoint.from_record(record["endpoint"])
            endpoint = provider.start()
            with self._lock:
                self._providers[key] = provider
            run.write_json(record_name, {"endpoint": endpoint.to_record(), "workdir": str(provider.workdir)})
            logger.info("harness: started %s (%s) at %s", service.name, provider_name, endpoint.display_url)
            return endpoint

    def _install_exit_hooks(self) -> None:
        if self._exit_hooks_installed:
            return
        self._exit_hooks_installed = True
        atexit.register(self.shutdown)
        # pytest and unittest die on SIGTERM and SIGHUP (a closed terminal) without running
        # atexit; turning them into KeyboardInterrupt lets both unwind as on Ctrl-C.
        if threading.current_thread() is threading.main_thread():
            for signum in _UNWINDING_SIGNALS:
                if signal.getsignal(signum) is signal.SIG_DFL:
                    signal.signal(signum, _raise_keyboard_interrupt)

    def on_shutdown(self, callback: Callable[[], None], *, stage: int) -> None:
        """Run ``callback`` when the run ends, before any server stops (once; later calls are ignored).

        Stages run in order: :data:`TESTS` (what open test classes still hold), then
        :data:`DATA` (databases and other state the run made on shared servers).
        """
        with self._lock:
            if callback not in self._shutdown_callbacks[stage]:
                self._shutdown_callbacks[stage].append(callback)
        self._install_exit_hooks()

    def _run_shutdown_callbacks(self) -> list[str]:
        failures = []
        for stage in sorted(self._shutdown_callbacks):
            for callback in self._shutdown_callbacks[stage]:
                try:
                    callback()
                except Exception as exc:  # noqa: BLE001 - every other cleanup must still run
                    name = getattr(callback, "__qualname__", repr(callback))
                    failures.append(f"  {name}: {type(exc).__name__}: {redact(str(exc))}")
        return failures

    def shutdown(self) -> None:
        """End of run: the owner stops what the run started (by any worker), or keeps it running.

        Only the run's owner acts: the test runner itself, or pytest-xdist's controller, which
        started nothing but finds every worker's servers recorded in the run directory.
        """
        previous = _ignore_unwinding_signals()  # a second TERM or HUP must not cut the cleanup short
        try:
            self._shutdown()
        finally:
            _restore_signals(previous)

    def _shutdown(self) -> None:
        with self._lock:
            failures = self._run_shutdown_callbacks()
            run = current_run()
            if run.is_owner and run.directory.is_dir() and not (run.directory / KEPT_FILE).exists():
                config = self._config if self._config is not None else get_config()
                recorded = _recorded_endpoints(run.directory)
                if config.keep and recorded:
                    _keep_run(run, recorded)
                else:
                    for key, provider in self._providers.items():
                        try:
                            provider.stop()
                        except Exception as exc:  # noqa: BLE001 - every other server must still be stopped
                            failures.append(f"  {key} ({provider.name}): {type(exc).__name__}: {redact(str(exc))}")
                    run.shutdown()  # kills whatever is still recorded, then removes the run directory
            self._providers.clear()
            self._endpoints.clear()
            self._references.clear()
        if failures:
            raise ServiceStopError(
                "Ending the run failed for these (everything else was cleaned up and stopped, and the run's "
                "directory and recorded processes were removed):\n" + "\n".join(failures)
            )


_UNWINDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _ignore_unwinding_signals() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, signal.SIG_IGN) for signum in _UNWINDING_SIGNALS}


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"harness: received signal {signum}, stopping the run")


def _record_alive(record: dict[str, Any]) -> bool:
    workdir = Path(record.get("workdir") or "")
    if not workdir.is_dir():
        return False
    alive = recorded_process_alive(workdir)
    return True if alive is None else alive  # None, a container: the docker provider removes its directory


def _recorded_endpoints(directory: Path) -> list[Endpoint]:
    endpoints = []
    for path in sorted((directory / "services").glob("*.json")):
        endpoints.append(Endpoint.from_record(json.loads(path.read_text())["endpoint"]))
    return endpoints


def _keep_run(run: Run, endpoints: list[Endpoint]) -> None:
    """--harness-keep: leave the servers running, detach them from the reaper, say how to stop them."""
    run.stop_reaper()
    keep_run(run, endpoints)
    for endpoint in endpoints:
        print(
            f"harness: kept {endpoint.service} running at {endpoint.display_url} (--harness-keep); "
            "stop it with `harness down` (in this project).",
            file=sys.stderr,
        )


registry = Registry()
