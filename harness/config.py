"""IntegrationTestConfig: every setting harness reads, in one frozen dataclass.

Precedence, highest first: an explicit argument (or a test class's
``config_overrides``) > a pytest command-line option > the ``[harness]`` section
of setup.cfg or tox.ini > a ``HARNESS_*`` environment variable > the default.
Layers are merged with ``is None``, so ``0`` and ``""`` are real values.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config_aliases import FAMILIAR_NAMES, read_familiar, require_an_address, translate
from harness.config_text import (
    INI_SECTION,
    PROVIDERS,
    SettingText,
    find_ini,
    parse_bool,
    parse_int,
    parse_names,
    parse_seconds,
)
from harness.errors import ConfigError, HarnessWarning, did_you_mean
from harness.redaction import SecretURL, redact, secret_url
from harness.services.base import Service, Setting

__all__ = [
    "GENERIC_SETTINGS",
    "IntegrationTestConfig",
    "PROVIDERS",
    "SettingText",
    "external_variable",
    "get_config",
    "service_settings",
    "set_cli_options",
    "setting_variable",
]



# field name -> (environment variable, parser from text): the settings of the run as a whole.
_SOURCES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "provider": ("HARNESS_PROVIDER", str.strip),
    "os_user": ("HARNESS_OS_USER", str.strip),
    "startup_timeout": ("HARNESS_STARTUP_TIMEOUT", parse_seconds),
    "connect_timeout": ("HARNESS_CONNECT_TIMEOUT", parse_seconds),
    "seed": ("HARNESS_SEED", parse_int),
    "keep": ("HARNESS_KEEP", parse_bool),
    "cache_dir": ("HARNESS_CACHE_DIR", str.strip),
    "scratch_dir": ("HARNESS_SCRATCH_DIR", str.strip),
    "allow_cleanup": ("HARNESS_ALLOW_CLEANUP", parse_names),
    "metadata": ("HARNESS_METADATA", str.strip),
    "migrations": ("HARNESS_MIGRATIONS", str.strip),
}
_LOCATED = ("metadata", "migrations")
"""Settings whose text keeps where it was given: their errors come later (on first use) and must name it."""


def _check_provider(value: Any) -> str | None:
    if value in PROVIDERS:
        return None
    return f"is not a provider; valid values: {', '.join(PROVIDERS)}." + did_you_mean(value, PROVIDERS)


# Every service has these; a service module may redefine one (a default, an older name) or add others.
GENERIC_SETTINGS = (
    Setting("provider", "where it comes from: auto, local, docker or external (default: provider)",
            check=_check_provider),
    Setting("url", "the address of a server someone else runs (the external provider)", secret=True),
    Setting("bin", "the server binary the local provider runs"),
    Setting("image", "the image the docker provider runs"),
    Setting("os_user", "the unprivileged OS user its server runs as when harness is root (default: os_user)"),
)


def service_settings(service: Service) -> dict[str, Setting]:
    """``service``'s settings by name: the generic ones, overridden or extended by its own."""
    merged = {setting.name: setting for setting in GENERIC_SETTINGS}
    merged.update({setting.name: setting for setting in service.settings})
    return merged


_broken: set[str] = set()
_names_cache: dict[tuple[int, ...], tuple[list[Service], dict[str, tuple[str, Setting]]]] = {}


def _service_names() -> dict[str, tuple[str, Setting]]:
    """``<service>_<setting>`` (and older aliases) -> (service, setting), for every registered service.

    Built once per set of registered services (every attribute read and every value parsed asks).
    """
    from harness.services.catalog import get_service, service_names

    loaded: list[Service] = []
    for service_name in service_names():
        try:
            loaded.append(get_service(service_name))
        except ConfigError as exc:  # one broken plugin must not stop runs that never use it
            if service_name not in _broken:
                _broken.add(service_name)
                warnings.warn(HarnessWarning(f"{exc} Its settings are ignored until then."), stacklevel=2)
    key = tuple(id(service) for service in loaded)
    cached = _names_cache.get(key)
    if cached is None:
        names: dict[str, tuple[str, Setting]] = {}
        for service in loaded:
            for setting in service_settings(service).values():
                for name in (setting.name, *setting.aliases):
                    names[f"{service.name}_{name}"] = (service.name, setting)
        cached = _names_cache[key] = (loaded, names)  # the services kept alive: their ids stay theirs
    return cached[1]


