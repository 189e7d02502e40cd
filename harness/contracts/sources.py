"""Reading contracts: a dict, a JSON or YAML file, or a document served at an http(s) URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from harness._optional import require
from harness.errors import ConfigError, ServiceUnavailable
from harness.redaction import detach, mask_url

__all__ = ["EXTRA", "FETCH_TIMEOUT", "describe_source", "load", "requirement"]

EXTRA = "contracts"
FETCH_TIMEOUT = 10.0
"""Seconds a contract URL gets to answer."""

_YAML_SUFFIXES = (".yaml", ".yml")


def requirement(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (jsonschema, openapi_core, yaml, requests) or say to install harness[contracts]."""
    return require(module, extra=EXTRA, purpose=purpose)


def describe_source(source: Any) -> str:
    """How a message names where a contract came from."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        return mask_url(text) if text.startswith(("http://", "https://")) else text
    return "the dict given"


def load(source: Any, *, what: str) -> dict[str, Any]:
    """The dict in ``source``: a dict as it is, a path to a JSON/YAML file, or an http(s) URL (fetched)."""
    if isinstance(source, dict):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"{what} takes a dict, a path to a JSON or YAML file, or a URL; got {type(source).__name__}.")
    text_source = os.fspath(source)
    if text_source.startswith(("http://", "https://")):
        yaml_first = urlsplit(text_source).path.lower().endswith(_YAML_SUFFIXES)
        return _parsed(_fetch(text_source, what), name=describe_source(text_source), yaml_first=yaml_first, what=what)
    path = Path(text_source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{what} cannot read {path}: {exc.strerror or exc}. Give an existing JSON or YAML file, a dict or a URL."
        ) from None
    return _parsed(text, name=str(path), yaml_first=path.suffix.lower() in _YAML_SUFFIXES, what=what)


def _fetch(url: str, what: str) -> str:
    requests = requirement("requests", f"{what} from a URL")
    shown = mask_url(url)
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        failure: BaseException = exc
    else:
        if response.status_code != 200:
            raise ConfigError(
                f"{what} fetched {shown} and got HTTP {response.status_code}, not the document. "
                "Check the URL (is the document served at that path?)."
            )
        text: str = response.text
        return text
    reason = f"no answer within {FETCH_TIMEOUT} s" if isinstance(failure, requests.Timeout) else "connection refused"
    raise ServiceUnavailable(
        f"{what} could not fetch {shown}: {reason}. "
        "Start the server that serves it first, check the URL, or pass the document as a dict or a file."
    ) from detach(failure)


def _parsed(text: str, *, name: str, yaml_first: bool, what: str) -> dict[str, Any]:
    if yaml_first:
        yaml = requirement("yaml", f"{what} from a YAML file")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{what}: {name} is not valid YAML: {' '.join(str(exc).split())}.") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{what}: {name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
            ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {name} holds a {type(data).__name__}, not a mapping (an object at the top).")
    return data
