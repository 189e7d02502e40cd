"""WireMock compatibility: mapping JSON to HTTPStub mappings, mapping files, and the ``/__admin`` API.

A mapping is WireMock's JSON: ``request`` (see :mod:`harness.http.stub_matching`),
``response`` (``status``, ``statusMessage``, ``body``, ``jsonBody``,
``base64Body``, ``bodyFileName``, ``headers``, ``fixedDelayMilliseconds``,
``fault``), ``priority``, ``scenarioName``/``requiredScenarioState``/``newScenarioState``,
``id``/``uuid``, ``name``. A field HTTPStub does not support is refused with
ConfigError (422 through the admin API), never ignored; ``persistent`` and
``metadata`` are kept and shown but change nothing (there is no disk to persist to).

>>> mapping = parse_mapping({"request": {"method": "GET", "url": "/ping"}, "response": {"body": "pong"}})
>>> mapping.responses[0].body
b'pong'
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.http.stub_matching import RecordedRequest, parse_request_pattern, refuse_unknown
from harness.http.stub_registry import DEFAULT_PRIORITY, Mapping, Registry, ResponseDef

__all__ = ["FAULTS", "admin", "journal_entry", "load_mapping_files", "mapping_directories", "parse_mapping",
           "parse_response"]

FAULTS = ("CONNECTION_RESET_BY_PEER", "EMPTY_RESPONSE", "RANDOM_DATA_THEN_CLOSE", "MALFORMED_RESPONSE_CHUNK")
NO_RESPONSE = "NO_RESPONSE"
"""harness's own fault (HTTPStub ``fault("timeout")``): the request is read and never answered."""
_MAPPING_FIELDS = {"id", "uuid", "name", "request", "response", "priority", "scenarioName", "requiredScenarioState",
                   "newScenarioState", "persistent", "metadata"}
_RESPONSE_FIELDS = {"status", "statusMessage", "body", "jsonBody", "base64Body", "bodyFileName", "headers",
                    "fixedDelayMilliseconds", "fault"}
ADMIN = "/__admin"


def parse_mapping(spec: Any, *, files: Path | None = None, where: str = "mapping", native: bool = False) -> Mapping:
    """A :class:`Mapping` from WireMock's JSON; ``files`` is the ``__files`` directory for ``bodyFileName``."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a JSON object with 'request' and 'response', got {spec!r}.")
    refuse_unknown(spec, _MAPPING_FIELDS, where)
    mapping_id = str(spec.get("id") or spec.get("uuid") or uuid.uuid4())
    pattern = parse_request_pattern(spec.get("request", {}), where=f"{where}.request", native=native)
    response = parse_response(spec.get("response", {}), files=files, where=f"{where}.response", native=native)
    priority = spec.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"{where}.priority must be an integer (lower wins), got {priority!r}.")
    scenario = spec.get("scenarioName")
    if scenario is None and ("requiredScenarioState" in spec or "newScenarioState" in spec):
        raise ConfigError(f"{where} has a scenario state but no scenarioName; add \"scenarioName\".")
    source = {**spec, "id": mapping_id, "uuid": mapping_id, "response": {"status": 200, **spec.get("response", {})}}
    return Mapping(pattern, [response], source, priority=priority, scenario=scenario,
                   required_state=spec.get("requiredScenarioState"), new_state=spec.get("newScenarioState"),
                   id=mapping_id)


def parse_response(spec: Any, *, files: Path | None = None, where: str = "response",
                   native: bool = False) -> ResponseDef:
    """A :class:`ResponseDef` from WireMock's ``response`` JSON."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a JSON object, got {spec!r}.")
    refuse_unknown(spec, _RESPONSE_FIELDS, where)
    bodies = [name for name in ("body", "jsonBody", "base64Body", "bodyFileName") if name in spec]
    if len(bodies) > 1:
        raise ConfigError(f"{where} has {bodies}: give only one of body, jsonBody, base64Body, bodyFileName.")
    body = b""
    if "body" in spec:
        body = str(spec["body"]).encode()
    elif "jsonBody" in spec:
        body = json.dumps(spec["jsonBody"], separators=(",", ":")).encode()  # compact, as WireMock sends it
    elif "base64Body" in spec:
        body = base64.b64decode(spec["base64Body"])
    elif "bodyFileName" in spec:
        body = _body_file(str(spec["bodyFileName"]), files, where)
    fault = spec.get("fault")
    if fault is not None and fault not in FAULTS and not (native and fault == NO_RESPONSE):
        raise ConfigError(f"{where}.fault {fault!r} is not one HTTPStub supports; use one of {', '.join(FAULTS)}.")
    delay = spec.get("fixedDelayMilliseconds", 0)
    status = spec.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigError(f"{where}.status must be an HTTP status code (100-599), got {status!r}.")
    if not isinstance(delay, (int, float)) or delay < 0:
        raise ConfigError(f"{where}.fixedDelayMilliseconds must be a number >= 0, got {delay!r}.")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}.headers must be an object of name -> value (or list of values), got {headers!r}.")
    pairs = tuple((str(name), str(value)) for name, values in headers.items()
                  for value in (values if isinstance(values, list) else [values]))
    return ResponseDef(status=status, reason=spec.get("statusMessage"), headers=pairs, body=body,
                       delay_seconds=delay / 1000, fault=fault, source=spec)


