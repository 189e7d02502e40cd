"""The external provider: a server someone else runs, given by URL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.config import external_variable
from harness.errors import ServiceUnavailable
from harness.providers.kept import kept_server_state
from harness.providers.readiness import wait_ready
from harness.services.base import Endpoint, Service

__all__ = ["ExternalProvider"]


class ExternalProvider:
    """Use the server at ``url``; checks it answers, never starts or stops anything.

    >>> from harness.services.catalog import get_service
    >>> SERVICE = get_service("postgres")
    >>> provider = ExternalProvider(SERVICE, "postgresql://app:secret@db.internal:5432/app", timeout=5)
    """

    name = "external"
    owns_server = False

    def __init__(self, service: Service, url: str, *, timeout: float) -> None:
        self.service = service
        self.url = url
        self.timeout = timeout
        self.endpoint: Endpoint | None = None
        self.workdir: Path | None = None

    def start(self) -> Endpoint:
        endpoint = self.service.external_endpoint(self.url)
        state = kept_server_state(endpoint)
        if state in ("running", "kept"):
            # Left running by `harness up` (or --harness-keep) on this machine: harness's whole, so what
            # later runs build on it may stay there (a schema's template database).
            endpoint = replace(endpoint, details={**endpoint.details, "kept": True})
        if state == "running":  # its process is there: no need to ask it too (a connection, ~5 ms)
            self.endpoint = endpoint
            return endpoint
        if state == "stopped":
            raise ServiceUnavailable(
                f"{self.service.name} at {endpoint.address} ({endpoint.display_url}), which `harness up` left "
                f"running, has stopped (its process is gone). Run `harness down` and `harness up` again, or unset "
                f"{external_variable(self.service.name)} to let harness start a server."
            )
        last_error = wait_ready(
            lambda seconds: self.service.probe(endpoint, timeout=seconds), timeout=self.timeout, once=True
        )
        if last_error is not None:
            raise ServiceUnavailable(
                f"{self.service.name} at {endpoint.address} ({endpoint.display_url}) did not answer within "
                f"{self.timeout:g}s ({last_error.rstrip('.')}). Check the address and credentials in "
                f"{external_variable(self.service.name)}, or unset it to let harness start a server."
            )
        self.endpoint = endpoint
        return endpoint

    def stop(self) -> None:
        self.endpoint = None

    def is_ready(self) -> bool:
        if self.endpoint is None:
            return False
        try:
            self.service.probe(self.endpoint, timeout=self.timeout)
        except ServiceUnavailable:
            return False
        return True

    def logs(self) -> str:
        return ""
