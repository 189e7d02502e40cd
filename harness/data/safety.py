"""The guard in front of every cleanup: only databases that look like test databases are touched."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import URL

from harness.errors import UnsafeTargetError

__all__ = ["LOCAL_HOSTS", "check_cleanup_target", "is_harness_database", "is_local"]

LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "[::1]"})
HARNESS_DATABASE_PREFIX = "harness_"


def is_local(url: URL) -> bool:
    """SQLite, a Unix socket, or a loopback address."""
    if url.get_backend_name() == "sqlite":
        return True
    host = url.host or ""
    host_from_query = url.query.get("host")
    if not host and isinstance(host_from_query, str):
        host = host_from_query
    return host in LOCAL_HOSTS or host.startswith("/") or host.startswith("127.")


def is_harness_database(url: URL) -> bool:
    """A database harness created (its name carries harness's prefix)."""
    return (url.database or "").startswith(HARNESS_DATABASE_PREFIX)


def _allowed(url: URL, allowed: Iterable[str]) -> bool:
    names = {url.database or "", f"{url.host}/{url.database}", f"{url.host}:{url.port}/{url.database}"}
    return any(entry in names for entry in allowed)


def check_cleanup_target(url: URL, *, allowed: Iterable[str] = (), allow_unsafe_target: bool = False) -> None:
    """Raise :class:`UnsafeTargetError` unless ``url`` is local, harness-made, or explicitly allowed."""
    if allow_unsafe_target or is_local(url) or is_harness_database(url) or _allowed(url, allowed):
        return
    where = f"database {url.database!r} on {url.host}:{url.port or 5432}"
    raise UnsafeTargetError(
        f"Refusing to clean up {where}: it is not local, was not created by harness, and is not "
        "explicitly allowed, so it may not be a test database. Nothing was deleted. If it is a test "
        f"database, allow it with HARNESS_ALLOW_CLEANUP={url.database} (or allow_cleanup in the "
        "[harness] section of setup.cfg), or pass allow_unsafe_target=True to TestDataManager."
    )
