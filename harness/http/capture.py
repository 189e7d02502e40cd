"""What an in-process app logged: a logging handler that keeps every record as a line of text.

An app served in the test's own process writes to the process's loggers, so
the capture is the process's logging while the runner serves: the root logger
(lowered to ``level`` if it was above, restored afterwards) and uvicorn's
loggers, which may not propagate to it. Offsets (:meth:`OutputCapture.mark`)
give what was logged during one test.

>>> import logging
>>> capture = OutputCapture(logging.INFO)
>>> capture.attach()
>>> start = capture.mark()
>>> logging.getLogger("shop").info("order %s created", 7)
>>> capture.detach()
>>> capture.output_since(start).endswith("INFO shop: order 7 created\\n")
True
"""

from __future__ import annotations

import logging
import threading
import weakref

from harness.redaction import redact

__all__ = ["CAPTURED_LOGGERS", "OutputCapture"]

CAPTURED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
"""The loggers the handler is attached to ("" is the root): uvicorn's do not propagate once configured."""

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OutputCapture(logging.Handler):
    """Collect the process's log records (and raw text, via :meth:`write`) as lines, passwords masked."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter(LINE_FORMAT))
        self.capture_level = level
        self._chunks: list[str] = []
        self._length = 0
        self._text_lock = threading.Lock()
        # A record that reaches the handler through two attached loggers is kept once.
        self._seen: weakref.WeakSet[logging.LogRecord] = weakref.WeakSet()
        self._attached: list[logging.Logger] = []
        self._levels: dict[str, int] = {}

    def attach(self) -> None:
        """Start collecting: attach to :data:`CAPTURED_LOGGERS` and lower the root's level to ``level`` if above."""
        root = logging.getLogger()
        if root.getEffectiveLevel() > self.capture_level:
            self.keep_levels("")
            root.setLevel(self.capture_level)
        for name in CAPTURED_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self)
            self._attached.append(logger)

    def keep_levels(self, *names: str) -> None:
        """Remember these loggers' levels now, to restore them at :meth:`detach` (for code that sets them)."""
        for name in names:
            self._levels.setdefault(name, logging.getLogger(name).level)

    def detach(self) -> None:
        """Stop collecting and restore the levels changed since :meth:`attach`; safe twice. The text stays."""
        while self._attached:
            self._attached.pop().removeHandler(self)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self._levels.clear()

    def emit(self, record: logging.LogRecord) -> None:
        if record in self._seen:
            return
        self._seen.add(record)
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own policy: report a bad record, never raise into the app
            self.handleError(record)
            return
        self.write(line + "\n")

    def write(self, text: str) -> None:
        """Add raw text (a server's request log, a WSGI app's ``wsgi.errors``) to the output."""
        if not text:
            return
        text = redact(text)
        with self._text_lock:
            self._chunks.append(text)
            self._length += len(text)

    def flush(self) -> None:
        """Nothing is buffered; here so the capture can serve as a text stream."""

    def mark(self) -> int:
        """The current end of the output, for :meth:`output_since`."""
        with self._text_lock:
            return self._length

    def output(self) -> str:
        """Everything collected, one record a line."""
        with self._text_lock:
            if len(self._chunks) > 1:
                self._chunks[:] = ["".join(self._chunks)]
            return self._chunks[0] if self._chunks else ""

    def output_since(self, mark: int) -> str:
        """What was collected after :meth:`mark` returned ``mark``."""
        return self.output()[mark:]

    def tail(self, chars: int = 3000) -> str:
        """The end of the output, for error messages; says so when nothing was collected."""
        text = self.output()
        if not text:
            return "(nothing logged)"
        return text[-chars:] if len(text) > chars else text
