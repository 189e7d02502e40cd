"""What the in-process runners (ASGIApp, WSGIApp in :mod:`harness.http.inprocess`) share.

Both have the interface of the out-of-process runner (AppProcess): ``start(env)``
returns the base URL, ``stop()`` is safe twice, ``url``, ``status()`` (``None``
while serving), ``output()``, ``mark()`` / ``output_since(mark)``; and ``app``,
the app object itself (to set FastAPI's ``dependency_overrides``, say).

``start(env)`` puts ``env`` into ``os.environ`` before it imports the app, and
``stop()`` puts back what was there, so the app must read its settings at import
or at request time. The modules of the app's top-level package that ``start()``
imported are forgotten at ``stop()``, so the next start imports them afresh with
its own environment; an app passed as an object was imported by its caller,
with the caller's environment.

An in-process app logs through the process's own loggers: ``output()`` is what
was logged in the process, by the app or anything else, while it served
(records at ``capture_level`` and above). ``print()`` is not captured.
"""

from __future__ import annotations

import http.client
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from harness.errors import ConfigError, ServiceStartError, UsageError, did_you_mean
from harness.http.capture import OutputCapture

__all__ = ["InProcessRunner"]

HOST = "127.0.0.1"
POLL_SECONDS = 0.01
PROBE_TIMEOUT = 2.0
MIN_PROBE_TIMEOUT = 0.5
STOP_TIMEOUT = 10.0


