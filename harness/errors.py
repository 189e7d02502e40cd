"""The exceptions harness raises, all under one root.

::

    HarnessError                    anything harness raises on purpose
    +-- ConfigError (ValueError)    a bad option, class attribute, URL or environment value
    +-- UsageError (RuntimeError)   a harness object used in a state that does not allow it
    +-- ServiceUnavailable          no provider could give a service, or its address does not answer
    |   +-- ServiceStartError       a server was started but never became ready (log tail attached)
    |   +-- AppUnreachable          the application under test did not answer an HTTP request
    +-- ServiceStopError            stopping one or more servers failed (every other stop still ran)
    +-- UnsafeTargetError           a cleanup aimed at a database that does not look like a test database
    +-- IsolationError              a test broke the isolation harness gives it (e.g. ended the class transaction)
    +-- DataCleanupError            tracked rows could not be deleted (e.g. untracked rows still reference them)
    +-- NamespaceUnavailable        no namespace of its own left for a test class (e.g. every Redis database leased)
    +-- MessagingError              a Kafka request for a test was refused (bad topic name, missing topic, ...)
    |   +-- MessagesNotReceived     (also AssertionError) fewer messages arrived than a test waited for
    +-- ContractViolation           (also AssertionError) data or a response broke its JSON Schema / OpenAPI contract
    +-- PactVerificationFailed      (also AssertionError) the app broke interactions a consumer's Pact file expects

    HarnessWarning (UserWarning)    harness repaired or worked around something (e.g. rebuilt a corrupted cache)

Every message says what failed, where, and what to do about it; none carries a password.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AppUnreachable",
    "ConfigError",
    "ContractViolation",
    "DataCleanupError",
    "HarnessError",
    "HarnessWarning",
    "IsolationError",
    "MessagesNotReceived",
    "MessagingError",
    "NamespaceUnavailable",
    "PactVerificationFailed",
    "ServiceStartError",
    "ServiceStopError",
    "ServiceUnavailable",
    "UnsafeTargetError",
    "UsageError",
    "did_you_mean",
]


class HarnessError(Exception):
    """Root of every exception harness raises on purpose."""


class ConfigError(HarnessError, ValueError):
    """A configuration value, class attribute or option is invalid.

    The message names the setting, where it came from, and the valid values.
    """


class UsageError(HarnessError, RuntimeError):
    """A harness object was used in a state that does not allow it (a lease used before acquire(), ...).

    The message says which call, in which state, and what to call first.
    """


class HarnessWarning(UserWarning):
    """harness repaired or worked around something a person should know about (e.g. a rebuilt cache)."""


class ServiceUnavailable(HarnessError):
    """A service could not be provided: nothing to start it with, or its address does not answer."""


class ServiceStartError(ServiceUnavailable):
    """A server process or container was started but did not become ready in time.

    The server's log tail is part of the message.
    """


class AppUnreachable(ServiceUnavailable):
    """An HTTP request to the application under test got no answer (refused, reset, timed out).

    The message names the URL and says whether the app is still running; if it
    is not, its exit code and the last lines it printed.
    """


class ServiceStopError(HarnessError):
    """Stopping one or more servers failed; every other stop still ran, and the message lists each failure."""


class UnsafeTargetError(HarnessError):
    """A cleanup was aimed at a database that is not local, not created by harness and not allowed.

    Raised before anything is deleted.
    """


class IsolationError(HarnessError):
    """A test did something that defeats the isolation harness provides."""


class DataCleanupError(HarnessError):
    """Tracked rows could not be deleted; the message names the table and the cause."""


class NamespaceUnavailable(HarnessError):
    """harness could not carve a namespace of its own for a test class on a server.

    For instance every logical database of a Redis server is leased to other
    classes; the message says how many there are and how to get more.
    """


class MessagingError(HarnessError):
    """A Kafka request harness made for a test failed.

    The message names the topic or group, the broker's address, and the broker's
    own reason (e.g. why it refused a topic name).
    """


class MessagesNotReceived(MessagingError, AssertionError):
    """Fewer messages than expected arrived in time, or none matched; the message shows those that did.

    An ``AssertionError``, so both pytest and unittest report it as a test failure.
    """


class ContractViolation(AssertionError, HarnessError):
    """Data or an HTTP response broke its contract (a JSON Schema, or an OpenAPI operation).

    The message names what was checked (the contract's name, or ``GET /orders/{id} -> 200``),
    the JSON path of the failing value (``$.items[2].price``) and the rule it broke
    (``type: expected number, got string "12"``), then lists every error, best match
    first. An ``AssertionError``, so both pytest and unittest report it as a test failure.

    For programs: ``.path`` (the first error's JSON path; ``""`` when the response
    itself is undocumented), ``.rule`` (its schema keyword, or ``"path"``, ``"method"``,
    ``"status"``, ``"content-type"``, ``"json"``) and ``.errors`` (every error as a
    ``(path, rule, detail)`` tuple).
    """

    def __init__(self, message: str, *, path: str, rule: str, errors: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.path = path
        self.rule = rule
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:  # pickled across xdist workers with its attributes
        return (_contract_violation, (str(self), self.path, self.rule, self.errors))


def _contract_violation(message: str, path: str, rule: str, errors: list[tuple[str, str, str]]) -> ContractViolation:
    return ContractViolation(message, path=path, rule=rule, errors=errors)


class PactVerificationFailed(HarnessError, AssertionError):
    """The app under test broke interactions recorded in consumers' Pact files.

    The message lists each failing interaction: its consumer and description, its
    provider states, the request replayed, and what differed (status, a header, a
    body path). An ``AssertionError``, so pytest and unittest report a test failure.
    """


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
