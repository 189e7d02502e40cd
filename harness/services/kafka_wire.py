"""Just enough of the Kafka wire protocol to ask a broker for its metadata, with no client library.

The readiness probe runs every 10 ms while a broker starts; a kafka-python
client per attempt would cost a background thread and its API-version
bootstrap each time. Two requests over one socket answer the question:
ApiVersions v0 (which every broker accepts, it is how clients negotiate) and
then Metadata, at the highest version both sides know, asking for no topics.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

__all__ = ["BrokerMetadata", "KafkaWireError", "fetch_metadata"]

API_VERSIONS = 18
METADATA = 3
# Metadata v1..v8 share one non-flexible layout (v9 switches to compact, tagged encoding).
METADATA_VERSIONS = range(1, 9)
CLIENT_ID = b"harness-probe"


class KafkaWireError(Exception):
    """The address did not answer like a Kafka broker (refused, timed out, or an error code)."""


@dataclass(frozen=True)
class BrokerMetadata:
    """What a broker said about its cluster."""

    brokers: tuple[tuple[int, str, int], ...]
    """(node id, advertised host, advertised port) of every broker."""
    api_versions: dict[int, tuple[int, int]]
    """API key -> (min version, max version) the broker accepts."""
    cluster_id: str | None = None
    """The cluster's id (Metadata v2 and later), which tells one broker from another on the same address."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        text = self.data[self.offset : self.offset + length].decode("utf-8", errors="replace")
        self.offset += length
        return text


def _request(sock: socket.socket, api_key: int, version: int, correlation: int, body: bytes) -> _Reader:
    header = struct.pack(">hhih", api_key, version, correlation, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _receive(sock, 4))
    reader = _Reader(_receive(sock, size))
    if reader.take(">i") != correlation:
        raise KafkaWireError("the broker answered out of order")
    return reader


def _receive(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise KafkaWireError("the connection closed mid-answer (not a Kafka broker, or it is still starting)")
        chunks += chunk
    return bytes(chunks)


def _api_versions(sock: socket.socket) -> dict[int, tuple[int, int]]:
    reader = _request(sock, API_VERSIONS, 0, 1, b"")
    error = reader.take(">h")
    if error != 0:
        raise KafkaWireError(f"ApiVersions answered error code {error}")
    versions = {}
    for _ in range(reader.take(">i")):
        key, low, high = reader.take(">h"), reader.take(">h"), reader.take(">h")
        versions[key] = (low, high)
    return versions


def _metadata(sock: socket.socket, version: int) -> tuple[tuple[tuple[int, str, int], ...], str | None]:
    body = struct.pack(">i", 0)  # an empty topic list: "no topics", cheap on any cluster
    if version >= 4:
        body += b"\x00"  # allow_auto_topic_creation = false
    if version >= 8:
        body += b"\x00\x00"  # no authorized operations
    reader = _request(sock, METADATA, version, 2, body)
    if version >= 3:
        reader.take(">i")  # throttle time
    brokers = []
    for _ in range(reader.take(">i")):
        node_id = reader.take(">i")
        host = reader.string() or ""
        port = reader.take(">i")
        reader.string()  # rack
        brokers.append((node_id, host, port))
    cluster_id = reader.string() if version >= 2 else None
    return tuple(brokers), cluster_id


def fetch_metadata(host: str, port: int, *, timeout: float) -> BrokerMetadata:
    """ApiVersions, then Metadata (no topics) from the broker at ``host:port``, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.05))
            versions = _api_versions(sock)
            low, high = versions.get(METADATA, (0, -1))
            usable = [version for version in METADATA_VERSIONS if low <= version <= high]
            if not usable:
                raise KafkaWireError(f"the broker accepts Metadata versions {low}..{high}, none of 1..8")
            sock.settimeout(max(deadline - time.monotonic(), 0.05))
            brokers, cluster_id = _metadata(sock, max(usable))
    except KafkaWireError as exc:
        raise KafkaWireError(f"{host}:{port}: {exc}") from None
    except (OSError, struct.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise KafkaWireError(f"{host}:{port}: {reason}") from exc
    if not brokers:
        raise KafkaWireError(f"{host}:{port}: Metadata listed no brokers (the cluster is still forming)")
    return BrokerMetadata(brokers=brokers, api_versions=versions, cluster_id=cluster_id)