def setting_variable(service: str, name: str) -> str:
    """The environment variable messages name for a service setting (an older alias where one exists)."""
    from harness.services.catalog import get_service

    setting = service_settings(get_service(service))[name]
    return f"HARNESS_{service.upper()}_{(setting.aliases or (setting.name,))[0].upper()}"


def external_variable(service: str) -> str:
    """The environment variable that gives ``service``'s external address (HARNESS_POSTGRES_URL, ...)."""
    return setting_variable(service, "url")


@dataclass(frozen=True, init=False)
class IntegrationTestConfig:
    """The settings of one test run.

    Build it with :meth:`load` (or let harness do it once per run with
    :func:`get_config`); derive a variant with :meth:`replace`. Every registered
    service adds ``<service>_provider``, ``_url``, ``_bin``, ``_image``, ``_os_user``
    and its own settings (``redis_databases``), read as attributes too::

        config = IntegrationTestConfig.load(startup_timeout=60, postgres_url="postgresql://u:p@db:5432/app")
        assert config.replace(keep=True).keep
        assert config.setting("postgres", "url") == config.postgres_url

    The keywords of hand-written harnesses work as arguments too (here, ``.load()``,
    ``.replace()``, ``config_overrides``; not in the ini section or the environment),
    and read back as attributes (``config.database_url`` is the PostgreSQL URL in effect)::

        config = IntegrationTestConfig(database_url="postgresql://u:p@db:5432/app", use_containers=False)
        assert config.postgres_url == config.database_url and config.provider == "external"

    ============================  =======================  ==================================================
    keyword                       harness setting          what happens
    ============================  =======================  ==================================================
    ``database_url``              ``postgres_url``         PostgreSQL at that URL
    ``redis_url``                 ``redis_url``            Redis at that URL
    ``kafka_bootstrap_servers``   ``kafka_url``            the brokers at that list (a list is joined by ",")
    ``use_containers=True``       ``provider="auto"``      harness starts the servers (local binaries, else
                                                           Docker); the three URLs above given with it are
                                                           not used, and a warning says so
    ``use_containers=False``      ``provider="external"``  only servers you run; no URL at all: ConfigError
    ``timeout``                   ``startup_timeout``      how long a server may take to become ready
    ``api_base_url``              (kept)                   read back only (``APITestClient(config.api_base_url)``)
    ``parallel_execution``        (kept)                   ``True`` warns: parallelism is pytest-xdist's ``-n``
    ``cleanup_after_test``        (kept)                   ``False`` warns: each test's data is always undone
    ``retry_count``,              (kept)                   warns: harness probes readiness until
    ``retry_delay``                                        ``startup_timeout`` instead of fixed retries
    ============================  =======================  ==================================================

    The warnings are :class:`~harness.errors.HarnessWarning`. Unread, ``use_containers`` is
    whether ``provider`` is not ``external``, ``parallel_execution`` False,
    ``cleanup_after_test`` True, and the rest None.
    """

    provider: str = "auto"
    os_user: str | None = None
    """The unprivileged OS user servers run as when harness runs as root (default ``harness``, created if missing)."""
    startup_timeout: float = 30.0
    connect_timeout: float = 5.0
    seed: int | None = None
    keep: bool = False
    cache_dir: str | None = None
    scratch_dir: str | None = None
    """Where servers' work directories go: default /dev/shm when it is a real one (>= 1 GiB), else the temp dir."""
    allow_cleanup: tuple[str, ...] = ()
    metadata: Any = None
    """The schema of ``db_session`` and of database bases that name none: an import path (``myapp.models:Base``,
    ``myapp.models:Base.metadata``) imported when first needed, or the MetaData or declarative Base itself."""
    migrations: str | None = None
    """An alembic.ini whose ``upgrade head`` builds that schema instead (relative to the ini file naming it)."""
    services: tuple[tuple[str, str, Any], ...] = field(default=())
    """(service, setting, value) of every service setting given explicitly; read them with :meth:`setting`."""
    familiar: tuple[tuple[str, Any], ...] = field(default=())
    """(name, value) of the familiar keywords harness keeps only to be read back (``parallel_execution``, ...)."""

    def __init__(self, **settings: Any) -> None:
        settings, familiar = translate(settings)
        familiar = {**dict(settings.pop("familiar", ())), **familiar}
        own = {item.name for item in dataclasses.fields(self)}
        given: dict[tuple[str, str], Any] = {}
        for service, name, value in settings.pop("services", ()):
            given[(service, name)] = value
        unknown = [name for name in settings if name not in own]
        known = _service_names() if unknown else {}
        for name in unknown:
            if name not in known:
                everything = [*sorted(own - {"services", "familiar"}), *known, *FAMILIAR_NAMES]
                raise ConfigError(
                    f"IntegrationTestConfig: unknown setting {name!r}; known settings: {', '.join(everything)}."
                    + did_you_mean(name, everything)
                )
            service, setting = known[name]
            value = settings.pop(name)
            is_alias = name != f"{service}_{setting.name}"
            if value is None or (is_alias and (service, setting.name) in given):
                continue  # an older alias never overrides the setting's own name
            given[(service, setting.name)] = value
        for item in dataclasses.fields(self):
            value = settings.get(item.name, item.default)
            object.__setattr__(self, item.name, value)  # frozen: set once, at construction
        checked = tuple(sorted((service, name, self._checked(service, name, value))
                               for (service, name), value in given.items() if value is not None))
        object.__setattr__(self, "services", checked)
        object.__setattr__(self, "familiar", tuple(sorted(familiar.items())))
        require_an_address(self)
        if self.provider not in PROVIDERS:
            raise ConfigError(f"provider={self.provider!r} {_check_provider(self.provider)}")
        for name in ("startup_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}.")

    @staticmethod
    def _checked(service: str, name: str, value: Any) -> Any:
        from harness.services.catalog import get_service

        setting = service_settings(get_service(service))[name]
        if setting.secret and isinstance(value, str) and not isinstance(value, SecretURL):
            value = secret_url(value)
        problem = setting.check(value) if setting.check is not None else None
        if problem is not None:
            shown = value if not setting.secret else redact(str(value))
            raise ConfigError(f"{service}_{name}={shown!r} {problem}")
        return value

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: ``postgres_url``, ``redis_databases``, ...
        if name.startswith("_"):
            raise AttributeError(name)
        found = _service_names().get(name)
        if found is None:
            if name in FAMILIAR_NAMES:
                return read_familiar(self, name)
            raise AttributeError(f"{type(self).__name__!s} has no setting {name!r}")
        return self.setting(found[0], found[1].name)

    def setting(self, service: str, name: str) -> Any:
        """The value of ``service``'s setting ``name``: given explicitly, else the setting's default."""
        for known_service, known_name, value in self.services:
            if known_service == service and known_name == name:
                return value
        from harness.services.catalog import get_service

        return service_settings(get_service(service))[name].default

    def settings_of(self, service: str) -> dict[str, Any]:
        """Every setting of ``service`` with its value (for keys and displays)."""
        from harness.services.catalog import get_service

        return {name: self.setting(service, name) for name in service_settings(get_service(service))}

    def provider_for(self, service: str) -> str:
        """The provider asked for ``service``: its own setting, else the global one."""
        specific = self.setting(service, "provider")
        return str(specific) if specific is not None else self.provider

    def url_for(self, service: str) -> str | None:
        """The external address configured for ``service`` (a URL, or Kafka's bootstrap list), if any."""
        value = self.setting(service, "url")
        return value or None

    def os_user_for(self, service: str) -> str | None:
        """The OS user ``service``'s server runs as when harness is root: its own setting, else ``os_user``."""
        specific = self.setting(service, "os_user")
        return str(specific) if specific is not None else self.os_user

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
        changes, familiar = translate(changes)
        current = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        explicit = {f"{service}_{name}": value for service, name, value in current.pop("services")}
        current["familiar"] = (*current["familiar"], *familiar.items())  # later entries win
        return type(self)(**{**current, **explicit, **changes})

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
        arguments, familiar = translate(arguments)
        layers: list[Mapping[str, Any]] = [
            _canonical(arguments),
            _canonical(cli or {}),
            _read_ini(Path(search_from) if search_from is not None else Path.cwd()),
            _read_env(os.environ if environ is None else environ),
        ]
        merged: dict[str, Any] = {}
        for layer in reversed(layers):
            merged.update({name: value for name, value in layer.items() if value is not None})
        return cls(**merged, familiar=tuple(familiar.items()))


