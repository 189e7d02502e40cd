"""ServiceIntegrationTest's supporting pieces: the app's database state, ``self.api``'s client, names and contracts."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from harness.bases.database_state import ClassState
from harness.data.reset import ResetStrategy
from harness.errors import ConfigError
from harness.http.client import APITestClient
from harness.http.stub import HTTPStub

__all__ = [
    "AppDatabase", "AppTestClient", "load_contract", "resolve", "topic_variable", "url_variable", "verify_stub",
]


def topic_variable(topic: str) -> str:
    """``order-events`` -> ``ORDER_EVENTS_TOPIC``: the variable that hands a class topic's full name to the app."""
    return _variable(topic) + "_TOPIC"


def url_variable(stub: str) -> str:
    """``payments`` -> ``PAYMENTS_URL``: the variable that hands a class stub's URL to the app."""
    return _variable(stub) + "_URL"


def verify_stub(name: str, stub: HTTPStub) -> None:
    """Fail the test if the class stub ``name`` got a request that no route matched, saying which stub it was."""
    try:
        stub.verify()
    except AssertionError as exc:
        raise AssertionError(f"The {name!r} stub (the app's {url_variable(name)}): {exc}") from None


def _variable(name: str) -> str:
    return "".join(char if char.isalnum() else "_" for char in name).upper()


def resolve(value: Any, what: str) -> Any:
    """``value``, or the object a ``"package.module:attribute"`` string names."""
    if not isinstance(value, str):
        return value
    module_name, _, attribute = value.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{what} = {value!r} could not be imported: {type(exc).__name__}: {exc}.") from exc


def load_contract(contract: Any, app_url: str | None, *, owner: str) -> Any:
    """What ``self.api`` validates responses against: ``contract`` itself, or the OpenAPI document it locates.

    A string starting with ``/`` is a path on the app (the document it publishes, read once
    the app is up); ``http://``/``https://`` a URL; any other string or a ``pathlib.Path`` a file.
    """
    if not isinstance(contract, (str, os.PathLike)):
        return contract  # None, or a ContractTest (anything with validate_response)
    from harness.contracts import ContractTest

    location = os.fspath(contract)
    if isinstance(contract, str) and location.startswith("/"):
        if app_url is None:
            raise ConfigError(
                f"{owner}.contract = {location!r} is a path on the app (its published OpenAPI document), but "
                f"{owner} has no app. Give the document's file or URL instead, or set app."
            )
        location = app_url.rstrip("/") + location
    return ContractTest.from_openapi(location)


@dataclass
class AppDatabase(ClassState):
    """DatabaseTestBase's class state, plus the reset of an app that commits and the requests of one that does not."""

    reset: ResetStrategy | None = None
    _requests: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _in_flight: int = 0

    def new_session(self) -> Session:
        """A session inside the running test's transaction (its commit() releases a savepoint)."""
        return Session(bind=self.connection, join_transaction_mode="create_savepoint")

    def request_session(self) -> Iterator[Session]:
        """The FastAPI dependency that replaces the app's own: one such session per request.

        FastAPI may close it after the response has gone out; the test and the app share one
        connection, so the test waits (:meth:`wait_idle`) until every request's session is closed.
        """
        session = self.new_session()
        with self._requests:
            self._in_flight += 1
        try:
            yield session
        finally:
            try:
                session.close()
            finally:
                with self._requests:
                    self._in_flight -= 1
                    self._requests.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once no request of the app holds a session on the class connection."""
        with self._requests:
            self._requests.wait_for(lambda: self._in_flight == 0, timeout)

    def end_test(self, session: Session, savepoint: Any) -> None:
        self.wait_idle()
        session.close()
        if savepoint.is_active:
            savepoint.rollback()

    def after_test(self, session: Session) -> None:
        """Out of process: end the test's own session, then undo what the app committed."""
        session.rollback()
        session.close()
        if self.reset is not None:
            self.reset.reset()


class AppTestClient(APITestClient):
    """``self.api``: after each response, waits until the app has closed the session it was given."""

    settled: Callable[[], None] | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return super().request(method, path, **kwargs)
        finally:
            if self.settled is not None:
                self.settled()
