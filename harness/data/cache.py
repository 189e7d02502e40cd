"""Looking at a Redis database in a test: a snapshot of its keys, and an assertion on one key."""

from __future__ import annotations

from typing import Any

from harness.errors import did_you_mean

__all__ = ["assert_key", "key_value", "keys"]

SHOWN_KEYS = 20


def keys(client: Any, pattern: str = "*") -> list[str]:
    """The keys of ``client``'s database matching ``pattern``, sorted (SCAN, never KEYS)."""
    return sorted(_text(key) for key in client.scan_iter(match=pattern, count=1000))


def _text(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def key_value(client: Any, key: str) -> tuple[str, Any]:
    """(type, value) of ``key``: a str, a dict (hash), a list, a set, or a dict member -> score (sorted set)."""
    kind = _text(client.type(key))
    if kind == "string":
        return kind, _text(client.get(key))
    if kind == "hash":
        return kind, {_text(field): _text(value) for field, value in client.hgetall(key).items()}
    if kind == "list":
        return kind, [_text(item) for item in client.lrange(key, 0, -1)]
    if kind == "set":
        return kind, {_text(member) for member in client.smembers(key)}
    if kind == "zset":
        return kind, {_text(member): score for member, score in client.zrange(key, 0, -1, withscores=True)}
    return kind, None


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, str):
        return str(expected) == actual  # Redis keeps numbers as strings
    if isinstance(expected, dict) and isinstance(actual, dict):
        return set(expected) == set(actual) and all(_same(value, actual[name]) for name, value in expected.items())
    if isinstance(expected, (list, tuple)) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(a, b) for a, b in zip(expected, actual, strict=True))
    if isinstance(expected, (set, frozenset)) and isinstance(actual, set):
        return {str(item) for item in expected} == actual
    return bool(expected == actual)


def _where(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"Redis {kwargs.get('host', '?')}:{kwargs.get('port', '?')} db {kwargs.get('db', 0)}"


def assert_key(
    client: Any, key: str, value: Any = None, ttl_between: tuple[float, float] | None = None
) -> Any:
    """Fail unless ``key`` exists (holding ``value``, expiring within ``ttl_between`` seconds); return its value.

    Numbers compare with the strings Redis keeps; a hash compares with a dict,
    a list with a list, a set with a set, a sorted set with a dict member -> score.
    """
    kind, actual = key_value(client, key)
    if kind == "none":
        present = keys(client)
        shown = ", ".join(repr(name) for name in present[:SHOWN_KEYS])
        more = f" and {len(present) - SHOWN_KEYS} more" if len(present) > SHOWN_KEYS else ""
        raise AssertionError(
            f"key {key!r} does not exist in {_where(client)}; it holds {len(present)} key(s)"
            + (f": {shown}{more}." if present else ".")
            + did_you_mean(key, present)
        )
    if value is not None and not _same(value, actual):
        raise AssertionError(f"key {key!r} holds {actual!r} ({kind}), expected {value!r}")
    if ttl_between is not None:
        low, high = ttl_between
        milliseconds = client.pttl(key)
        if milliseconds < 0:
            raise AssertionError(f"key {key!r} has no expiry, expected one between {low:g} and {high:g} s")
        seconds = milliseconds / 1000
        if not low <= seconds <= high:
            raise AssertionError(f"key {key!r} expires in {seconds:.1f} s, expected between {low:g} and {high:g} s")
    return actual
