"""What an HTTPStub matches a request against: WireMock's value patterns and request patterns, and near misses.

A request pattern is parsed from WireMock's ``request`` JSON (``url``, ``urlPath``,
``urlPattern``, ``urlPathPattern``, ``urlPathTemplate`` with ``pathParameters``, ``method``,
``queryParameters``, ``headers``,
``bodyPatterns``) into a list of checks; a request matches when every check
passes, and the share of (weighted) checks that fail ranks the closest routes
for a request nothing matched, as WireMock's near misses do.

>>> pattern = parse_request_pattern({"method": "GET", "urlPath": "/users",
...                                  "queryParameters": {"page": {"equalTo": "2"}}})
>>> [check.describe() for check in pattern.checks]
['method GET', 'path /users', "query page: {'equalTo': '2'}"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from harness._optional import require
from harness.errors import ConfigError

__all__ = ["Check", "RecordedRequest", "RequestPattern", "json_subset", "parse_request_pattern", "refuse_unknown",
           "value_matcher"]

_URL_FIELDS = ("url", "urlPath", "urlPattern", "urlPathPattern", "urlPathTemplate")
_REQUEST_FIELDS = {*_URL_FIELDS, "pathParameters", "method", "queryParameters", "headers",
                   "bodyPatterns"}
_OPERATORS = ("equalTo", "contains", "doesNotContain", "matches", "doesNotMatch", "absent", "equalToJson",
              "matchesJsonPath", "matchesJsonSubset")
_MODIFIERS = {"equalTo": {"caseInsensitive"}, "equalToJson": {"ignoreArrayOrder", "ignoreExtraElements"}}
NATIVE_ONLY = "matchesJsonSubset"
"""harness's own operator (HTTPStub.when(json=...)): objects compared as subsets, lists equal; not in WireMock JSON."""


@dataclass
class RecordedRequest:
    """A request the stub received: ``method``, ``path``, ``query`` (name -> values), ``headers``, ``body`` bytes."""

    method: str
    url: str
    headers: Message
    body: bytes
    logged_at: float
    id: str = ""
    matched: bool = False
    closest: list[str] = field(default_factory=list)
    mapping_source: dict[str, Any] | None = None
    response_source: dict[str, Any] | None = None
    response_status: int = 0
    response_body: bytes = b""

    @property
    def path(self) -> str:
        """The path, without the query string."""
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string's parameters, each with the list of its values (blank values kept)."""
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (``json.JSONDecodeError`` if it is not JSON)."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.url}>"


@dataclass(frozen=True)
class Check:
    """One condition of a request pattern: ``what`` it looks at, the pattern ``spec``, and its ``test``."""

    what: str
    spec: Any
    test: Callable[[RecordedRequest], bool]
    actual: Callable[[RecordedRequest], Any]
    weight: float = 1.0

    def describe(self) -> str:
        return f"{self.what} {self.spec}" if isinstance(self.spec, str) else f"{self.what}: {self.spec}"

    def difference(self, request: RecordedRequest) -> str:
        """``what: expected ..., got ...`` for a request this check fails."""
        actual = self.actual(request)
        shown = repr(actual if not isinstance(actual, str) or len(actual) <= 200 else actual[:200] + "...")
        return f"{self.what}: expected {self.spec!r}, got {shown}"


@dataclass(frozen=True)
class RequestPattern:
    """Every check a request must pass; ``distance`` is the weighted share failed (0 = a match)."""

    checks: tuple[Check, ...]

    def matches(self, request: RecordedRequest) -> bool:
        return all(check.test(request) for check in self.checks)

    def failures(self, request: RecordedRequest) -> list[Check]:
        return [check for check in self.checks if not check.test(request)]

    def distance(self, request: RecordedRequest) -> float:
        total = sum(check.weight for check in self.checks)
        return sum(check.weight for check in self.failures(request)) / total if total else 0.0


