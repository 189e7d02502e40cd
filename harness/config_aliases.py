"""The setting names hand-written integration-test harnesses use, mapped onto harness's own.

Suites written from the usual integration-testing guides build their config as
``IntegrationTestConfig(database_url=..., use_containers=True, timeout=30, ...)``
and read ``config.database_url`` back. :func:`translate` turns those keywords into
harness's settings (and keeps the few harness has no use for, warning about them);
:func:`read_familiar` reads them back. The table of what each one does is in
:class:`harness.config.IntegrationTestConfig`'s docstring and in README.rst.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, HarnessWarning
from harness.redaction import mask_url, secret_url

if TYPE_CHECKING:
    from harness.config import IntegrationTestConfig

__all__ = ["FAMILIAR_NAMES", "read_familiar", "require_an_address", "translate"]

_RENAMED = {"database_url": "postgres_url", "kafka_bootstrap_servers": "kafka_url", "timeout": "startup_timeout"}
"""Familiar name -> harness's name for the same setting."""
_SAME_AS = {
    "postgres_url": ("postgres_url",),
    "kafka_url": ("kafka_url", "kafka_bootstrap"),
    "startup_timeout": ("startup_timeout",),
}
"""harness's names (older aliases included) that a renamed familiar name may not be given with."""
_KEPT_DEFAULTS: dict[str, Any] = {
    "api_base_url": None,
    "cleanup_after_test": True,
    "parallel_execution": False,
    "retry_count": None,
    "retry_delay": None,
}
"""Familiar names with no harness setting of their own: kept to be read back, with their default."""
_FLAGS = ("use_containers", "parallel_execution", "cleanup_after_test")
_GUIDE_URLS = ("database_url", "redis_url", "kafka_bootstrap_servers")

FAMILIAR_NAMES = tuple(sorted({*_RENAMED, *_KEPT_DEFAULTS, "use_containers"}))
"""The keywords this module adds to harness's names (``redis_url`` is one of harness's own)."""


def _bad(name: str, value: Any, expected: str) -> ConfigError:
    shown = mask_url(value) if isinstance(value, str) else value
    return ConfigError(f"IntegrationTestConfig: {name}={shown!r} is not valid: expected {expected}.")


