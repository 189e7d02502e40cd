"""HTTPStub: a real HTTP server standing in for a service your app calls, WireMock-compatible.

>>> import requests
>>> with HTTPStub() as stub:
...     stub.when("GET", "/users/1").respond(json={"id": 1, "name": "Ada"})
...     requests.get(stub.url + "/users/1").json()
...     stub.assert_called("GET", "/users/1")
<Route GET /users/1>
{'id': 1, 'name': 'Ada'}
"""

from __future__ import annotations

import base64
import dataclasses
import json as jsonlib
import re
from collections import Counter
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import ConfigError, UsageError, did_you_mean
from harness.http.stub_matching import NATIVE_ONLY, RecordedRequest
from harness.http.stub_registry import Mapping, Registry, ResponseDef
from harness.http.stub_server import StubServer
from harness.http.wiremock import (
    ADMIN,
    NO_RESPONSE,
    admin,
    load_mapping_files,
    mapping_directories,
    parse_mapping,
    parse_response,
)

__all__ = ["HTTPStub", "Route"]

FAULTS = {"reset": "CONNECTION_RESET_BY_PEER", "empty": "EMPTY_RESPONSE", "timeout": NO_RESPONSE}
_RESPONSE_KEYS = {"status", "json", "body", "headers", "delay_ms", "fault"}
NO_MAPPINGS = "No response could be served as there are no stub mappings in this HTTPStub."