def parse_request_pattern(spec: Any, *, where: str = "request", native: bool = False) -> RequestPattern:
    """Build the checks of WireMock's ``request`` object; a field harness does not know raises ConfigError."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a JSON object, got {spec!r}.")
    refuse_unknown(spec, _REQUEST_FIELDS, where)
    checks: list[Check] = []
    method = str(spec.get("method", "ANY")).upper()
    if method != "ANY":
        checks.append(Check("method", method, lambda r: r.method == method, lambda r: r.method, weight=2.0))
    url_fields = [name for name in _URL_FIELDS if name in spec]
    if len(url_fields) > 1:
        raise ConfigError(f"{where} has {url_fields}: give only one of {', '.join(_URL_FIELDS)}.")
    if "pathParameters" in spec and url_fields != ["urlPathTemplate"]:
        raise ConfigError(
            f"{where} has pathParameters without a urlPathTemplate (e.g. \"/users/{{id}}\") to name them."
        )
    if url_fields == ["urlPathTemplate"]:
        checks.extend(_template_checks(str(spec["urlPathTemplate"]), _object(spec, "pathParameters", where), where,
                                       native))
    elif url_fields:
        checks.append(_url_check(url_fields[0], str(spec[url_fields[0]]), where))
    for param, pattern in _object(spec, "queryParameters", where).items():
        test = value_matcher(pattern, where=f"{where}.queryParameters.{param}", native=native)
        checks.append(_values_check(f"query {param}", pattern, test, _query_values(param)))
    for header, pattern in _object(spec, "headers", where).items():
        test = value_matcher(pattern, where=f"{where}.headers.{header}", native=native)
        checks.append(_values_check(f"header {header}", pattern, test, _header_values(header)))
    body_patterns = spec.get("bodyPatterns", [])
    if not isinstance(body_patterns, list):
        raise ConfigError(f"{where}.bodyPatterns must be a list of patterns, got {body_patterns!r}.")
    for index, pattern in enumerate(body_patterns):
        test = value_matcher(pattern, where=f"{where}.bodyPatterns[{index}]", native=native)
        checks.append(_body_check(pattern, test))
    return RequestPattern(tuple(checks))


def _url_check(name: str, value: str, where: str) -> Check:
    part: Callable[[RecordedRequest], str] = (lambda r: r.url) if name in ("url", "urlPattern") else (lambda r: r.path)
    if name in ("url", "urlPath"):
        return Check("url" if name == "url" else "path", value, lambda r: part(r) == value, part, weight=2.0)
    regex = _compile(value, f"{where}.{name}")
    return Check("url matching" if name == "urlPattern" else "path matching", value,
                 lambda r: regex.fullmatch(part(r)) is not None, part, weight=2.0)


def _template_checks(template: str, parameters: dict[str, Any], where: str, native: bool) -> list[Check]:
    """WireMock's urlPathTemplate: ``/users/{id}`` matches any one segment there, named for pathParameters."""
    names = re.findall(r"{([^{}/]+)}", template)
    unknown = sorted(set(parameters) - set(names))
    if unknown:
        raise ConfigError(f"{where}.pathParameters has {unknown}, which {template!r} does not name; it names {names}.")
    regex = re.compile("".join(f"(?P<p{names.index(part[1:-1])}>[^/]+)" if re.fullmatch(r"{[^{}/]+}", part)
                               else re.escape(part) for part in re.split(r"({[^{}/]+})", template)))
    checks = [Check("path template", template, lambda r: regex.fullmatch(r.path) is not None, lambda r: r.path,
                    weight=2.0)]
    for name, pattern in parameters.items():
        test = value_matcher(pattern, where=f"{where}.pathParameters.{name}", native=native)
        checks.append(_values_check(f"path parameter {name}", pattern, test,
                                    _path_values(regex, f"p{names.index(name)}")))
    return checks


def _path_values(regex: re.Pattern[str], group: str) -> Callable[[RecordedRequest], list[str] | None]:
    def values(request: RecordedRequest) -> list[str] | None:
        found = regex.fullmatch(request.path)
        return [unquote(found.group(group))] if found else None

    return values


def _values_check(what: str, pattern: Any, test: Callable[[str | None], bool],
                  values: Callable[[RecordedRequest], list[str] | None]) -> Check:
    """WireMock's rule for a parameter or header given several times: one value matching is enough."""
    def passes(request: RecordedRequest) -> bool:
        found = values(request)
        return any(test(value) for value in found) if found else test(None)

    return Check(what, pattern, passes, values)


def _query_values(name: str) -> Callable[[RecordedRequest], list[str] | None]:
    return lambda request: request.query.get(name)


def _header_values(name: str) -> Callable[[RecordedRequest], list[str] | None]:
    return lambda request: request.headers.get_all(name)


def _body_check(pattern: Any, test: Callable[[str | None], bool]) -> Check:
    return Check("body", pattern, lambda request: test(request.text), lambda request: request.text)


def value_matcher(spec: Any, *, where: str, native: bool = False) -> Callable[[str | None], bool]:
    """A test for one string (None when absent) from a WireMock value pattern such as ``{"equalTo": "x"}``."""
    operators = [name for name in _OPERATORS if isinstance(spec, dict) and name in spec]
    if len(operators) != 1 or (operators[0] == NATIVE_ONLY and not native):
        raise ConfigError(
            f"{where} must be an object with one of {', '.join(_OPERATORS[:-1])} (e.g. {{\"equalTo\": \"x\"}}), "
            f"got {spec!r}."
        )
    operator = operators[0]
    refuse_unknown(spec, {operator, *_MODIFIERS.get(operator, ())}, where)
    expected = spec[operator]
    if operator == "absent":
        return lambda value: (value is None) == bool(expected)
    if operator == "matches":
        regex = _compile(str(expected), f"{where}.{operator}")
        return lambda value: value is not None and regex.fullmatch(value) is not None
    if operator == "doesNotMatch":  # an absent value does not match the regex either, so it matches (as WireMock)
        regex = _compile(str(expected), f"{where}.{operator}")
        return lambda value: value is None or regex.fullmatch(value) is None
    if operator == "equalTo":
        if spec.get("caseInsensitive"):
            return lambda value: value is not None and value.casefold() == str(expected).casefold()
        return lambda value: value == str(expected)
    if operator in ("contains", "doesNotContain"):
        wanted = operator == "contains"
        return lambda value: value is not None and (str(expected) in value) == wanted
    if operator == "matchesJsonPath":
        return _json_path_matcher(expected, where)
    if operator == NATIVE_ONLY:
        return _on_json(lambda actual: json_subset(expected, actual))
    target = json.loads(expected) if isinstance(expected, str) else expected
    order, extra = bool(spec.get("ignoreArrayOrder")), bool(spec.get("ignoreExtraElements"))
    return _on_json(lambda actual: json_equal(target, actual, ignore_order=order, ignore_extra=extra))


