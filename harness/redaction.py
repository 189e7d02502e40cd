"""Keeping passwords out of everything a person reads: messages, reprs, tracebacks, test reports.

Every password harness is given (``HARNESS_POSTGRES_URL``, ...) or makes (a local
server's per-run password) is registered here the moment it is seen. From then on:

- URLs travel as :class:`SecretURL` (and bare passwords as :class:`Secret`): ``str``
  subclasses that connect like any string but whose ``repr`` is masked, so pytest's
  ``-l``, its function-argument lines and unittest's ``--locals`` show ``***``;
- a library's exception (psycopg's frames hold the whole conninfo) is chained only
  after :func:`detach` has stripped its frames and masked its text;
- :func:`redact` masks every registered password in any text, and the pytest plugin
  and the unittest bases pass each report through it as a last line of defence.

>>> url = secret_url("postgresql://app:hunter2@db:5432/app")
>>> repr(url)
"'postgresql://app:***@db:5432/app'"
>>> redact("connection to db failed (password=hunter2)")
'connection to db failed (password=***)'
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "MASK",
    "Secret",
    "SecretURL",
    "contains_secret",
    "detach",
    "mask_url",
    "new_password",
    "redact",
    "redact_exception",
    "redact_report_object",
    "register_secret",
    "register_url",
    "secret_url",
    "url_password",
    "write_private",
]

MASK = "***"
# A secret shorter than this is masked only where it sits in a URL or a conninfo: masking
# every "ab" in a report would make it unreadable and protect nothing.
MIN_FREE_TEXT_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*:/*)(?P<user>[^:@/?#]*):(?P<password>[^@/?#]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<key>(?:^|[?&;])password=)(?P<password>[^&#]*)", re.IGNORECASE)


class Secret(str):
    """A password: the real text to every library, ``'***'`` to ``repr``."""

    def __repr__(self) -> str:
        return repr(MASK)


class SecretURL(str):
    """A URL that may carry a password: the real URL to every library, masked to ``repr``."""

    def __repr__(self) -> str:
        return repr(mask_url(str(self)))


def url_password(url: str) -> str | None:
    """The password in ``url`` (userinfo or a ``password=`` query parameter), even in a malformed URL."""
    passwords = _url_passwords(url)
    return passwords[0] if passwords else None


def _url_passwords(url: str) -> list[str]:
    found = []
    match = _USERINFO.match(url)
    if match and match.group("password"):
        found.append(unquote(match.group("password")))
    query = url.split("?", 1)[1] if "?" in url else ""
    for item in _QUERY_PASSWORD.finditer("?" + query if query else ""):
        if item.group("password"):
            found.append(unquote(item.group("password")))
    return found


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for messages and logs (malformed URLs too)."""
    text = str(url)
    match = _USERINFO.match(text)
    if match and match.group("password"):
        text = f"{match.group('head')}{match.group('user')}:{MASK}@" + text[match.end() :]
    if "?" in text:
        base, query = text.split("?", 1)
        query = _QUERY_PASSWORD.sub(lambda m: m.group("key") + MASK, "?" + query)[1:]
        text = f"{base}?{query}"
    return text


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` (and its percent-encoded form) in everything :func:`redact` sees from now on."""
    if not secret:
        return
    global _pattern
    with _lock:
        before = len(_secrets)
        _secrets.update({str(secret), quote(str(secret), safe=""), quote(str(secret))})
        if len(_secrets) != before:
            _pattern = None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner alone from the first byte (0600: it holds a secret)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def new_password() -> Secret:
    """A random password (128 bits) for one run's server, registered so that no output shows it."""
    password = Secret(secrets.token_hex(16))
    register_secret(password)
    return password


def register_url(url: str | None) -> None:
    """Register the password(s) ``url`` carries."""
    if url:
        for password in _url_passwords(str(url)):
            register_secret(password)


def secret_url(url: str) -> SecretURL:
    """``url`` as a :class:`SecretURL`, its password registered."""
    register_url(url)
    return url if isinstance(url, SecretURL) else SecretURL(url)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: a quoted form contains its raw one
            free = [re.escape(secret) for secret in ordered if len(secret) >= MIN_FREE_TEXT_LENGTH]
            short = [re.escape(secret) for secret in ordered if len(secret) < MIN_FREE_TEXT_LENGTH]
            parts = free[:]
            if short:
                either = "|".join(short)
                # In a URL's userinfo, or as a conninfo / query value.
                parts.append(rf"(?<=:)(?:{either})(?=@)")
                parts.append(rf"(?<=password=)(?:{either})(?![^\s&'\"])")
                parts.append(rf"(?<=password=')(?:{either})(?=')")
            _pattern = re.compile("|".join(parts))
        return _pattern


def redact(text: str) -> str:
    """``text`` with every registered password replaced by ``***``."""
    pattern = _compiled()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a registered password."""
    pattern = _compiled()
    return bool(pattern is not None and text and pattern.search(text))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _redact_args(exc: BaseException) -> None:
    try:
        exc.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
    except (AttributeError, TypeError):  # an exception type with read-only args
        pass


def detach(exc: BaseException) -> BaseException:
    """``exc`` without its frames, causes or passwords: safe to chain with ``raise ... from detach(exc)``.

    A driver's frames hold the full connection string as a local; chained as they are,
    any traceback that shows locals (pytest ``-l``, unittest ``--locals``) would print it.
    The type and the (masked) message stay, which is what tells a person what went wrong.
    """
    _redact_args(exc)
    exc.__traceback__ = None
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc


def _frame_leaks(frame: Any) -> bool:
    try:
        values = list(frame.f_locals.values())
    except Exception:  # noqa: BLE001 - a frame whose locals cannot be read shows none either
        return False
    for value in values:
        if isinstance(value, (Secret, SecretURL)):
            continue
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:  # noqa: BLE001 - a repr that fails is shown as such, never with a secret
            continue
        if contains_secret(text):
            return True
    return False


def _without_leaking_frames(tb: TracebackType | None) -> TracebackType | None:
    frames = []
    while tb is not None:
        if not _frame_leaks(tb.tb_frame):
            frames.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for frame, lasti, lineno in reversed(frames):
        rebuilt = TracebackType(rebuilt, frame, lasti, lineno)
    return rebuilt


def redact_exception(exc: BaseException) -> BaseException:
    """Mask passwords in ``exc`` and its chain, and drop the frames whose locals hold one in the clear.

    Used where an exception leaves harness towards a test runner that may print
    every frame's locals. Frames whose secrets are :class:`SecretURL` stay.
    """
    if _compiled() is None:
        return exc
    for item in _chain(exc):
        _redact_args(item)
        if item.__traceback__ is not None:
            item.__traceback__ = _without_leaking_frames(item.__traceback__)
    return exc


def redact_report_object(obj: Any, depth: int = 0) -> Any:
    """Mask passwords in a test report's pieces (strings, lists, tuples, pytest's repr objects), in place."""
    if depth > 12:
        return obj
    if isinstance(obj, str):
        return redact(obj) if contains_secret(obj) else obj
    if isinstance(obj, list):
        obj[:] = [redact_report_object(item, depth + 1) for item in obj]
        return obj
    if isinstance(obj, tuple):
        items = [redact_report_object(item, depth + 1) for item in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = redact_report_object(obj[key], depth + 1)
        return obj
    if type(obj).__module__.startswith("_pytest") and hasattr(obj, "__dict__"):
        for name, value in list(vars(obj).items()):
            object.__setattr__(obj, name, redact_report_object(value, depth + 1))
    return obj

