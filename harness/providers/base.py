"""The one protocol between services and providers."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.services.base import Endpoint

__all__ = ["Provider"]


class Provider(Protocol):
    """How a service comes to run: ``start() -> Endpoint``, ``stop()``, ``is_ready()``, ``logs()``.

    ``start`` returns an endpoint that answered a real request; a failed start
    cleans up what it began and raises. ``stop`` is safe to call twice.
    """

    name: str
    owns_server: bool
    """True when it starts a server (recorded in the run directory, stopped at the end, reaped)."""
    workdir: Path | None
    """Its server's private directory while it runs (None for a server someone else runs)."""

    def start(self) -> Endpoint: ...

    def stop(self) -> None: ...

    def is_ready(self) -> bool: ...

    def logs(self) -> str: ...
