"""A client of the echo server (standard library only): authenticate, ask INFO, echo lines.

>>> with EchoClient("127.0.0.1", 7007, password="secret", timeout=5) as client:   # doctest: +SKIP
...     client.echo("ping")
'ping'
"""

from __future__ import annotations

import socket
import time
from types import TracebackType

__all__ = ["EchoClient", "EchoDenied", "EchoError"]


class EchoError(Exception):
    """The server did not answer as an echo server does (or not in time)."""


class EchoDenied(EchoError):
    """The server refused the password."""


class EchoClient:
    """One authenticated connection; every call shares the deadline ``timeout`` seconds from the connect."""

    def __init__(self, host: str, port: int, *, password: str, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise EchoError(f"cannot connect: {exc.strerror or exc}") from None
        self._buffer = b""
        try:
            self._send(f"AUTH {password}\n")
            answer = self._line()
        except BaseException:
            self.close()
            raise
        if answer != "+OK":
            self.close()
            if answer == "-DENIED":
                raise EchoDenied("the server refused the password")
            raise EchoError(f"unexpected answer to AUTH: {answer[:60]!r}")

    def info(self) -> tuple[str, str]:
        """(instance, greeting) of the server."""
        self._send("INFO\n")
        answer = self._line()
        head, _, rest = answer.partition(" ")
        if head != "+INFO":
            raise EchoError(f"unexpected answer to INFO: {answer[:60]!r}")
        instance, _, greeting = rest.partition(" ")
        return instance, greeting

    def echo(self, text: str) -> str:
        """Send ``text`` as one line; what came back."""
        self._send(text + "\n")
        return self._line()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> EchoClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise EchoError("no answer in time")
        return left

    def _send(self, text: str) -> None:
        try:
            self._socket.settimeout(self._remaining())
            self._socket.sendall(text.encode())
        except OSError as exc:
            raise EchoError(f"cannot send: {exc.strerror or exc}") from None

    def _line(self) -> str:
        while b"\n" not in self._buffer:
            try:
                self._socket.settimeout(self._remaining())
                chunk = self._socket.recv(4096)
            except OSError as exc:  # socket.timeout is an OSError
                raise EchoError(f"no answer: {exc.strerror or exc or 'timed out'}") from None
            if not chunk:
                raise EchoError("the server closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")
