"""Turning jsonschema's validation errors into one :class:`~harness.errors.ContractViolation` a person can read.

Each error becomes ``(path, rule, detail)``: the JSON path of the failing value
(``$.items[2].price``), the schema keyword it broke (``type``) and what was wrong
(``expected number, got string "12"``). Values are shown short, and never when
they sit under a key that names a secret (``password``, ``token``, ...); the
whole message goes through :func:`harness.redaction.redact` as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from harness.contracts.sources import requirement
from harness.errors import ContractViolation
from harness.redaction import MASK, redact

__all__ = ["MAX_LISTED", "describe", "json_path", "ordered", "violation"]

MAX_LISTED = 10
"""How many errors a message lists; the rest are counted."""

MAX_VALUE_CHARS = 40
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null",
               list: "array", tuple: "array", dict: "object"}


def json_path(segments: Iterable[Any]) -> str:
    """``["items", 2, "price"]`` -> ``"$.items[2].price"`` (keys that are not identifiers are quoted)."""
    path = "$"
    for segment in segments:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif _IDENTIFIER.match(str(segment)):
            path += f".{segment}"
        else:
            path += f"[{json.dumps(str(segment))}]"
    return path


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES.items() if type(value) is kind), type(value).__name__)


def _shown(value: Any, secret: bool) -> str:
    """``string "12"``, ``integer 3``, ``object``, ``array of 3``: the type, and short scalars."""
    kind = _json_type(value)
    if isinstance(value, (dict, list, tuple)):
        return f"array of {len(value)}" if kind == "array" else kind
    if secret and value is not None:
        return f"{kind} {MASK}"
    text = json.dumps(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 4] + '..."' if isinstance(value, str) else text[:MAX_VALUE_CHARS] + "..."
    return f"{kind} {text}"


def _choices(values: Sequence[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _secret(error: Any) -> bool:
    return any(isinstance(segment, str) and _SECRET_KEY.search(segment) for segment in error.absolute_path)


def describe(error: Any) -> tuple[str, str, str]:
    """``(path, rule, detail)`` for one ``jsonschema.ValidationError``."""
    rule, expected, value = str(error.validator), error.validator_value, error.instance
    secret = _secret(error)
    got = _shown(value, secret)
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        detail = f"expected {wanted}, got {got}"
    elif rule == "required":
        missing = [name for name in expected if isinstance(value, dict) and name not in value]
        name = next((name for name in missing if error.message.startswith(repr(name))), missing[0] if missing else "?")
        detail = f"{name!r} is missing"
    elif rule == "enum":
        detail = f"expected one of {_choices(expected)}, got {got}"
    elif rule == "const":
        detail = f"expected {json.dumps(expected)}, got {got}"
    elif rule == "format":
        detail = f"expected a {expected}, got {got}"
    elif rule == "additionalProperties" and isinstance(value, dict):
        unexpected = _unexpected(error.schema, value)
        detail = f"unexpected propert{'y' if len(unexpected) == 1 else 'ies'} {_choices(unexpected)}"
    elif rule in ("oneOf", "anyOf"):
        detail = _alternatives(rule, error)
    else:
        # Other keywords (minimum, maxLength, pattern, ...): jsonschema's sentence, whose value is ours to mask.
        detail = error.message if not secret else f"{MASK} breaks {rule} {json.dumps(expected)}"
    return json_path(error.absolute_path), rule, detail


def _unexpected(schema: Any, value: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {}) if isinstance(schema, dict) else {}
    patterns = schema.get("patternProperties", {}) if isinstance(schema, dict) else {}
    return [key for key in value if key not in known and not any(re.search(pattern, key) for pattern in patterns)]


def _alternatives(rule: str, error: Any) -> str:
    count = len(error.validator_value)
    if not error.context:  # oneOf: more than one alternative matched
        return f"matches more than one of the {count} alternatives, and must match exactly one"
    failures = {}
    for sub in error.context:
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        if index not in failures:
            _path, sub_rule, sub_detail = describe(sub)
            failures[index] = f"#{index + 1} {sub_rule}: {sub_detail}"
    return f"matches none of the {count} alternatives ({'; '.join(failures[i] for i in sorted(failures))})"


def _root(error: Any) -> Any:
    while error.parent is not None:
        error = error.parent
    return error


def ordered(errors: Sequence[Any]) -> list[Any]:
    """The errors with jsonschema's best match (or the top-level error holding it) first, then by path."""
    best_match = requirement("jsonschema.exceptions", "ContractTest").best_match
    first = _root(best_match(errors))
    rest = sorted((error for error in errors if error is not first), key=lambda error: json_path(error.absolute_path))
    return [first, *rest]


def violation(subject: str, errors: Sequence[Any]) -> ContractViolation:
    """One ContractViolation for ``errors`` (jsonschema ValidationErrors, at least one) found in ``subject``."""
    described = [describe(error) for error in ordered(errors)]
    path, rule, detail = described[0]
    message = f"{subject} breaks the contract at {path}: {rule}: {detail}."
    if len(described) > 1:
        lines = [f"  {path}: {rule}: {detail}" for path, rule, detail in described[:MAX_LISTED]]
        more = len(described) - MAX_LISTED
        tail = [f"  ... and {more} more"] if more > 0 else []
        message += "\n" + "\n".join([f"{len(described)} errors (best match first):", *lines, *tail])
    return ContractViolation(redact(message), path=path, rule=rule, errors=described)
