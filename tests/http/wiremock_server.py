"""Real WireMock standalone for tests and benchmarks (a test helper, not library code).

WireMock comes from the ``wiremock`` npm package, which ships the standalone jar:
``npm install --prefix ~/.cache/harness/wiremock wiremock`` (what .ci/run does), or
``HARNESS_WIREMOCK_JAR=/path/to/wiremock-standalone-*.jar``. Java is ``$JAVA_HOME/bin/java``
or ``java`` on PATH.

>>> with WireMockServer() as wiremock:          # doctest: +SKIP
...     requests.get(wiremock.url + "/__admin/mappings").json()["meta"]["total"]
0
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import requests

from harness.providers.local import free_port

__all__ = ["WireMockServer", "find_jar", "find_java", "missing_reason"]

NPM_PREFIX = Path.home() / ".cache" / "harness" / "wiremock"
INSTALL_HINT = (
    f"install WireMock's standalone jar with `npm install --prefix {NPM_PREFIX} wiremock` "
    "or set HARNESS_WIREMOCK_JAR to a wiremock-standalone-*.jar"
)
START_TIMEOUT = 60.0
PORT_ATTEMPTS = 3


def find_java() -> str | None:
    """``$JAVA_HOME/bin/java`` when it exists, else ``java`` on PATH, else None."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def find_jar() -> Path | None:
    """The WireMock standalone jar: ``HARNESS_WIREMOCK_JAR``, else the npm package's, newest first."""
    explicit = os.environ.get("HARNESS_WIREMOCK_JAR")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    jar = _jar_under(NPM_PREFIX / "node_modules")
    npm = shutil.which("npm")
    if jar is None and npm:  # a global install (npm install -g wiremock)
        found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30, check=False)
        if found.returncode == 0 and found.stdout.strip():
            jar = _jar_under(Path(found.stdout.strip()))
    return jar


def _jar_under(node_modules: Path) -> Path | None:
    jars = sorted((node_modules / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    return jars[-1] if jars else None


def missing_reason() -> str | None:
    """Why real WireMock cannot run here (what to install), or None when it can."""
    if find_java() is None:
        return ("real WireMock needs Java: install a JRE 11+ (e.g. apt-get install default-jre-headless) "
                "or set JAVA_HOME")
    explicit = os.environ.get("HARNESS_WIREMOCK_JAR")
    if explicit and not Path(explicit).is_file():
        return f"HARNESS_WIREMOCK_JAR={explicit} is not a file: {INSTALL_HINT}"
    if find_jar() is None:
        return f"real WireMock not found: {INSTALL_HINT}"
    return None


def jar_version(jar: Path) -> str:
    """``3.13.2`` from ``wiremock-standalone-3.13.2.jar``."""
    return jar.stem.removeprefix("wiremock-standalone-")


class WireMockServer:
    """WireMock standalone as a child process on 127.0.0.1, a free port and its own root dir.

    ``root_dir``: a directory with ``mappings/`` and ``__files/`` to serve (WireMock's files
    route); by default an empty temp dir, removed at ``stop()``.
    """

    def __init__(self, *, root_dir: Path | None = None, timeout: float = START_TIMEOUT) -> None:
        reason = missing_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.java = find_java()
        self.jar = find_jar()
        self.root_dir = root_dir
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._own_root: str | None = None
        self.url = ""

    @property
    def version(self) -> str:
        assert self.jar is not None
        return jar_version(self.jar)

    def start(self) -> WireMockServer:
        """Launch and wait until ``GET /__admin/mappings`` answers 200 (one deadline)."""
        if self._process is not None:
            raise RuntimeError("WireMockServer already started")
        self._own_root = tempfile.mkdtemp(prefix="harness-wiremock-")
        root = self.root_dir if self.root_dir is not None else Path(self._own_root) / "root"
        root.mkdir(exist_ok=True)
        self._log = Path(self._own_root) / "wiremock.log"
        try:
            for attempt in range(PORT_ATTEMPTS):
                port = free_port()
                if self._launch(port, root):
                    return self
                if attempt == PORT_ATTEMPTS - 1 or "Address already in use" not in self.log_tail():
                    raise RuntimeError(f"WireMock did not start on port {port}; its log:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _launch(self, port: int, root: Path) -> bool:
        """Start on ``port``; True once ready, False when the process exits first; times out loudly."""
        assert self.java is not None and self.jar is not None and self._log is not None
        command = [self.java, "-jar", str(self.jar), "--port", str(port), "--bind-address", "127.0.0.1",
                   "--disable-banner", "--root-dir", str(root)]
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            try:  # a JVM still warming up may take seconds over its first answer: wait, within the deadline
                probe = requests.get(url + "/__admin/mappings", timeout=max(0.1, deadline - time.monotonic()))
                if probe.status_code == 200:
                    self.url = url
                    return True
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"WireMock not ready on {url} after {self.timeout:.0f} s; its log:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Kill the JVM, wait for it, remove the temp dir; safe twice."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=30)
        own_root, self._own_root = self._own_root, None
        if own_root is not None:
            shutil.rmtree(own_root, ignore_errors=True)
        self.url = ""

    def __enter__(self) -> WireMockServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