def _body_file(name: str, files: Path | None, where: str) -> bytes:
    if files is None:
        raise ConfigError(
            f"{where}.bodyFileName {name!r} has no __files directory to be read from; "
            "load the mapping with HTTPStub.load_mappings(directory) (files in directory/../__files), or use body."
        )
    path = (files / name).resolve()
    if not path.is_relative_to(files.resolve()) or not path.is_file():
        raise ConfigError(f"{where}.bodyFileName {name!r} is not a file in {files}.")
    return path.read_bytes()


def mapping_directories(directory: str | Path) -> tuple[Path, Path | None]:
    """The ``mappings`` directory given (or the root holding it, as WireMock's ``--root-dir``) and its ``__files``."""
    directory = Path(directory)
    if (directory / "mappings").is_dir():
        directory = directory / "mappings"
    if not directory.is_dir():
        raise ConfigError(f"WireMock mappings directory {str(directory)!r} does not exist; give the mappings/ folder.")
    files = directory.parent / "__files"
    return directory, files if files.is_dir() else None


def load_mapping_files(directory: str | Path) -> list[Mapping]:
    """The mappings of every ``*.json`` in ``directory`` (sorted by name), bodies read from its sibling ``__files``.

    A file holds one mapping or ``{"mappings": [...]}``; ``directory`` may also be
    the root that holds ``mappings/`` and ``__files/``.
    """
    directory, files = mapping_directories(directory)
    mappings: list[Mapping] = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"WireMock mapping file {path} is not JSON: {exc}.") from exc
        specs = document["mappings"] if isinstance(document, dict) and "mappings" in document else [document]
        for index, spec in enumerate(specs):
            where = f"{path.name}" + (f" mappings[{index}]" if len(specs) > 1 else "")
            mapping = parse_mapping(spec, files=files, where=where)
            mapping.default = True
            mappings.append(mapping)
    return mappings


