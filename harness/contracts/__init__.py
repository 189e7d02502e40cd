"""ContractTest: data and HTTP responses checked against JSON Schema or an OpenAPI document.

Validation is jsonschema's and openapi-core's, never hand-written type checks;
harness turns their errors into one :class:`~harness.errors.ContractViolation`
naming the failing value's JSON path and the rule it broke.

>>> contract = ContractTest({"Order": {"type": "object", "required": ["id"]}})
>>> contract.validate({"id": 1}, "Order")
>>> contract.validate({}, "Order")
Traceback (most recent call last):
...
harness.errors.ContractViolation: 'Order' breaks the contract at $: required: 'id' is missing.
"""

from __future__ import annotations

import os
from typing import Any

from harness.contracts.openapi import OpenAPIContract
from harness.contracts.sources import describe_source, load, requirement
from harness.contracts.violations import describe, violation
from harness.errors import ConfigError, UsageError, did_you_mean

__all__ = ["ContractTest"]

_SCHEMA_KEYWORDS = frozenset({"$schema", "$id", "type", "required", "enum", "const", "title", "description", "format"})
"""Top-level keys that say a whole file is one schema (whose values are no schemas), not a dict of them."""


class ContractTest:
    """Named JSON Schemas (``contracts``: a dict name -> schema, or a JSON/YAML file holding one) to check data against.

    Each schema is checked with the JSON Schema draft its ``$schema`` declares
    (draft-04, -06, -07, 2019-09, 2020-12; 2020-12 when it declares none), format
    checking on. Schemas are checked themselves when the ContractTest is made.
    ``validate_response`` needs an OpenAPI contract (:meth:`from_openapi`): a plain
    schema does not say which response it describes, so check a body with
    ``contract.validate(response.json(), "Order")``.

    >>> contract = ContractTest({"Price": {"type": "number", "minimum": 0}})
    >>> contract.validate(12.5, "Price")
    >>> ContractTest.from_openapi("http://127.0.0.1:8000/openapi.json")  # doctest: +SKIP
    """

    def __init__(self, contracts: dict[str, Any] | str | os.PathLike[str]) -> None:
        self.source = describe_source(contracts)
        schemas = load(contracts, what="ContractTest")
        self._openapi: OpenAPIContract | None = None
        self._validators: dict[str, Any] = {}
        for name, schema in schemas.items():
            self._validators[str(name)] = _validator(schema, str(name), self.source)

    @classmethod
    def from_openapi(cls, document_or_url: dict[str, Any] | str | os.PathLike[str]) -> ContractTest:
        """A contract from an OpenAPI 3.0/3.1 document: a dict, a JSON/YAML file, or an http(s) URL serving it.

        ``validate(data, name)`` then checks against components/schemas/<name>, and
        ``validate_response(response)`` against the response the request's operation
        documents for its status.

        >>> contract = ContractTest.from_openapi("tests/contracts/orders-3.1.yaml")  # doctest: +SKIP
        """
        self = cls.__new__(cls)
        self.source = describe_source(document_or_url)
        self._validators = {}
        self._openapi = OpenAPIContract(load(document_or_url, what="ContractTest.from_openapi"), source=self.source)
        return self

    def __repr__(self) -> str:
        kind = f"OpenAPI {self._openapi.version}" if self._openapi is not None else "schemas"
        return f"ContractTest({kind} from {self.source}: {', '.join(self.names)})"

    @property
    def names(self) -> list[str]:
        """The schema names ``validate`` takes (an OpenAPI contract's components/schemas)."""
        return self._openapi.schema_names if self._openapi is not None else sorted(self._validators)

    def validate(self, data: Any, name: str) -> None:
        """Raise :class:`~harness.errors.ContractViolation` unless ``data`` satisfies the schema ``name``."""
        if self._openapi is not None:
            self._openapi.validate(data, name)
            return
        validator = self._validators.get(name)
        if validator is None:
            raise ConfigError(
                f"ContractTest from {self.source} has no schema {name!r}.{did_you_mean(name, self._validators)} "
                f"Its schemas: {', '.join(self.names) or '(none)'}."
            )
        errors = list(validator.iter_errors(data))
        if errors:
            raise violation(repr(name), errors)

    def validate_response(self, response: Any) -> None:
        """Check a ``requests.Response`` or ``httpx.Response`` against the operation its request names.

        The request's method and URL pick the operation (servers and path templates
        as the document has them), the status its response (exact, then ``2XX``,
        then ``default``), the Content-Type the media type, whose schema checks the
        body. Anything undocumented is a ContractViolation listing what is documented.
        """
        if self._openapi is None:
            raise UsageError(
                f"validate_response needs an OpenAPI contract (ContractTest.from_openapi(...)); this one holds plain "
                f"schemas from {self.source}, which do not say which response they describe. "
                "Check the body with contract.validate(response.json(), name) instead."
            )
        try:
            request = response.request
        except (AttributeError, RuntimeError):  # httpx raises RuntimeError for a response built without a request
            request = None
        if request is None or not hasattr(response, "status_code"):
            raise UsageError(
                f"validate_response takes a requests.Response or an httpx.Response (with its request); "
                f"got {type(response).__name__}."
            )
        self._openapi.validate_response(
            str(request.method).upper(),
            str(request.url),
            int(response.status_code),
            response.headers.get("content-type", ""),
            response.content,
        )


def _validator(schema: Any, name: str, source: str) -> Any:
    """A jsonschema validator for ``schema``, of the draft its ``$schema`` names, with format checking."""
    jsonschema = requirement("jsonschema", "ContractTest")
    where = f"ContractTest: the schema {name!r} from {source}"
    if not isinstance(schema, (dict, bool)):
        hint = (
            f" It looks as if {source} holds one JSON Schema ({name!r} is a keyword), not a dict of name -> schema: "
            "give ContractTest({'Order': schema})."
            if name in _SCHEMA_KEYWORDS else ""
        )
        raise ConfigError(f"{where} is a {type(schema).__name__}, not a JSON Schema (an object or a boolean).{hint}")
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    cls = jsonschema.validators.validator_for(schema, default=None) if declared else jsonschema.Draft202012Validator
    if cls is None:
        raise ConfigError(
            f"{where} declares $schema {declared!r}, which is no JSON Schema draft jsonschema knows. "
            "Use the URI of draft-04, -06, -07, 2019-09 or 2020-12 (or leave $schema out for 2020-12)."
        )
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path, rule, detail = describe(exc)
        raise ConfigError(f"{where} is not a valid schema: at {path}: {rule}: {detail}.") from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
