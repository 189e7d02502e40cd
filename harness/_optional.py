"""Import optional dependencies lazily, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import ServiceUnavailable

__all__ = ["require"]


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`ServiceUnavailable` saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ServiceUnavailable(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed. "
            f"Install it with: pip install 'harness[{extra}]'"
        ) from exc
