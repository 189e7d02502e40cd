"""harness-echo-service: a TCP echo server registered as the harness service ``echo``.

The entry point ``echo = harness_echo:SERVICE`` (group ``harness.services``) is all
harness needs to know of it. ``SERVICE`` is loaded on first use, so that
``python -m harness_echo.server`` runs on a bare Python without harness installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SERVICE"]


def __getattr__(name: str) -> Any:
    if name == "SERVICE":
        from harness_echo.service import SERVICE

        return SERVICE
    raise AttributeError(f"module 'harness_echo' has no attribute {name!r}")
