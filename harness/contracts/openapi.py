"""An OpenAPI 3.0 / 3.1 document as a contract: its component schemas and its operations' responses.

openapi-core checks the document (openapi-spec-validator), finds the operation
a request URL and method name (servers, path templates) and builds each
schema's validator in OpenAPI's dialect (OAS 3.0 read-side / OAS 3.1 with the
document's ``jsonSchemaDialect``); the errors are jsonschema's, which
:mod:`harness.contracts.violations` turns into one message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.contracts.sources import requirement
from harness.contracts.violations import describe, violation
from harness.errors import ConfigError, ContractViolation, did_you_mean
from harness.redaction import redact

__all__ = ["OpenAPIContract"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _core(purpose: str) -> Any:
    return requirement("openapi_core", purpose)


class OpenAPIContract:
    """One checked OpenAPI document (``document`` is the parsed dict, ``source`` names it in messages)."""

    def __init__(self, document: dict[str, Any], *, source: str) -> None:
        openapi_core = _core("ContractTest.from_openapi")
        jsonschema = requirement("jsonschema", "ContractTest.from_openapi")
        referencing = requirement("referencing.exceptions", "ContractTest.from_openapi")
        self.document = document
        self.source = source
        version = str(document.get("openapi", ""))
        if not version.startswith(("3.0", "3.1")):
            found = f"its 'openapi' field is {version!r}" if version else "it has no 'openapi' field"
            raise ConfigError(
                f"ContractTest.from_openapi: {source} is not an OpenAPI 3.0 or 3.1 document: {found}. "
                "Give a document whose top level has openapi: 3.0.x or 3.1.x (Swagger 2.0 documents need converting)."
            )
        self.version = version[:3]
        try:
            self._api = openapi_core.OpenAPI.from_dict(document)
        except jsonschema.ValidationError as exc:
            path, rule, detail = describe(exc)
            raise ConfigError(
                f"ContractTest.from_openapi: {source} is not valid OpenAPI {self.version}: "
                f"at {path}: {rule}: {detail}. Fix the document (openapi-spec-validator shows every problem)."
            ) from None
        except referencing.Unresolvable as exc:
            ref = str(getattr(exc, "ref", exc))
            ref = "#" + ref if ref.startswith("/") else ref  # referencing reports a local pointer without its '#'
            raise ConfigError(
                f"ContractTest.from_openapi: {source} is not valid OpenAPI {self.version}: the $ref {ref!r} "
                "points to nothing in the document. Fix the reference."
            ) from None
        from openapi_core.validation import schemas as factories

        self._factory = (
            factories.oas30_read_schema_validators_factory
            if self.version == "3.0"
            else factories.oas31_schema_validators_factory
        )

    @property
    def schema_names(self) -> list[str]:
        """The names under components/schemas."""
        return sorted(self.document.get("components", {}).get("schemas", {}))

    def validate(self, data: Any, name: str) -> None:
        """Check ``data`` against components/schemas/``name``."""
        names = self.schema_names
        if name not in names:
            raise ConfigError(
                f"The OpenAPI contract {self.source} has no schema {name!r} under components/schemas."
                f"{did_you_mean(name, names)} Its schemas: {', '.join(names) or '(none)'}."
            )
        self._check(data, self._api.spec / "components" / "schemas" / name, f"{name!r}")

    def _check(self, data: Any, schema: Any, subject: str) -> None:
        validator = self._factory.create(self._api.spec, schema).validator
        errors = list(validator.iter_errors(data))
        if errors:
            raise violation(subject, errors)

    def validate_response(self, method: str, url: str, status: int, content_type: str, body: bytes) -> None:
        """Check a response to ``method url``: documented operation and status, content type, body schema."""
        found = self._operation(method, urlunsplit(urlsplit(url)._replace(query="", fragment="")))
        template = found.path_result.pattern
        operation = f"{method} {template}"
        responses = found.operation / "responses"
        keys = [str(key) for key in responses.keys()]
        key = next((key for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default") if key in keys),
                   None)
        if key is None:
            raise _undocumented(
                "status", f"{operation} answered {status}, a status the contract does not document for it. "
                f"Documented: {', '.join(keys)}."
            )
        subject = f"{operation} -> {key}"
        content = responses / key / "content"
        if not content.exists():
            return
        media_types = [str(media) for media in content.keys()]
        media = _media_type(content_type, media_types)
        if media is None:
            raise _undocumented(
                "content-type", f"{subject} answered with content type {content_type or '(none)'}, which the "
                f"contract does not document for it. Documented: {', '.join(media_types)}."
            )
        schema = content / media / "schema"
        if not schema.exists():
            return
        self._check(_body(body, media, subject), schema, f"The body of {subject} ({media})")

    def _operation(self, method: str, url: str) -> Any:
        from openapi_core.templating.paths import exceptions
        from openapi_core.templating.paths.finders import APICallPathFinder

        path = urlsplit(url).path or "/"
        try:
            return APICallPathFinder(self._api.spec).find(method.lower(), url)
        except exceptions.OperationNotFound:
            template = self._template_for(url)
            documented = [name.upper() for name in self.document["paths"].get(template, {}) if name in _METHODS]
            raise _undocumented(
                "method", f"{method} {path} is not in the contract: {template} documents only {', '.join(documented)}."
            ) from None
        except (exceptions.ServerNotFound, exceptions.PathNotFound):
            servers = [str(server.get("url", "")) for server in self.document.get("servers", [])]
            under = f" (under the server{'s' if len(servers) > 1 else ''} {', '.join(servers)})" if servers else ""
            raise _undocumented(
                "path", f"{method} {path} is not in the contract: no documented path matches it. "
                f"Documented paths{under}: {', '.join(self.document.get('paths', {})) or '(none)'}."
            ) from None

    def _template_for(self, url: str) -> str:
        """The documented path template a URL matched (its method did not), found the way openapi-core does."""
        from openapi_core.templating.paths.iterators import TemplatePathsIterator

        path = next(iter(TemplatePathsIterator("paths")(url, self._api.spec)))
        return str(path.path_result.pattern)


def _undocumented(rule: str, message: str) -> ContractViolation:
    message = redact(message)
    return ContractViolation(message, path="", rule=rule, errors=[("", rule, message)])


def _media_type(content_type: str, documented: list[str]) -> str | None:
    """The documented media type for ``content_type``: exact, then ``type/*``, then ``*/*``."""
    actual = content_type.split(";")[0].strip().lower()
    main = actual.split("/")[0]
    lowered = {media.split(";")[0].strip().lower(): media for media in documented}
    for candidate in (actual, f"{main}/*", "*/*"):
        if candidate in lowered:
            return lowered[candidate]
    return None


def _body(body: bytes, media: str, subject: str) -> Any:
    """The body as the schema sees it: parsed JSON for JSON media types, else the text."""
    text = body.decode("utf-8", errors="replace")
    kind = media.split(";")[0].strip().lower()
    if not (kind == "application/json" or kind.endswith("+json")):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        message = redact(f"The body of {subject} ({media}) is not JSON: {exc.msg} at {where}.")
        raise ContractViolation(message, path="$", rule="json", errors=[("$", "json", message)]) from None
