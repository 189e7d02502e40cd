"""Consumer-driven contracts: replay consumers' Pact files against the app under test.

``verify_pacts`` runs pact-python's verifier (the Rust Pact core shipped in the
``pact-python-ffi`` wheel) against an app already listening, from local Pact
files only: no broker, nothing published, no usage tracking. Provider states are
Python callables, served to the verifier by a small HTTP endpoint on 127.0.0.1
that lives only for the call.
"""

from __future__ import annotations

import json
import os
import platform
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness._optional import require
from harness.errors import ConfigError, PactVerificationFailed, ServiceUnavailable, did_you_mean

__all__ = ["StateSetup", "verify_pacts"]

StateSetup = Callable[[dict[str, Any]], object]
"""Sets up one provider state: called with the state's params; may return a function called after the interaction."""

PactPaths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


@dataclass(frozen=True)
class _Interaction:
    """One HTTP interaction of a Pact file, as the failure message shows it."""

    file: Path
    consumer: str
    description: str
    states: tuple[str, ...]
    request: str  # "GET /users/7"


def verify_pacts(
    base_url: str,
    pacts: PactPaths,
    *,
    provider: str | None = None,
    states: Mapping[str, StateSetup] | None = None,
    request_timeout: float = 10.0,
) -> int:
    """Replay every interaction of ``pacts`` against the app at ``base_url``; return how many passed.

    ``pacts`` is a Pact file, a directory of them (``*.json``) or a list of files.
    ``provider`` picks the files whose provider has that name (default: the one
    provider the files name). ``states`` maps each provider state an interaction
    needs to a function that sets it up: it gets the state's params (a dict) and
    runs before the interaction, in a helper thread while the caller waits; if it
    returns a function, that runs after the interaction. ``request_timeout``
    bounds each request to the app, in seconds.

    Raises ``PactVerificationFailed`` (an ``AssertionError``) listing every
    interaction the app broke, ``ConfigError`` for a missing or unreadable pact
    or a state nobody sets up, ``ServiceUnavailable`` without ``harness[pact]``.

    >>> verify_pacts(self.app_url, "pacts/",  # doctest: +SKIP
    ...              states={"user 7 exists": lambda params: create_user(id=7)})
    2
    """
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"verify_pacts needs the app's base URL (http://host:port), got {base_url!r}.")
    files = _pact_files(pacts)
    documents = {file: _read_pact(file) for file in files}
    provider = _provider_name(documents, provider)
    documents = {file: doc for file, doc in documents.items() if doc["provider"]["name"] == provider}
    interactions = [item for file, doc in documents.items() for item in _interactions(file, doc)]
    states = dict(states or {})
    _check_states(interactions, states)
    # harness[pact] installs nothing before 3.11 (pact-python 4 needs it). Not sys.version_info: mypy, set to
    # check as 3.10, would take the rest of this function for unreachable and skip it.
    if tuple(map(int, platform.python_version_tuple()[:2])) < (3, 11):
        raise ServiceUnavailable(
            f"verify_pacts needs pact-python 4, which needs Python 3.11 or newer; this is Python "
            f"{platform.python_version()}."
        )
    pact = require("pact", extra="pact", purpose="verify_pacts")
    if int(pact.__version__.split(".")[0]) < 4:
        raise ServiceUnavailable(
            f"verify_pacts needs pact-python 4 or newer, found {pact.__version__}. "
            "Install it with: pip install 'harness[pact]' (pact-python 4 needs Python 3.11 or newer)"
        )
    verifier = pact.Verifier(provider, host=url.hostname)
    verifier.add_transport(url=base_url)
    verifier.set_request_timeout(round(request_timeout * 1000))
    verifier.set_coloured_output(enabled=False)
    for file in documents:
        verifier.add_source(file)
    with _StateEndpoint(states) as endpoint, _no_usage_tracking():
        if any(item.states for item in interactions):
            verifier.state_handler(endpoint.url, teardown=True, body=True)
        try:
            verifier.verify()
        except RuntimeError:
            passed = False
        else:
            passed = True
    results = verifier.results
    if passed and results.get("result", True):
        return len(results.get("interactionResults", []))
    message = _failure_message(base_url, provider, list(documents), interactions, results, endpoint.errors)
    raise PactVerificationFailed(message) from (endpoint.errors[0][2] if endpoint.errors else None)


