"""APITestClient: HTTP requests to the application under test, with failures that explain themselves.

A thin layer over one ``requests.Session`` (so connections are kept alive between
requests): paths are joined to the app's base URL, every request gets a default
timeout, a request the app does not answer raises :class:`~harness.errors.AppUnreachable`
saying what was asked, why it failed and what state the app is in, and with a
``contract`` every response is validated.

>>> with APITestClient("http://127.0.0.1:8000") as api:  # doctest: +SKIP
...     response = api.post("/orders", json={"sku": "A-1", "quantity": 2})
...     assert response.status_code == 201
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from harness._optional import require
from harness.errors import AppUnreachable, ConfigError, UsageError
from harness.redaction import detach, mask_url

if TYPE_CHECKING:
    import requests

__all__ = ["APITestClient", "ResponseContract"]


class ResponseContract(Protocol):
    """What ``APITestClient(contract=...)`` needs: anything with ``validate_response(response)`` (a ContractTest)."""

    def validate_response(self, response: Any) -> Any:
        """Raise if ``response`` breaks the contract."""


def _requests() -> ModuleType:
    return require("requests", extra="http", purpose="APITestClient")


class APITestClient:
    """HTTP requests to the app under test at ``base_url``; each method returns the ``requests.Response``.

    ``timeout`` (seconds) applies to every request that does not pass its own;
    ``contract`` (e.g. a ContractTest) gets every response through
    ``contract.validate_response(response)``; ``app_status`` is asked, when a
    request gets no answer, for a sentence on the app's state (the runners'
    ``status`` method) to put in the error.

    >>> api = APITestClient("http://127.0.0.1:8000", timeout=5.0)
    >>> api.url("/orders?page=2")
    'http://127.0.0.1:8000/orders?page=2'
    >>> api.close()
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        contract: ResponseContract | None = None,
        app_status: Callable[[], str | None] | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"APITestClient needs the app's base URL starting with http:// or https://, got {base_url!r}."
            )
        if contract is not None and not callable(getattr(contract, "validate_response", None)):
            raise ConfigError(
                f"APITestClient(contract=...) needs an object with a validate_response(response) method "
                f"(e.g. a ContractTest), got {type(contract).__name__}."
            )
        self._requests = _requests()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.contract = contract
        self.app_status = app_status
        self._session: requests.Session | None = self._requests.Session()

    def __repr__(self) -> str:
        state = "" if self._session is not None else ", closed"
        return f"APITestClient({mask_url(self.base_url)!r}{state})"

    def url(self, path: str) -> str:
        """The full URL for ``path``: joined to the base URL (``"/orders"`` -> ``base_url + "/orders"``).

        An absolute ``http(s)://`` URL (a ``Location`` header, say) is used as it is.
        """
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send ``method`` to ``path`` (``json=``, ``params=``, ``headers=``, ... as ``requests`` takes them)."""
        method = method.upper()
        session = self._session
        if session is None:
            raise UsageError(
                f"This APITestClient for {mask_url(self.base_url)} was closed, so it cannot send {method} {path}; "
                "create a new one."
            )
        url = self.url(path)
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = session.request(method, url, **kwargs)
        except (self._requests.ConnectionError, self._requests.Timeout) as exc:
            failure: BaseException = exc
        else:
            if self.contract is not None:
                self.contract.validate_response(response)
            return response
        message = self._unreachable_message(method, url, failure, kwargs["timeout"])
        # Raised outside the except block, so the library's frames are not chained implicitly.
        raise AppUnreachable(message) from detach(failure)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST to ``path`` (a JSON body with ``json=``)."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT to ``path`` (a JSON body with ``json=``)."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        """PATCH ``path`` (a JSON body with ``json=``)."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        """Close the session and its kept-alive connections; safe twice. The client refuses requests afterwards."""
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> APITestClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _unreachable_message(self, method: str, url: str, failure: BaseException, timeout: Any) -> str:
        where = mask_url(url)
        first = f"{method} {where} got no answer: {self._cause(failure, timeout)}."
        if self.app_status is None:
            return f"{first}\nCheck that the app under test is running and listening at {mask_url(self.base_url)}."
        status = self.app_status()
        return f"{first}\n{status if status is not None else 'The app is still running.'}"

    def _cause(self, failure: BaseException, timeout: Any) -> str:
        within = f" within {timeout} s" if timeout is not None else ""
        if isinstance(failure, self._requests.ConnectTimeout):
            return f"no connection{within} (connect timeout)"
        if isinstance(failure, self._requests.Timeout):
            return f"no response{within} (read timeout)"
        root = _innermost(failure)
        if isinstance(root, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(root, ConnectionResetError):
            return "the connection was reset by the app"
        if isinstance(root, http.client.RemoteDisconnected):
            return "the app closed the connection without a response"
        return f"{type(root).__name__}: {' '.join(str(root).split())}"


def _innermost(exc: BaseException) -> BaseException:
    """The deepest exception under ``exc`` (requests and urllib3 wrap the OSError in args, reasons and causes)."""
    seen = {id(exc)}
    current = exc
    while True:
        inner = [getattr(current, "reason", None), current.__cause__, current.__context__]
        inner += [arg for arg in current.args if isinstance(arg, BaseException)]
        found = next((item for item in inner if isinstance(item, BaseException) and id(item) not in seen), None)
        if found is None:
            return current
        seen.add(id(found))
        current = found