def admin(registry: Registry, method: str, path: str, body: bytes, *, files: Path | None) -> tuple[int, Any]:
    """Answer a ``/__admin`` request: the status and the JSON to send."""
    route = path[len(ADMIN):].rstrip("/")
    if route == "/mappings" and method == "POST":
        try:
            mapping = registry.add(parse_mapping(json.loads(body or b"{}"), files=files))
        except (ConfigError, ValueError) as exc:
            return 422, {"errors": [{"code": 10, "title": str(exc)}]}
        return 201, mapping.source
    if route == "/mappings" and method == "GET":
        sources = [mapping.source for mapping in registry.mappings()]
        return 200, {"mappings": sources, "meta": {"total": len(sources)}}
    if route == "/mappings" and method == "DELETE":
        registry.clear(journal=False)
        return 200, {}
    if route.startswith("/mappings/") and route.count("/") == 2 and method in ("GET", "PUT", "DELETE"):
        return _one_mapping(registry, method, route.rsplit("/", 1)[1], body, files)
    if route in ("/reset", "/mappings/reset") and method == "POST":
        registry.clear(keep_defaults=True)
        return 200, {}
    if route == "/scenarios/reset" and method == "POST":
        registry.reset_scenarios()
        return 200, {}
    if route == "/requests" and method == "GET":
        entries = [journal_entry(request) for request in reversed(list(registry.journal))]
        return 200, {"requests": entries, "meta": {"total": len(entries)}, "requestJournalDisabled": False}
    if route == "/requests/unmatched" and method == "GET":
        unmatched = [journal_entry(request)["request"] for request in registry.journal if not request.matched]
        return 200, {"requests": unmatched, "meta": {"total": len(unmatched)}, "requestJournalDisabled": False}
    if route == "/requests" and method == "DELETE":
        registry.clear_journal()
        return 200, {}
    return 404, {"errors": [{"code": 404, "title": f"HTTPStub has no admin endpoint {method} {path}"}]}


def _one_mapping(registry: Registry, method: str, mapping_id: str, body: bytes,
                 files: Path | None) -> tuple[int, Any]:
    """GET, PUT (replace) or DELETE ``/__admin/mappings/{id}``."""
    found = [mapping for mapping in registry.mappings() if mapping.id == mapping_id]
    if not found:
        return 404, {"errors": [{"code": 404, "title": f"No stub mapping with id {mapping_id}"}]}
    if method == "GET":
        return 200, found[0].source
    if method == "DELETE":
        registry.remove(mapping_id)
        return 200, {}
    try:
        spec = json.loads(body or b"{}")
        mapping = parse_mapping({**spec, "id": mapping_id, "uuid": mapping_id} if isinstance(spec, dict) else spec,
                                files=files)
    except (ConfigError, ValueError) as exc:
        return 422, {"errors": [{"code": 10, "title": str(exc)}]}
    mapping.default = found[0].default
    return 200, registry.add(mapping).source


def journal_entry(request: RecordedRequest) -> dict[str, Any]:
    """One request as WireMock's ``GET /__admin/requests`` shows it."""
    logged = datetime.fromtimestamp(request.logged_at, tz=timezone.utc)
    headers = {name: ", ".join(request.headers.get_all(name) or []) for name in dict.fromkeys(request.headers.keys())}
    host, _, port = str(request.headers.get("Host", "127.0.0.1")).partition(":")
    entry: dict[str, Any] = {
        "id": request.id,
        "request": {
            "url": request.url,
            "absoluteUrl": f"http://{request.headers.get('Host', '127.0.0.1')}{request.url}",
            "method": request.method,
            "protocol": "HTTP/1.1",
            "scheme": "http",
            "host": host,
            "port": int(port) if port.isdigit() else 80,
            "queryParams": {name: {"key": name, "values": values} for name, values in request.query.items()},
            "clientIp": "127.0.0.1",
            "headers": headers,
            "cookies": {},
            "browserProxyRequest": False,
            "loggedDate": int(request.logged_at * 1000),
            "loggedDateString": logged.strftime("%Y-%m-%dT%H:%M:%S.") + f"{logged.microsecond // 1000:03d}Z",
            "bodyAsBase64": base64.b64encode(request.body).decode(),
            "body": request.text,
        },
        "responseDefinition": request.response_source or {"status": 404, "fromConfiguredStub": False},
        "response": {"status": request.response_status, "body": request.response_body.decode("utf-8", "replace"),
                     "bodyAsBase64": base64.b64encode(request.response_body).decode()},
        "wasMatched": request.matched,
    }
    if request.mapping_source is not None:
        entry["stubMapping"] = request.mapping_source
    return entry