def _pact_files(pacts: PactPaths) -> list[Path]:
    sources = [pacts] if isinstance(pacts, (str, os.PathLike)) else list(pacts)
    if not sources:
        raise ConfigError("verify_pacts was given no pact files: pass a Pact JSON file, a directory of them, "
                          "or a list of files.")
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(source.glob("*.json"))
            if not found:
                raise ConfigError(
                    f"No pact files (*.json) in {source.resolve()}: write them there with the consumer's Pact "
                    "tests, or pass the pact files themselves."
                )
            files.extend(found)
        elif source.is_file():
            files.append(source)
        else:
            raise ConfigError(
                f"Pact file or directory not found: {source.resolve()}. Pass a Pact JSON file written by a "
                "consumer's Pact tests, or the directory holding them."
            )
    return files


def _read_pact(file: Path) -> dict[str, Any]:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Pact file {file.resolve()} could not be read as JSON: {exc}") from exc
    if not (isinstance(document, dict) and isinstance(document.get("provider"), dict)
            and isinstance(document.get("consumer"), dict) and isinstance(document.get("interactions"), list)):
        raise ConfigError(
            f"{file.resolve()} is not a Pact file: it needs 'consumer', 'provider' and 'interactions' at the top level."
        )
    return document


def _provider_name(documents: Mapping[Path, dict[str, Any]], wanted: str | None) -> str:
    named = sorted({doc["provider"].get("name", "") for doc in documents.values()})
    if wanted is None:
        if len(named) == 1:
            return named[0]
        raise ConfigError(
            f"The pact files are for {len(named)} providers ({', '.join(map(repr, named))}): pass provider= "
            "to say which one the app is."
        )
    if wanted not in named:
        raise ConfigError(
            f"No pact file is for provider {wanted!r}: they are for {', '.join(map(repr, named))}."
            f"{did_you_mean(wanted, named)}"
        )
    return wanted


def _interactions(file: Path, document: dict[str, Any]) -> Iterator[_Interaction]:
    consumer = document["consumer"].get("name", "?")
    for raw in document["interactions"]:
        states = raw.get("providerStates") or ([{"name": raw["providerState"]}] if raw.get("providerState") else [])
        request = raw.get("request") or {}
        query = request.get("query")
        query = f"?{query}" if isinstance(query, str) and query else ""
        yield _Interaction(
            file=file,
            consumer=consumer,
            description=raw.get("description", "?"),
            states=tuple(state["name"] for state in states),
            request=f"{request.get('method', '?')} {request.get('path', '?')}{query}",
        )


def _check_states(interactions: list[_Interaction], states: Mapping[str, StateSetup]) -> None:
    missing = {state: item for item in interactions for state in item.states if state not in states}
    if missing:
        lines = [
            f"  {state!r}: needed by {item.description!r} (consumer {item.consumer!r}, {item.file.resolve()})."
            f"{did_you_mean(state, states)}"
            for state, item in missing.items()
        ]
        raise ConfigError(
            "verify_pacts was given no setup for provider states the pacts need:\n" + "\n".join(lines)
            + "\nPass states={name: function}; each function gets the state's params and creates that data."
        )
    if not_callable := sorted(name for name, setup in states.items() if not callable(setup)):
        raise ConfigError(f"states= must map state names to functions; not callable: {', '.join(not_callable)}.")


def _failure_message(
    base_url: str,
    provider: str,
    files: list[Path],
    interactions: list[_Interaction],
    results: dict[str, Any],
    state_errors: list[tuple[str, str, BaseException]],
) -> str:
    outcomes = results.get("interactionResults", [])
    failed = [outcome for outcome in outcomes if outcome.get("result") != "OK"]
    lines = [
        f"Pact verification failed: {len(failed)} of {len(outcomes)} interactions that consumers expect of "
        f"provider {provider!r} failed against the app at {base_url}."
    ]
    for number, outcome in enumerate(failed, 1):
        lines.extend(_describe_failure(number, outcome, interactions))
    for error in results.get("errors", []) if not failed else []:
        lines.append(f"  {error.get('interaction', '')}: {_mismatch_lines(error.get('mismatch') or {})}")
    for state, action, exc in state_errors:
        lines.append(f"Provider state {state!r} ({action}) raised {type(exc).__name__}: {exc}")
    lines.append(f"Pact files: {', '.join(str(file.resolve()) for file in files)}")
    lines.append("Fix the app, or, if a consumer expects the wrong thing, that consumer's test that wrote the pact.")
    return "\n".join(lines)