class HTTPStub:
    """A real HTTP/1.1 server on 127.0.0.1 (ephemeral port) that answers as its routes say and records every request.

    Routes: ``when(method, path, ...)`` then ``.respond(...)``, ``.respond_sequence([...])``
    or ``.fault(...)``; or WireMock mappings (``load_mappings(directory)``,
    ``add_mapping(json)``, or ``POST /__admin/mappings`` on :attr:`url`). When several
    routes match, the lowest WireMock ``priority`` wins (routes from ``when`` have
    WireMock's default, 5), then the most recently added, as in WireMock.

    A request no route matches is answered 404 with its closest routes and recorded in
    :attr:`unmatched`; with ``strict=True`` (the default) :meth:`verify` then fails.

    >>> with HTTPStub() as stub:                                        # doctest: +SKIP
    ...     stub.when("POST", "/charges", json={"amount": 100}).respond_sequence(
    ...         [{"status": 503}, {"status": 201, "json": {"id": "ch_1"}}])
    ...     app.charge(stub.url, 100)                                   # retried once, then succeeds
    ...     stub.assert_called("POST", "/charges", times=2)
    """

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self._registry = Registry()
        self._server: StubServer | None = None
        self._port = 0
        self._stopped = False
        self._files: Path | None = None

    def start(self) -> HTTPStub:
        """Start serving; returns the stub. A stopped stub cannot start again: make a new one."""
        if self._stopped or self._server is not None:
            raise UsageError(f"HTTPStub.start(): this stub is already {self._state()}; make a new HTTPStub().")
        server = StubServer(self._answer)
        self._port = server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving, closing open (kept-alive, delayed, faulted) connections; safe to call twice."""
        server, self._server = self._server, None
        self._stopped = self._stopped or server is not None
        if server is not None:
            server.stop()

    def __enter__(self) -> HTTPStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL to hand to the app under test."""
        self._running("url")
        return f"http://127.0.0.1:{self._port}"

    def when(self, method: str, path: str | re.Pattern[str], *, query: MappingType[str, Any] | None = None,
             json: Any = None, headers: MappingType[str, str] | None = None) -> Route:
        """A route for requests with this method (``"ANY"`` for all) and path; answer it with ``.respond(...)``.

        ``path`` is the exact path (no query string), or a compiled ``re.Pattern`` that
        must match the whole path. ``query`` (name -> value) and ``headers`` (name ->
        value, names case-insensitive) are subsets the request must have; ``json`` is a
        subset of the JSON body (objects may have more keys, lists must be equal).
        """
        self._running("when()")
        request: dict[str, Any] = {"method": method.upper()}
        if isinstance(path, re.Pattern):
            if path.flags & ~re.UNICODE:
                raise ConfigError(f"HTTPStub.when(): give the flags of {path.pattern!r} inline (e.g. '(?i)...'); "
                                  "a compiled pattern's flags cannot be sent to WireMock.")
            request["urlPathPattern"] = path.pattern
        elif isinstance(path, str) and path.startswith("/") and "?" not in path:
            request["urlPath"] = path
        else:
            raise ConfigError(f"HTTPStub.when(): path must start with '/' and have no query string "
                              f"(use query={{...}}), or be a re.Pattern; got {path!r}.")
        if query:
            request["queryParameters"] = {name: {"equalTo": _text(value)} for name, value in query.items()}
        if headers:
            request["headers"] = {name: {"equalTo": str(value)} for name, value in headers.items()}
        if json is not None:
            request["bodyPatterns"] = [{NATIVE_ONLY: json}]
        return Route(self, request)

    def add_mapping(self, mapping: dict[str, Any]) -> dict[str, Any]:
        """Add one WireMock mapping (as ``POST /__admin/mappings``); returns it with its ``id``."""
        self._running("add_mapping()")
        return self._registry.add(parse_mapping(mapping, files=self._files)).source

    def load_mappings(self, directory: str | Path) -> list[dict[str, Any]]:
        """Add the WireMock mappings of ``directory/*.json`` (bodies from the sibling ``__files``); returns them.

        They are the stub's defaults: :meth:`reset` (and ``POST /__admin/reset``) comes back to them, as
        WireMock does to its mapping files, so mappings loaded once for a class outlive each test's reset.
        """
        self._running("load_mappings()")
        mappings = load_mapping_files(directory)
        self._files = mapping_directories(directory)[1] or self._files  # for bodyFileName in later admin API mappings
        return [self._registry.add(mapping).source for mapping in mappings]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (the admin API's excepted), in order of arrival."""
        return list(self._registry.journal)

    @property
    def unmatched(self) -> list[RecordedRequest]:
        """The received requests no route matched (each answered 404)."""
        return [request for request in self.requests if not request.matched]

    def assert_called(self, method: str, path: str, times: int = 1) -> None:
        """Fail unless exactly ``times`` requests had this method and path; the message lists what was called."""
        calls = Counter(f"{request.method} {request.path}" for request in self.requests)
        wanted = f"{method.upper()} {path}"
        if calls[wanted] != times:
            received = ", ".join(f"{call} ({count}x)" for call, count in calls.items()) or "no requests"
            raise AssertionError(f"HTTPStub: expected {wanted} to be called {times} time(s), "
                                 f"it was called {calls[wanted]} time(s). The stub received: {received}.")

    def verify(self) -> None:
        """With ``strict=True``, fail if any request went unmatched, naming each and its closest routes."""
        unmatched = self.unmatched
        if self.strict and unmatched:
            details = "\n".join(_unmatched_report(request) for request in unmatched)
            raise AssertionError(f"HTTPStub: {len(unmatched)} request(s) matched no route (each got 404):\n"
                                 f"{details}\nAdd a route with stub.when(...) or fix the request.")

    def reset(self) -> None:
        """Forget every route and mapping but those :meth:`load_mappings` loaded (which come back as loaded),
        every sequence position, scenario state and recorded request."""
        self._registry.clear(keep_defaults=True)

    def _answer(self, request: RecordedRequest) -> ResponseDef:
        if request.path == ADMIN or request.path.startswith(ADMIN + "/"):
            status, payload = admin(self._registry, request.method, request.path, request.body, files=self._files)
            return ResponseDef(status=status, headers=(("Content-Type", "application/json"),),
                               body=jsonlib.dumps(payload).encode())
        mapping, response = self._registry.serve(request)
        if mapping is not None and response is not None:
            name = mapping.source.get("name")
            matched = (("Matched-Stub-Id", mapping.id),) + ((("Matched-Stub-Name", str(name)),) if name else ())
            response = dataclasses.replace(response, headers=matched + response.headers)
        else:
            text = _unmatched_report(request) if request.closest else NO_MAPPINGS
            response = ResponseDef(status=404, headers=(("Content-Type", "text/plain; charset=utf-8"),),
                                   body=("Request was not matched\n=======================\n\n" + text).encode())
        request.response_status, request.response_body = response.status, response.body
        return response

    def _add(self, mapping: Mapping) -> None:
        self._running("Route.respond()")
        self._registry.add(mapping)

    def _running(self, what: str) -> None:
        if self._server is None:
            raise UsageError(f"HTTPStub.{what} needs a running stub, but this one is {self._state()}; "
                             + ("call start() first (or use it as a context manager)." if not self._stopped
                                else "make a new HTTPStub()."))

    def _state(self) -> str:
        return "stopped" if self._stopped else "running" if self._server is not None else "not started"

    def __repr__(self) -> str:
        where = f" {self.url}" if self._server is not None else ""
        return f"<HTTPStub{where} {self._state()}, {len(self._registry.mappings())} route(s)>"


class Route:
    """A request pattern made by :meth:`HTTPStub.when`; it serves once it is given responses.

    Giving it responses again replaces them (and makes it the most recent route).
    """

    def __init__(self, stub: HTTPStub, request: dict[str, Any]) -> None:
        self._stub = stub
        self._request = request
        self._id: str | None = None

    def respond(self, status: int = 200, *, json: Any = None, body: str | bytes | None = None,
                headers: MappingType[str, str] | None = None, delay_ms: float = 0) -> Route:
        """Answer with ``status``, a ``json`` or ``body`` (str or bytes), ``headers``, after ``delay_ms``."""
        return self._serve([_response_json(status=status, json=json, body=body, headers=headers, delay_ms=delay_ms)])

    def respond_sequence(self, responses: Sequence[MappingType[str, Any]]) -> Route:
        """Answer with each response in turn, then the last one again: e.g. ``[{"status": 503}, {"status": 200}]``.

        Each is a dict with the keys of :meth:`respond` (``status``, ``json``, ``body``,
        ``headers``, ``delay_ms``) or ``fault`` (as :meth:`fault`).
        """
        if isinstance(responses, (str, bytes, MappingType)) or not responses:
            raise ConfigError(f"Route.respond_sequence() takes a non-empty list of response dicts, got {responses!r}.")
        specs = []
        for index, response in enumerate(responses):
            unknown = sorted(set(response) - _RESPONSE_KEYS) if isinstance(response, MappingType) else ["(not a dict)"]
            if unknown:
                raise ConfigError(f"Route.respond_sequence(): response {index} has {unknown}; "
                                  f"use the keys {sorted(_RESPONSE_KEYS)}.")
            specs.append(_response_json(**response))
        return self._serve(specs)

    def fault(self, kind: str) -> Route:
        """Fail the connection: ``"reset"`` (TCP RST), ``"empty"`` (closed, no bytes), ``"timeout"`` (no answer)."""
        return self._serve([_response_json(fault=kind)])

    def _serve(self, specs: list[dict[str, Any]]) -> Route:
        responses = [parse_response(spec, where="HTTPStub response", native=True) for spec in specs]
        mapping = parse_mapping({"request": self._request, "response": specs[0]}, native=True,
                                where="HTTPStub.when()")
        mapping.responses = responses
        if self._id is not None:
            mapping.id = self._id
            mapping.source.update(id=self._id, uuid=self._id)
        self._id = mapping.id
        self._stub._add(mapping)
        return self

    def __repr__(self) -> str:
        path = self._request.get("urlPath") or self._request.get("urlPathPattern")
        return f"<Route {self._request['method']} {path}>"


def _response_json(status: int = 200, *, json: Any = None, body: str | bytes | None = None,
                   headers: MappingType[str, str] | None = None, delay_ms: float = 0,
                   fault: str | None = None) -> dict[str, Any]:
    """respond()'s arguments as WireMock's response JSON."""
    if json is not None and body is not None:
        raise ConfigError("HTTPStub response: give json= or body=, not both.")
    spec: dict[str, Any] = {"status": status, "headers": dict(headers or {})}
    if json is not None:
        spec["jsonBody"] = json
        if not any(name.lower() == "content-type" for name in spec["headers"]):
            spec["headers"]["Content-Type"] = "application/json"
    elif isinstance(body, bytes):
        spec["base64Body"] = base64.b64encode(body).decode()
    elif body is not None:
        spec["body"] = body
    if delay_ms:
        spec["fixedDelayMilliseconds"] = delay_ms
    if fault is not None:
        if fault not in FAULTS:
            hint = did_you_mean(fault, FAULTS)
            raise ConfigError(f"HTTPStub fault {fault!r} is not one of {', '.join(FAULTS)}.{hint}")
        spec["fault"] = FAULTS[fault]
    return spec


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        raise ConfigError(f"HTTPStub.when(): a query value must be one value (str or number), got {value!r}.")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unmatched_report(request: RecordedRequest) -> str:
    closest = "".join(f"\n    closest route {i}: {route}" for i, route in enumerate(request.closest, 1))
    return f"  {request.method} {request.url}{closest or ' (the stub had no routes)'}"