def _on_json(test: Callable[[Any], bool]) -> Callable[[str | None], bool]:
    def matcher(value: str | None) -> bool:
        if value is None:
            return False
        try:
            return test(json.loads(value))
        except ValueError:  # not JSON: no match, as WireMock
            return False

    return matcher


def json_equal(expected: Any, actual: Any, *, ignore_order: bool, ignore_extra: bool) -> bool:
    """WireMock's equalToJson: equal JSON, optionally ignoring array order and extra fields and array items.

    Expected strings may be JsonUnit placeholders (``${json-unit.ignore}``, ``any-string``,
    ``any-number``, ``any-boolean``, ``${json-unit.regex}...``), as in WireMock.
    """
    def same(left: Any, right: Any) -> bool:
        return json_equal(left, right, ignore_order=ignore_order, ignore_extra=ignore_extra)

    if isinstance(expected, str) and expected.startswith("${json-unit."):
        return _placeholder(expected, actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or (not ignore_extra and actual.keys() != expected.keys()):
            return False
        return all(key in actual and same(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list):
        too_few = len(actual) < len(expected) if isinstance(actual, list) else True
        if too_few or (not ignore_extra and len(actual) != len(expected)):
            return False
        if not ignore_order:
            return all(same(left, right) for left, right in zip(expected, actual, strict=False))
        unused = list(actual)
        for item in expected:
            found = next((index for index, candidate in enumerate(unused) if same(item, candidate)), None)
            if found is None:
                return False
            del unused[found]
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def _placeholder(expected: str, actual: Any) -> bool:
    """JsonUnit's placeholders, which WireMock's equalToJson accepts: ``${json-unit.any-string}`` and the like."""
    if expected.startswith("${json-unit.regex}"):
        return isinstance(actual, str) and re.fullmatch(expected[len("${json-unit.regex}"):], actual) is not None
    kinds: dict[str, Callable[[Any], bool]] = {
        "${json-unit.ignore}": lambda value: True,
        "${json-unit.any-string}": lambda value: isinstance(value, str),
        "${json-unit.any-boolean}": lambda value: isinstance(value, bool),
        "${json-unit.any-number}": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    }
    test = kinds.get(expected)
    return test(actual) if test is not None else expected == actual


def json_subset(expected: Any, actual: Any) -> bool:
    """harness's JSON subset: every key of an expected object present with a subset value; lists and scalars equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and json_subset(value, actual[key]) for key, value in expected.items()
        )
    return json_equal(expected, actual, ignore_order=False, ignore_extra=False)


def _json_path_matcher(spec: Any, where: str) -> Callable[[str | None], bool]:
    """WireMock's matchesJsonPath: the expression finds something; with a nested pattern, something it accepts."""
    if isinstance(spec, dict):
        expression = spec.get("expression")
        rest = {key: value for key, value in spec.items() if key != "expression"}
        nested = value_matcher(rest, where=f"{where}.matchesJsonPath") if rest else None
    else:
        expression, nested = spec, None
    if not isinstance(expression, str):
        raise ConfigError(f"{where}.matchesJsonPath needs an expression string, got {spec!r}.")
    parser = require("jsonpath_ng.ext", extra="http", purpose="matchesJsonPath in an HTTPStub mapping")
    try:
        compiled = parser.parse(expression)
    except Exception as exc:  # jsonpath-ng raises several unrelated types for a bad expression
        raise ConfigError(f"{where}.matchesJsonPath: {expression!r} is not a JSONPath expression ({exc}).") from exc

    def found(document: Any) -> bool:
        values = [match.value for match in compiled.find(document)]
        values = [value for value in values if value is not None and value != [] and value != {}]  # as WireMock
        if nested is None:
            return bool(values)
        return any(nested(v if isinstance(v, str) else json.dumps(v)) for v in values)

    return _on_json(found)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: {pattern!r} is not a regular expression ({exc}).") from exc


def _object(spec: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = spec.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{name} must be an object of name -> pattern, got {value!r}.")
    return value


def refuse_unknown(spec: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(
            f"{where} has {', '.join(map(repr, unknown))}, which HTTPStub does not support "
            f"(it knows {', '.join(sorted(known))}); remove it or use real WireMock for this mapping."
        )
