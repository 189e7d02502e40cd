"""The app under test served inside the test's process, on a real socket on 127.0.0.1.

:class:`ASGIApp` serves an ASGI app (FastAPI, Starlette, ...) with uvicorn;
:class:`WSGIApp` serves a WSGI app (Flask, Django, a plain function) with the
standard library's ``wsgiref``, one thread a request. Both have the interface of
the out-of-process runner, described in :mod:`harness.http.runner`: ``start(env)``
returns the base URL, ``stop()`` is safe twice, and the app's log is kept.

>>> runner = ASGIApp("shop.api:app", health_path="/health")
>>> url = runner.start({"DATABASE_URL": "postgresql://..."})  # doctest: +SKIP
>>> runner.app.dependency_overrides[get_clock] = lambda: FixedClock()  # doctest: +SKIP
>>> runner.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from typing import TYPE_CHECKING, Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from harness._optional import require
from harness.errors import ServiceStartError, ServiceStopError
from harness.http.capture import OutputCapture
from harness.http.runner import HOST, POLL_SECONDS, STOP_TIMEOUT, InProcessRunner

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["ASGIApp", "WSGIApp"]

GRACEFUL_STOP_SECONDS = 2
"""How long stop() lets requests in flight finish before uvicorn cancels them."""


class ASGIApp(InProcessRunner):
    """Serve an ASGI app in-process with uvicorn (lifespan events included) on 127.0.0.1 and an ephemeral port.

    uvicorn runs on a standard asyncio event loop (never uvloop) in a daemon thread;
    ``stop()`` gives requests in flight 2 seconds, then cancels them.

    ``app`` is ``"package.module:attribute"`` (imported by ``start()``, after the
    environment is set) or the app object; ``health_path``, if given, must answer
    2xx before ``start()`` returns; ``startup_timeout`` bounds the whole start;
    ``capture_level`` is the lowest level of log record kept in ``output()``.

    >>> runner = ASGIApp("shop.api:app", health_path="/health", startup_timeout=10)
    >>> base_url = runner.start({"REDIS_URL": "redis://127.0.0.1:6379/3"})  # doctest: +SKIP
    >>> runner.stop()
    """

    kind = "an ASGI application"
    # While serving (InProcessRunner.__init__ takes the arguments); set by _serve, cleared by _shutdown.
    _server: Any = None
    _socket: socket.socket | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _main_task: asyncio.Task[None] | None = None
    _loop_ready: threading.Event  # made by _serve, before the server it waits on

    def _serve(self, app: object, deadline: float) -> str:
        uvicorn = require("uvicorn", extra="asgi", purpose="ASGIApp")
        # uvicorn.Config sets these loggers' levels; they are put back at stop().
        self._capture.keep_levels("uvicorn.error", "uvicorn.access", "uvicorn.asgi")
        config = uvicorn.Config(
            app,
            host=HOST,
            port=0,
            log_level="warning",
            log_config=None,  # no handlers of its own on stderr: records go to the captured loggers
            lifespan="auto",
            timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS,
        )
        # The socket is bound here, so the port is known before the server thread runs.
        # IPPROTO_TCP given explicitly: asyncio turns Nagle off (TCP_NODELAY) only on connections accepted from
        # a socket made so; without it every request on a kept-alive connection waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind((HOST, 0))
        port = self._socket.getsockname()[1]
        server = self._server = uvicorn.Server(config)
        sock = self._socket
        self._loop = self._main_task = None
        loop_ready = self._loop_ready = threading.Event()

        async def main() -> None:
            # Kept so that stop() can cancel a lifespan or a request that never ends.
            self._loop, self._main_task = asyncio.get_running_loop(), asyncio.current_task()
            loop_ready.set()
            await server.serve(sockets=[sock])

        def serve() -> None:
            try:
                asyncio.run(main())
            finally:  # uvicorn closes it on a normal exit; if its loop died, clients are refused, not left hanging
                sock.close()

        thread = self._start_thread(serve, name=f"harness-asgi-{port}")
        while not server.started:
            if not thread.is_alive():
                raise ServiceStartError(f"{self!r} did not start serving: its server thread {self._thread_end()}")
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"{self!r} did not start serving within {self.startup_timeout:g}s (its lifespan startup may "
                    f"hang); raise startup_timeout if it is slow. Its output:\n{self._capture.tail()}"
                )
            thread.join(POLL_SECONDS)
        return f"http://{HOST}:{port}"

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        sock, self._socket = self._socket, None
        thread = self._thread
        try:
            if server is not None and thread is not None:
                if server.started:  # let it finish its requests and run its lifespan shutdown
                    server.should_exit = True
                    thread.join(STOP_TIMEOUT)
                if thread.is_alive():  # still starting, or a request or the lifespan shutdown hangs
                    server.should_exit = server.force_exit = True
                    self._cancel_main_task()
                    thread.join(STOP_TIMEOUT)
                if thread.is_alive():
                    raise ServiceStopError(
                        f"{self!r}: uvicorn did not stop, even cancelled (a request handler or the lifespan "
                        f"blocks its event loop). Its output:\n{self._capture.tail()}"
                    )
                _join_anyio_workers(self._loop)
        finally:
            if sock is not None:
                sock.close()
            self._loop = self._main_task = None

    def _cancel_main_task(self) -> None:
        if self._loop_ready.wait(STOP_TIMEOUT) and self._loop is not None and self._main_task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to cancel
                self._loop.call_soon_threadsafe(self._main_task.cancel)


def _join_anyio_workers(loop: asyncio.AbstractEventLoop | None) -> None:
    """Wait for the anyio worker threads (sync endpoints and dependencies) of ``loop``.

    anyio tells them to stop when the loop's main task ends, but nobody waits for
    them: waiting here means stop() leaves no thread behind.
    """
    if loop is None:
        return
    for worker in threading.enumerate():
        if getattr(worker, "loop", None) is loop and worker is not threading.current_thread():
            worker.join(STOP_TIMEOUT)


class WSGIApp(InProcessRunner):
    """Serve a WSGI app in-process with ``wsgiref`` (a thread a request) on 127.0.0.1 and an ephemeral port.

    Arguments as for :class:`ASGIApp`. The server speaks HTTP/1.0: each request
    has a connection of its own. Its request log and the app's ``wsgi.errors``
    (tracebacks of unhandled errors included) go to ``output()``, not stderr.

    >>> runner = WSGIApp("shop.wsgi:application", health_path="/health")
    >>> base_url = runner.start({"DJANGO_SETTINGS_MODULE": "shop.settings"})  # doctest: +SKIP
    >>> runner.stop()
    """

    kind = "a WSGI application"
    _server: _ThreadingWSGIServer | None = None  # while serving

    def _serve(self, app: object, deadline: float) -> str:
        server = self._server = _ThreadingWSGIServer((HOST, 0), _RequestHandler, capture=self._capture)
        server.set_app(cast("WSGIApplication", app))
        port = server.server_address[1]
        # Listening already (bound in the constructor): connections wait in the backlog until the loop runs.
        self._start_thread(lambda: server.serve_forever(poll_interval=0.05), name=f"harness-wsgi-{port}")
        return f"http://{HOST}:{port}"

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        thread = self._thread
        try:
            if thread is not None and thread.is_alive():
                server.shutdown()
                thread.join(STOP_TIMEOUT)
        finally:
            server.server_close()
        hung = server.join_requests(STOP_TIMEOUT)
        if hung:
            raise ServiceStopError(
                f"{self!r}: {hung} request(s) still running {STOP_TIMEOUT:g}s after the server stopped listening "
                f"(their threads are daemons and end with the process). Its output:\n{self._capture.tail()}"
            )


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, a daemon thread a request, each tracked so that stop() can wait for them."""

    daemon_threads = True
    block_on_close = False  # joined by join_requests(), with a deadline

    def __init__(self, address: tuple[str, int], handler: type[WSGIRequestHandler], *, capture: OutputCapture) -> None:
        self.capture = capture
        self._requests: list[threading.Thread] = []
        self._requests_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn), which may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="harness-wsgi-request"
        )
        thread.daemon = True
        with self._requests_lock:
            self._requests = [running for running in self._requests if running.is_alive()]
            self._requests.append(thread)
        thread.start()

    def join_requests(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the request threads; return how many still run."""
        deadline = time.monotonic() + timeout
        with self._requests_lock:
            threads, self._requests = self._requests, []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)


class _RequestHandler(WSGIRequestHandler):
    """wsgiref's handler, its request log and ``wsgi.errors`` written to the runner's output."""

    server: _ThreadingWSGIServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        self.server.capture.write(f"{self.address_string()} - {format % args}\n")

    def get_stderr(self) -> Any:
        return self.server.capture
