"""The one readiness wait every provider uses: probe until it answers, or the deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.errors import ServiceUnavailable

__all__ = ["FIRST_POLL_SECONDS", "FIRST_POLL_WINDOW", "NO_ANSWER", "POLL_SECONDS", "PROBE_SECONDS", "wait_ready"]

NO_ANSWER = "no answer yet"

POLL_SECONDS = 0.01
FIRST_POLL_SECONDS = 0.002
FIRST_POLL_WINDOW = 0.1
"""How long a wait given ``first_poll`` polls that often: a local server is often ready within it
(PostgreSQL in ~30 ms), where a 10 ms step adds ~5 ms to its start and a failed attempt costs little."""
PROBE_SECONDS = 2.0
"""The longest a single probe may take, so a hung attempt cannot eat the whole deadline."""


def wait_ready(
    attempt: Callable[[float], None],
    *,
    timeout: float,
    alive: Callable[[], None] | None = None,
    poll: float = POLL_SECONDS,
    first_poll: float | None = None,
    once: bool = False,
) -> str | None:
    """Call ``attempt(seconds)`` until it stops raising :class:`ServiceUnavailable`, within one deadline.

    ``alive()`` runs before each attempt and raises when what is being waited for can no
    longer answer (its process exited): that error propagates at once rather than at the
    deadline. Attempts come every ``poll`` seconds; with ``first_poll``, every ``first_poll``
    seconds for the first FIRST_POLL_WINDOW. Returns None once ready, else the last attempt's
    error when ``timeout`` passed.
    With ``once``, a single attempt gets the whole ``timeout`` (a server someone else runs is
    either there or not: retrying a wrong password for seconds helps nobody).

    >>> wait_ready(lambda seconds: None, timeout=1.0) is None
    True
    """
    began = time.monotonic()
    deadline = began + timeout
    last_error = NO_ANSWER
    while True:
        if alive is not None:
            alive()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last_error
        budget = remaining if once else min(remaining, PROBE_SECONDS)
        started = time.monotonic()
        try:
            attempt(budget)
        except ServiceUnavailable as exc:
            # An attempt the deadline cut short ("timed out") says less than the answer before it (a 503).
            cut_short = budget < PROBE_SECONDS and time.monotonic() - started >= budget * 0.9
            if not (cut_short and last_error != NO_ANSWER):
                last_error = str(exc)
            if once:
                return last_error
            now = time.monotonic()
            pause = first_poll if first_poll is not None and now - began < FIRST_POLL_WINDOW else poll
            time.sleep(min(pause, max(deadline - now, 0)))
            continue
        return None
