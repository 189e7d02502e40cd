"""The HTTP/1.1 server under an HTTPStub: one thread a connection, keep-alive, chunked request bodies, faults.

Every connection's thread is tracked and joined by ``stop()``, which first shuts
down every open connection (kept-alive ones, and those a fault or a delay holds),
so stopping never waits on a client.

>>> server = StubServer(lambda request: ResponseDef(body=b"hello"))
>>> port = server.start()  # doctest: +SKIP
>>> server.stop()
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from harness.errors import ServiceStopError
from harness.http.runner import HOST, STOP_TIMEOUT
from harness.http.stub_matching import RecordedRequest
from harness.http.stub_registry import ResponseDef

__all__ = ["StubServer"]

GARBAGE = b"lskdu018973t09sylgasjkfg1][]'./.sdlv"
"""What WireMock writes for RANDOM_DATA_THEN_CLOSE and inside MALFORMED_RESPONSE_CHUNK."""
MAX_LINE = 65536


class StubServer:
    """Serve ``answer(request) -> ResponseDef`` on 127.0.0.1 and an ephemeral port until ``stop()``."""

    def __init__(self, answer: Callable[[RecordedRequest], ResponseDef]) -> None:
        self.answer = answer
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def start(self) -> int:
        """Listen, start accepting, and return the port."""
        self._listener = socket.create_server((HOST, 0))
        self._wake_reader, self._wake_writer = socket.socketpair()  # stop() writes to it to wake the acceptor
        self._acceptor = threading.Thread(target=self._accept_loop, name="HTTPStub-accept", daemon=True)
        self._acceptor.start()
        return int(self._listener.getsockname()[1])

    def stop(self) -> None:
        """Stop accepting, shut every open connection, join every thread; safe to call twice."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._wake_writer is not None:
            self._wake_writer.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(STOP_TIMEOUT)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(STOP_TIMEOUT)
        alive = [thread.name for thread in threads if thread.is_alive()]
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            if sock is not None:
                sock.close()
        if alive or (self._acceptor is not None and self._acceptor.is_alive()):
            raise ServiceStopError(f"HTTPStub: {len(alive)} connection thread(s) did not end within {STOP_TIMEOUT} s.")

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_reader is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self.stopping.is_set():
                ready = [key.fileobj for key, _ in selector.select()]
                if self._listener not in ready or self.stopping.is_set():
                    continue
                with contextlib.suppress(OSError):  # the client went away before accept()
                    connection, address = self._listener.accept()
                    self._serve_connection(connection, address)

    def _serve_connection(self, connection: socket.socket, address: Any) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(target=self._handle, args=(connection, address), daemon=True,
                                  name=f"HTTPStub-connection-{address[1]}")
        with self._lock:
            self._connections.add(connection)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _handle(self, connection: socket.socket, address: Any) -> None:
        try:
            if not self.stopping.is_set():
                _Handler(connection, address, cast(Any, self))  # it only stores the server it is given
        except OSError:  # the client reset or closed the connection mid-request
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    """One connection: requests read in turn (keep-alive) and answered by the StubServer's ``answer``."""

    protocol_version = "HTTP/1.1"
    server: StubServer  # type: ignore[assignment]  # BaseRequestHandler only stores it, as a BaseServer

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > MAX_LINE:
            self.send_error(414)
            return
        if not self.parse_request():  # it has answered 400/505 itself
            return
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Bad chunked body")
            return
        request = RecordedRequest(self.command, self.path, self.headers, body, time.time())
        self._send(self.server.answer(request))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline(MAX_LINE).split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline(MAX_LINE)
            while self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: ResponseDef) -> None:
        if response.delay_seconds and self.server.stopping.wait(response.delay_seconds):
            self._drop(reset=False)
            return
        if response.fault is not None:
            self._fault(response.fault)
            return
        reason = response.reason if response.reason is not None else self.responses.get(response.status, ("",))[0]
        head = [f"HTTP/1.1 {response.status} {reason}", f"Date: {self.date_time_string()}"]
        head += [f"{name}: {value}" for name, value in response.headers
                 if name.lower() not in ("content-length", "transfer-encoding", "connection")]
        head.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            head.append("Connection: close")
        payload = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n"
        self.wfile.write(payload + (b"" if self.command == "HEAD" else response.body))

    def _fault(self, fault: str) -> None:
        if fault == "CONNECTION_RESET_BY_PEER":
            self._drop(reset=True)
        elif fault == "EMPTY_RESPONSE":
            self._drop(reset=False)
        elif fault == "RANDOM_DATA_THEN_CLOSE":
            self.wfile.write(GARBAGE)
            self._drop(reset=False)
        elif fault == "MALFORMED_RESPONSE_CHUNK":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + GARBAGE)
            self._drop(reset=False)
        else:  # NO_RESPONSE: wait, answering nothing, until the client hangs up or stop() shuts the socket
            with contextlib.suppress(OSError):
                while self.connection.recv(MAX_LINE):
                    pass
            self.close_connection = True

    def _drop(self, *, reset: bool) -> None:
        """Close the connection: with a TCP RST (SO_LINGER 0, so close() resets) or an orderly FIN."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: what the stub received is in HTTPStub.requests, not on stderr."""
