"""The guard in front of every cleanup: only databases that are provably test databases are touched.

Where a URL says it goes proves nothing: libpq fills a missing host from
``PGHOST``, connects to ``hostaddr`` whatever the host says, reads a whole target
from a ``service`` file, and a DNS name may begin with ``127.``. So the guard asks
the connection itself, before any statement that changes anything: the socket's
peer is a Unix socket or a loopback address, or the database was created by
harness (its name and the owner marker harness put on it), or it is explicitly
allowed. Anything else is refused with :class:`UnsafeTargetError`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from harness.data.owners import owner_from_marker
from harness.errors import UnsafeTargetError

__all__ = ["HARNESS_DATABASE_PREFIX", "check_cleanup_target", "connection_peer", "is_allowed", "is_loopback_peer"]

HARNESS_DATABASE_PREFIX = "harness_"


def connection_peer(connection: Connection) -> tuple[int, str | tuple[str, int]] | None:
    """(address family, peer) of the socket the driver really connected, or None if it cannot be told."""
    dbapi_connection = connection.connection.dbapi_connection
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return None
    try:
        duplicate = os.dup(fileno())
    except (OSError, ValueError, TypeError):
        return None
    try:
        with socket.socket(fileno=duplicate) as sock:  # closes the duplicate only
            return sock.family, sock.getpeername()
    except OSError:
        return None


def is_loopback_peer(peer: tuple[int, str | tuple[str, int]] | None) -> bool:
    """A Unix socket, or a TCP peer in 127.0.0.0/8 or ::1 (an IPv4-mapped loopback too)."""
    if peer is None:
        return False
    family, address = peer
    if family == socket.AF_UNIX:
        return True
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        ip = ipaddress.ip_address(address[0].split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback
    return False


def _describe(peer: tuple[int, str | tuple[str, int]] | None) -> str:
    if peer is None:
        return "an address the driver does not reveal"
    family, address = peer
    if family == socket.AF_UNIX:
        return f"the Unix socket {address}"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _harness_marked(connection: Connection) -> bool:
    """The database's name has harness's prefix and harness's owner marker is on it (a read-only query)."""
    name = connection.engine.url.database or ""
    if not name.startswith(HARNESS_DATABASE_PREFIX) or connection.dialect.name != "postgresql":
        return False
    opened = not connection.in_transaction()
    try:
        comment = connection.execute(
            text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
        ).scalar()
    except DBAPIError:
        return False
    finally:
        if opened and connection.in_transaction():
            connection.rollback()  # end the read-only transaction this query opened, and only that
    return owner_from_marker(comment) is not None


def is_allowed(url: URL, allowed: Iterable[str]) -> bool:
    """``url``'s database is named in ``allowed`` (``name``, ``host/name`` or ``host:port/name``)."""
    names = {url.database or "", f"{url.host}/{url.database}", f"{url.host}:{url.port}/{url.database}"}
    return any(entry in names for entry in allowed)


def check_cleanup_target(
    connection: Connection, *, allowed: Iterable[str] = (), allow_unsafe_target: bool = False
) -> None:
    """Raise :class:`UnsafeTargetError` unless ``connection`` provably reaches a test database.

    Passes for SQLite, a loopback or Unix-socket peer, a database harness created,
    or one allowed by name (``HARNESS_ALLOW_CLEANUP``) or by ``allow_unsafe_target``.
    """
    url = connection.engine.url
    if allow_unsafe_target or is_allowed(url, allowed) or url.get_backend_name() == "sqlite":
        return
    peer = connection_peer(connection)
    if is_loopback_peer(peer) or _harness_marked(connection):
        return
    shown = f"database {url.database!r} (URL host {url.host or '(none)'!r})"
    raise UnsafeTargetError(
        f"Refusing to clean up {shown}: the connection goes to {_describe(peer)}, which is not this machine's "
        "loopback, and harness did not create that database, so it may not be a test database. Nothing was "
        f"deleted. If it is a test database, allow it with HARNESS_ALLOW_CLEANUP={url.database} (or allow_cleanup "
        "in the [harness] section of setup.cfg), or pass allow_unsafe_target=True to TestDataManager."
    )


def refuse_unreachable(url: URL, reason: str) -> UnsafeTargetError:
    """The error for a target harness could not even connect to, so could not check."""
    return UnsafeTargetError(
        f"Refusing to clean up database {url.database!r} on {url.host}:{url.port or 5432}: harness could not "
        f"connect to see where it really is ({reason}). Nothing was deleted. If it is a test database, allow "
        f"it with HARNESS_ALLOW_CLEANUP={url.database}, or pass allow_unsafe_target=True to TestDataManager."
    )