def _checked(name: str, value: Any) -> Any:
    """``value`` as harness keeps it, or ConfigError saying what ``name`` takes."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name in _FLAGS and not isinstance(value, bool):
        raise _bad(name, value, "True or False")
    if name == "timeout" and not (number and value > 0):
        raise _bad(name, value, "a positive number of seconds (harness's startup_timeout)")
    if name == "retry_count" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise _bad(name, value, "a whole number, 0 or more")
    if name == "retry_delay" and not (number and value >= 0):
        raise _bad(name, value, "a number of seconds, 0 or more")
    if name == "api_base_url":
        if not (isinstance(value, str) and value.startswith(("http://", "https://"))):
            raise _bad(name, value, "a URL starting with http:// or https://")
        return secret_url(value)
    if name == "kafka_bootstrap_servers" and isinstance(value, (list, tuple)):
        return ",".join(str(server) for server in value)  # kafka-python takes a list too
    return value


def _warn(message: str, stacklevel: int) -> None:
    warnings.warn(HarnessWarning(message), stacklevel=stacklevel + 1)


def translate(settings: Mapping[str, Any], *, stacklevel: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    """``settings`` with the familiar keywords replaced by harness's settings, and the values only kept.

    Settings harness cannot honour are kept and warned about (:class:`HarnessWarning`, at ``stacklevel``
    from this function's caller's caller: the user's call). ``redis_url`` alone is harness's own setting.

    >>> translate({"database_url": "postgresql://u@db/app", "use_containers": False}, stacklevel=1)[0]
    {'provider': 'external', 'postgres_url': 'postgresql://u@db/app'}
    """
    out = dict(settings)
    if not any(name in out for name in FAMILIAR_NAMES):
        return out, {}
    given: dict[str, Any] = {}
    for name in FAMILIAR_NAMES:
        value = out.pop(name, None)
        if value is not None:  # None is unset, as everywhere in the config
            given[name] = _checked(name, value)
    for familiar, own in _RENAMED.items():
        clash = [name for name in _SAME_AS[own] if out.get(name) is not None]
        if familiar in given and clash:
            raise ConfigError(
                f"IntegrationTestConfig: {familiar} and {clash[0]} are the same setting ({own}); give one of them."
            )
    use_containers = given.pop("use_containers", None)
    if use_containers and out.get("redis_url") is not None:
        given["redis_url"] = out.pop("redis_url")  # beside use_containers, the guide's address, not harness's
    urls = [name for name in _GUIDE_URLS if name in given]
    if use_containers and urls:
        for name in urls:
            given.pop(name)
        _warn(
            f"IntegrationTestConfig(use_containers=True): harness starts its own servers (local binaries, "
            f"else Docker), so {', '.join(urls)} {'is' if len(urls) == 1 else 'are'} not used. Tests get the "
            "running servers' addresses from the bases (cls.database_url, cls.redis_url, cls.bootstrap_servers) "
            "or the fixtures (harness_postgres.url, ...); pass use_containers=False to use the servers at "
            "these addresses instead.",
            stacklevel,
        )
    kept: dict[str, Any] = {}
    if use_containers is not None:
        wanted = "auto" if use_containers else "external"
        provider = out.get("provider")
        if provider is not None and (provider == "external") == use_containers:
            raise ConfigError(
                f"IntegrationTestConfig: use_containers={use_containers!r} and provider={provider!r} contradict "
                f"each other; give one of them (use_containers={use_containers!r} means provider={wanted!r})."
            )
        if provider is None:
            out["provider"] = wanted
        kept["use_containers"] = use_containers
    for name, value in given.items():
        if name in _RENAMED:
            out[_RENAMED[name]] = float(value) if name == "timeout" else value
        else:
            kept[name] = value
    _warn_unhonoured(kept, stacklevel)
    return out, kept


def _warn_unhonoured(kept: Mapping[str, Any], stacklevel: int) -> None:
    if kept.get("parallel_execution"):
        _warn(
            "IntegrationTestConfig(parallel_execution=True) is not used: harness does not run tests in parallel "
            "itself. Run pytest with pytest-xdist's -n (pytest -n 4); harness gives every worker its own "
            "databases, topics and Redis databases on the shared servers.",
            stacklevel + 1,
        )
    if kept.get("cleanup_after_test") is False:
        _warn(
            "IntegrationTestConfig(cleanup_after_test=False) is not used: harness always undoes each test's "
            "data (rolled-back transaction, deleted topics, emptied Redis database) so that tests stay "
            "isolated. To look at the data, stop in the test (breakpoint()); keep=True (--harness-keep) "
            "leaves the servers running after the run.",
            stacklevel + 1,
        )
    retries = [name for name in ("retry_count", "retry_delay") if name in kept]
    if retries:
        given = ", ".join(f"{name}={kept[name]!r}" for name in retries)
        _warn(
            f"IntegrationTestConfig({given}) {'is' if len(retries) == 1 else 'are'} not used: "
            "harness waits for each server with a readiness probe until it answers, up to startup_timeout "
            "(timeout=) seconds, instead of a fixed number of retries.",
            stacklevel + 1,
        )


def read_familiar(config: IntegrationTestConfig, name: str) -> Any:
    """The value a familiar keyword reads back as (``config.database_url`` is the PostgreSQL URL in effect).

    Raises ``KeyError`` for a name that is not one of :data:`FAMILIAR_NAMES`.
    """
    if name in _RENAMED:
        return getattr(config, _RENAMED[name])
    kept = dict(config.familiar)
    if name == "use_containers":
        return kept.get(name, config.provider != "external")
    if name not in _KEPT_DEFAULTS:
        raise KeyError(name)
    return kept.get(name, _KEPT_DEFAULTS[name])


def require_an_address(config: IntegrationTestConfig) -> None:
    """``use_containers=False`` with no server address at all is a ConfigError (nothing could run)."""
    if dict(config.familiar).get("use_containers") is not False:
        return
    if any(name == "url" and value for _service, name, value in config.services):
        return
    raise ConfigError(
        "IntegrationTestConfig(use_containers=False): harness is to use servers you run, but no address was "
        "given. Pass database_url=..., redis_url=... or kafka_bootstrap_servers=... (or set HARNESS_POSTGRES_URL, "
        "HARNESS_REDIS_URL, HARNESS_KAFKA_URL), or use_containers=True to let harness start them."
    )
