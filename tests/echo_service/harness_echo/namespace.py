"""What ``harness down`` removes from an echo server finished runs shared: nothing, said so.

A service whose server keeps state per test (databases, topics, vhosts) carves a namespace
per test class here and sweeps what runs that died left behind; ``harness down`` calls
``sweep(endpoint)`` for every service whose URL is set and whose ``namespace`` names a module.
An echo server keeps nothing between connections, so there is never anything to sweep.
"""

from __future__ import annotations

from harness.services.base import Endpoint

__all__ = ["sweep"]


def sweep(endpoint: Endpoint) -> list[str]:
    """Remove what finished runs left on ``endpoint``; describe each thing removed (here: none)."""
    return []