def _describe_failure(number: int, outcome: dict[str, Any], interactions: list[_Interaction]) -> list[str]:
    consumer, description = outcome.get("consumer", "?"), outcome.get("description", "?")
    states = tuple(outcome.get("providerStates") or ())
    same = [item for item in interactions if (item.consumer, item.description) == (consumer, description)]
    request = next((item.request for item in same if item.states == states), same[0].request if same else "?")
    given = ", ".join(f"given {state!r}" for state in states) or "no provider state"
    return [f"  {number}) {description!r} (consumer {consumer!r}, {given})", f"     {request}",
            *(f"     {line}" for line in _mismatch_lines(outcome.get("mismatch") or {}).splitlines())]


def _mismatch_lines(mismatch: dict[str, Any]) -> str:
    if mismatch.get("type") != "mismatches":
        return f"error: {mismatch.get('message', mismatch)}"
    lines = []
    order = {"StatusMismatch": 0, "HeaderMismatch": 1, "BodyTypeMismatch": 2, "BodyMismatch": 3}
    for item in sorted(mismatch.get("mismatches", []), key=lambda item: order.get(item.get("type", ""), 4)):
        kind = item.get("type", "")
        where = {
            "StatusMismatch": "status",
            "HeaderMismatch": f"header {item.get('key', '?')!r}",
            "BodyMismatch": f"body {item.get('path', '$')}",
            "BodyTypeMismatch": "body content type",
        }.get(kind, kind)
        lines.append(f"{where}: {item.get('mismatch', '')}")
    return "\n".join(lines)


@contextmanager
def _no_usage_tracking() -> Iterator[None]:
    # The Pact core otherwise posts usage statistics to google-analytics.com on every run.
    previous = os.environ.get("PACT_DO_NOT_TRACK")
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PACT_DO_NOT_TRACK"]
        else:
            os.environ["PACT_DO_NOT_TRACK"] = previous


class _StateEndpoint:
    """The provider-state URL the verifier POSTs to (``{"state", "params", "action"}``), dispatching to ``states``.

    pact-python's own callable handler binds a port it found free earlier and never
    closes its socket; this one binds port 0 on 127.0.0.1 and closes on exit.
    """

    def __init__(self, states: Mapping[str, StateSetup]) -> None:
        self.states = states
        self.errors: list[tuple[str, str, BaseException]] = []
        self._teardowns: dict[str, Callable[[], object]] = {}
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/_harness/pact-state"

    def __enter__(self) -> _StateEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                failure = endpoint.change(body.get("state") or "", body.get("action") or "setup", body.get("params"))
                # 400, not 500: the Pact core retries a 5xx state change with back-off for about two minutes.
                self.send_response(400 if failure else 200)
                payload = failure.encode()
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        server = self._server  # shutdown() waits up to one poll interval (0.5 s by default)
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.01),
                                        name="harness-pact-states", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()
        self._server = self._thread = None
        for teardown in self._teardowns.values():  # an interaction whose teardown never came
            teardown()
        self._teardowns.clear()

    def change(self, state: str, action: str, params: dict[str, Any] | None) -> str:
        """Run ``state``'s setup or teardown; return "" or what went wrong."""
        if not state:  # the verifier's set-up and tear-down around every interaction
            return ""
        try:
            if action == "teardown":
                teardown = self._teardowns.pop(state, None)
                if teardown is not None:
                    teardown()
                return ""
            result = self.states[state](dict(params or {}))
            if callable(result):
                self._teardowns[state] = result
        except Exception as exc:  # noqa: BLE001 - the state's own error is reported with the verification
            self.errors.append((state, action, exc))
            return f"provider state {state!r} ({action}) raised {type(exc).__name__}: {exc}"
        return ""