def _canonical(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every older service-setting alias renamed to its setting's own name."""
    known = _service_names()
    renamed: dict[str, Any] = {}
    for name, value in values.items():
        target = f"{known[name][0]}_{known[name][1].name}" if name in known else name
        if value is not None and (target not in renamed or target == name):
            renamed[target] = value
    return renamed


def _all_names() -> list[str]:
    return [*_SOURCES, *_service_names()]


def _check_names(values: Mapping[str, Any], where: str) -> None:
    known: list[str] = []
    for name in values:
        if name in _SOURCES or name in FAMILIAR_NAMES:
            continue
        known = known or [*_all_names(), *FAMILIAR_NAMES]
        if name not in known:
            raise ConfigError(
                f"{where}: unknown setting {name!r}; known settings: {', '.join(known)}."
                + did_you_mean(name, known)
            )


def _parser_for(name: str) -> Callable[[str], Any]:
    if name in _SOURCES:
        return _SOURCES[name][1]
    return _service_names()[name][1].parse


def _convert(name: str, text: str, *, variable: str | None = None, ini: Path | None = None) -> Any:
    parser = _parser_for(name)
    if ini is not None:
        where = f"{ini} [{INI_SECTION}]: {name} = {redact(text)!r}"
        fix = f"Fix the value in {ini}."
    else:
        where = f"{variable}={redact(text)!r}"
        fix = f"Fix or unset {variable}."
    try:
        value = parser(text)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid: {exc}. {fix}") from None
    if name in _LOCATED:
        return SettingText(value, origin=where, base=ini.parent if ini is not None else Path.cwd())
    setting = _service_names()[name][1] if name not in _SOURCES else None
    problem = setting.check(value) if setting is not None and setting.check is not None else None
    if problem is not None:  # said here, where the variable or the ini file can be named
        raise ConfigError(f"{where} {problem if problem.endswith(('.', '?')) else problem + '.'} {fix}")
    return value


def _variables() -> dict[str, str]:
    """Environment variable -> setting name, for the run's settings and every service's (aliases included)."""
    variables = {variable: name for name, (variable, _parser) in _SOURCES.items()}
    variables.update({f"HARNESS_{name.upper()}": name for name in _service_names()})
    return variables


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, name in _variables().items():
        text = environ.get(variable)
        if text is not None and text.strip() != "":
            values[name] = _convert(name, text, variable=variable)
    return _canonical(values)


def _read_ini(start: Path) -> dict[str, Any]:
    found = find_ini(start.resolve())
    if found is None:
        return {}
    path, parser = found
    values: dict[str, Any] = {}
    known: list[str] = []
    for key, text in parser.items(INI_SECTION):
        if key not in _SOURCES:
            known = known or _all_names()
            if key not in known:
                raise ConfigError(
                    f"{path} [{INI_SECTION}]: unknown setting {key!r}; known settings: {', '.join(known)}."
                    + did_you_mean(key, known)
                )
        values[key] = _convert(key, text, ini=path)
    return _canonical(values)


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
