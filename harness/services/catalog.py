"""Which services exist: those registered in the ``harness.services`` entry-point group.

harness's own services register there exactly as a third-party package does, in its
setup.cfg (``postgres = harness.services.postgres:SERVICE``), so nothing in harness
lists them by name. A service module is imported the first time it is needed.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points

from harness.errors import ConfigError, did_you_mean
from harness.services.base import Service

__all__ = ["ENTRY_POINT_GROUP", "get_service", "register_service", "service_names", "services"]

ENTRY_POINT_GROUP = "harness.services"

_lock = threading.RLock()
_entry_points: dict[str, EntryPoint] | None = None
_loaded: dict[str, Service] = {}
_registered: dict[str, Service] = {}


def _discover() -> dict[str, EntryPoint]:
    global _entry_points
    with _lock:
        if _entry_points is None:
            found: dict[str, EntryPoint] = {}
            for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda item: item.name):
                found.setdefault(entry.name, entry)  # the first installed wins a name two packages claim
            _entry_points = found
        return _entry_points


def service_names() -> list[str]:
    """Names of every registered service, by name."""
    with _lock:
        return sorted({*_discover(), *_registered})


def get_service(name: str) -> Service:
    """The service registered as ``name``; an unknown name gets the known ones and a suggestion."""
    with _lock:
        if name in _registered:
            return _registered[name]
        if name in _loaded:
            return _loaded[name]
        entry = _discover().get(name)
        if entry is None:
            known = service_names()
            raise ConfigError(
                f"Unknown service {name!r}; registered services: {', '.join(known) or '(none)'}."
                + did_you_mean(name, known)
                + f" A service is registered in the {ENTRY_POINT_GROUP!r} entry-point group of an installed "
                "package (is the package that provides it installed?)."
            )
        try:
            service = entry.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"The service {name!r} is registered as {entry.value!r} (entry point group {ENTRY_POINT_GROUP!r}, "
                f"package {entry.dist.name if entry.dist else 'unknown'}), but it could not be loaded: "
                f"{type(exc).__name__}: {exc}. Reinstall that package or fix its entry point."
            ) from exc
        if getattr(service, "name", None) != name:
            raise ConfigError(
                f"The entry point {name!r} = {entry.value!r} loads a service named "
                f"{getattr(service, 'name', None)!r}; the entry point's name and the service's `name` must match."
            )
        _loaded[name] = service
        return service


def services() -> list[Service]:
    """Every registered service, loaded."""
    return [get_service(name) for name in service_names()]


def register_service(service: Service) -> None:
    """Register ``service`` from code (a conftest.py, a plugin) rather than through an entry point."""
    with _lock:
        _registered[service.name] = service