class InProcessRunner:
    """What ASGIApp and WSGIApp share: environment, import, server thread, health wait, output capture."""

    kind = "an app"

    def __init__(
        self,
        app: str | object,
        *,
        health_path: str | None = None,
        startup_timeout: float = 30.0,
        capture_level: int = logging.INFO,
    ) -> None:
        name = type(self).__name__
        if isinstance(app, str):
            module, _, attribute = app.partition(":")
            if not module or not attribute:
                raise ConfigError(f"{name} needs the app as 'package.module:attribute' or an app object, got {app!r}.")
        elif not callable(app):
            raise ConfigError(f"{name} needs {self.kind} (a callable) or 'package.module:attribute', got {app!r}.")
        if health_path is not None and not health_path.startswith("/"):
            raise ConfigError(f"{name}(health_path={health_path!r}): the health path must start with '/'.")
        if not startup_timeout > 0:
            raise ConfigError(f"{name}(startup_timeout={startup_timeout!r}): give a number of seconds above 0.")
        self.app_spec = app
        self.health_path = health_path
        self.startup_timeout = startup_timeout
        self.capture_level = capture_level
        self.url: str | None = None
        self._app: object | None = None if isinstance(app, str) else app
        self._capture = OutputCapture(capture_level)
        self._saved_env: dict[str, str | None] | None = None
        self._imported: list[str] = []
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._state = "new"

    def __repr__(self) -> str:
        where = f", url={self.url!r}" if self.url else ""
        spec = self.app_spec if isinstance(self.app_spec, str) else getattr(self.app_spec, "__name__", "<app>")
        return f"{type(self).__name__}({spec!r}{where})"

    @property
    def app(self) -> Any:
        """The app object (imported by :meth:`start` when it was given as a string)."""
        if self._app is None:
            raise UsageError(f"{self!r}.app is imported by start(); call start(env) first.")
        return self._app

    def start(self, env: Mapping[str, str]) -> str:
        """Set ``env``, import the app, serve it on 127.0.0.1 and wait until it answers; return its base URL.

        A failed start stops what it began and restores the environment before it raises.
        """
        if self._state == "started":
            raise UsageError(f"{self!r} is already started; call stop() before starting it again.")
        deadline = time.monotonic() + self.startup_timeout
        self._capture = OutputCapture(self.capture_level)
        self._capture.attach()
        self._failure = None
        self._state = "started"
        try:
            self._apply_env(env)
            app = self._load_app()
            self.url = self._serve(app, deadline)
            if self.health_path is not None:
                self._wait_healthy(self.health_path, deadline)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop serving, restore the environment and forget the modules start() imported; safe twice."""
        if self._state != "started":
            return
        self._state = "stopped"
        try:
            self._shutdown()
        finally:
            self._thread = None
            self.url = None
            self._capture.detach()
            self._restore_env()
            self._forget_modules()

    def status(self) -> str | None:
        """``None`` while serving; otherwise a sentence on why not (a dead server thread: its error and output)."""
        if self._state == "new":
            return f"{self!r} was never started."
        if self._state == "stopped":
            return f"{self!r} was stopped."
        if self._thread is not None and self._thread.is_alive():
            return None
        return f"The server thread of {self!r} {self._thread_end()}"

    def _thread_end(self) -> str:
        if self._failure is not None:
            ended = f"died with {type(self._failure).__name__}: {self._failure}".rstrip(".")
        else:
            ended = "stopped serving"
        return f"{ended}. Its last output:\n{self._capture.tail()}"

    def output(self) -> str:
        """Everything logged since the last start, one record a line."""
        return self._capture.output()

    def mark(self) -> int:
        """The current end of :meth:`output`, to pass to :meth:`output_since` later."""
        return self._capture.mark()

    def output_since(self, mark: int) -> str:
        """What was logged after :meth:`mark` returned ``mark`` (what the app logged during one test)."""
        return self._capture.output_since(mark)

    # What each server does.

    def _serve(self, app: object, deadline: float) -> str:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    # Shared machinery.

    def _start_thread(self, serve: Callable[[], None], name: str) -> threading.Thread:
        def run() -> None:
            try:
                serve()
            except BaseException as exc:  # a server thread has nobody to raise to: status() reports it
                self._failure = exc
                self._capture.write(f"{name} died:\n" + "".join(traceback.format_exception(exc)))

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        return self._thread

    def _apply_env(self, env: Mapping[str, str]) -> None:
        bad = sorted(str(key) for key, value in env.items() if not isinstance(key, str) or not isinstance(value, str))
        if bad:
            raise ConfigError(f"{self!r}.start(env): environment variables need str values; not so for {bad}.")
        self._saved_env = {key: os.environ.get(key) for key in env}
        os.environ.update(env)

    def _restore_env(self) -> None:
        saved, self._saved_env = self._saved_env, None
        for key, value in (saved or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _load_app(self) -> object:
        if not isinstance(self.app_spec, str):
            return self.app_spec
        spec = self.app_spec
        module_name, _, attribute = spec.partition(":")
        package = module_name.split(".")[0]
        before = set(sys.modules)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # whatever the app's import raises (often a missing setting) means "cannot load"
            raise ConfigError(
                f"{type(self).__name__} could not import {module_name!r} (from {spec!r}): {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._imported = sorted(
                name for name in set(sys.modules) - before if name == package or name.startswith(package + ".")
            )
        value: object = module
        for part in attribute.split("."):
            if not hasattr(value, part):
                choices = [name for name in dir(value) if not name.startswith("_")]
                raise ConfigError(
                    f"{type(self).__name__}({spec!r}): {module_name!r} has no attribute {attribute!r}."
                    f"{did_you_mean(part, choices)}"
                )
            value = getattr(value, part)
        if not callable(value):
            raise ConfigError(f"{type(self).__name__}({spec!r}) is a {type(value).__name__}, not {self.kind}.")
        self._app = value
        return value

    def _forget_modules(self) -> None:
        imported, self._imported = self._imported, []
        for name in reversed(imported):
            module = sys.modules.pop(name, None)
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name) if parent_name else None
            if parent is not None and module is not None and getattr(parent, child, None) is module:
                delattr(parent, child)

    def _wait_healthy(self, path: str, deadline: float) -> None:
        assert self.url is not None
        port = int(self.url.rsplit(":", 1)[1])
        while True:
            if self.status() is not None:
                raise ServiceStartError(f"{self!r} was not healthy yet when its server thread {self._thread_end()}")
            # Probed at least once, even when importing the app took the whole startup_timeout.
            remaining = deadline - time.monotonic()
            try:
                status = _get_status(port, path, timeout=min(PROBE_TIMEOUT, max(remaining, MIN_PROBE_TIMEOUT)))
            except (OSError, http.client.HTTPException) as exc:
                last = f"got no answer ({type(exc).__name__}: {exc})"
            else:
                if 200 <= status < 300:
                    return
                last = f"answered {status}"
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"{self!r} was not healthy within {self.startup_timeout:g}s: GET {self.url}{path} {last}. "
                    f"Make that path answer 2xx once the app is ready, or raise startup_timeout. "
                    f"Its output:\n{self._capture.tail()}"
                )
            time.sleep(POLL_SECONDS)


def _get_status(port: int, path: str, *, timeout: float) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
