"""Messages as a test sees them: encoded to bytes on the way in, decoded (JSON when it parses) on the way out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Headers",
    "Match",
    "Message",
    "decode_value",
    "describe_messages",
    "encode_headers",
    "encode_key",
    "encode_value",
    "matches",
    "text_or_bytes",
]

Headers = Union[Mapping[str, Union[str, bytes]], Sequence[tuple[str, Union[str, bytes]]]]
Match = Union[Mapping[str, Any], Callable[["Message"], bool]]
SHOWN_MESSAGES = 20
SHOWN_VALUE_CHARS = 300


def text_or_bytes(raw: bytes) -> str | bytes:
    """``raw`` as text when it is UTF-8, else unchanged."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def decode_value(raw: bytes | None) -> Any:
    """The JSON document in ``raw`` when it parses, else the bytes themselves (``None`` for a tombstone)."""
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw


@dataclass(frozen=True)
class Message:
    """One record read from (or written to) a topic.

    ``key`` and header values are ``str`` when they are UTF-8, else ``bytes``;
    ``value`` is the decoded JSON document when the bytes parse as JSON, else
    the bytes, and ``None`` for a tombstone. ``raw_key`` and ``raw_value`` keep
    the bytes on the wire.
    """

    topic: str
    partition: int
    offset: int
    key: str | bytes | None
    value: Any
    headers: dict[str, str | bytes] = field(default_factory=dict)
    timestamp: int | None = None
    raw_key: bytes | None = field(default=None, repr=False)
    raw_value: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: Any) -> Message:
        """From a kafka-python ``ConsumerRecord``."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=text_or_bytes(record.key) if record.key is not None else None,
            value=decode_value(record.value),
            headers={name: text_or_bytes(value or b"") for name, value in (record.headers or [])},
            timestamp=record.timestamp,
            raw_key=record.key,
            raw_value=record.value,
        )

    def describe(self) -> str:
        """One line for a failure message: where it is, its key and its value (shortened)."""
        value = repr(self.value)
        if len(value) > SHOWN_VALUE_CHARS:
            value = value[:SHOWN_VALUE_CHARS] + "..."
        headers = f" headers={self.headers!r}" if self.headers else ""
        return f"partition {self.partition} offset {self.offset} key={self.key!r}{headers} value={value}"


def _unserialisable_path(value: Any, path: str) -> tuple[str, Any] | None:
    """Where in ``value`` the first thing JSON cannot encode is, and what it is."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{path} (a key)", key
            found = _unserialisable_path(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _unserialisable_path(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return path, value


def encode_value(value: Any) -> bytes | None:
    """bytes as they are, ``None`` as a tombstone, anything else as compact UTF-8 JSON.

    Raises ``TypeError`` naming the type (and where it sits) when JSON cannot encode it.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        found = _unserialisable_path(value, "value")
        where, culprit = found if found else ("value", value)
        raise TypeError(
            f"{where} is a {type(culprit).__module__}.{type(culprit).__qualname__}, which is not JSON-serialisable. "
            "Messages are JSON unless they are bytes: convert it first (e.g. str(), isoformat(), a dict), "
            "or pass bytes you encoded yourself."
        ) from exc


def encode_key(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(f"key must be str, bytes or None, not {type(key).__name__} ({key!r}); pass str({key!r}).")


def encode_headers(headers: Headers | None) -> list[tuple[str, bytes]]:
    if headers is None:
        return []
    pairs: Iterable[tuple[str, str | bytes]] = headers.items() if isinstance(headers, Mapping) else headers
    encoded = []
    for name, value in pairs:
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"header {name!r} must be str or bytes, not {type(value).__name__}.")
        encoded.append((str(name), value.encode("utf-8") if isinstance(value, str) else value))
    return encoded


def _is_subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _is_subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def matches(match: Match, message: Message) -> bool:
    """A dict matches a message whose value contains it (recursively); a callable is asked."""
    if callable(match):
        return bool(match(message))
    return _is_subset(match, message.value)


def describe_messages(messages: Sequence[Message]) -> str:
    """Indented lines, one per message, at most 20 of them."""
    if not messages:
        return "  (none)"
    lines = [f"  [{index}] {message.describe()}" for index, message in enumerate(messages[:SHOWN_MESSAGES])]
    if len(messages) > SHOWN_MESSAGES:
        lines.append(f"  ... and {len(messages) - SHOWN_MESSAGES} more")
    return "\n".join(lines)
