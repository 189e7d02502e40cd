"""HTTPStub vs real WireMock standalone: start to first answered request, and requests per second.

(a) Start to first answered request, each way timed from the start call until the client has
    the answer: HTTPStub ``HTTPStub(strict=False).start()``; WireMock ``WireMockServer.start()``
    (tests/http/wiremock_server.py: ``java -jar wiremock-standalone-*.jar`` on a free port, then
    ``GET /__admin/mappings`` polled every 20 ms until it answers 200, i.e. the JVM's start);
    then, the same for both, one mapping POSTed to ``/__admin/mappings`` (GET /ping -> 200, a
    small JSON body) and ``GET /ping`` answered. Finding Java and the jar, and the stop, are not
    timed. The two ways alternate.
(b) Requests per second through one keep-alive ``requests.Session``: ``GET /ping`` (the mapping
    above) answered and its JSON parsed, N requests a round after an untimed warm-up of N (the
    JVM's JIT warms up too); per round the mean time per request; the figure is the median round,
    shown as ms per request and as requests per second. One server of each kind, started untimed.

WireMock needs Java and the ``wiremock`` npm package's jar (``npm install --prefix
~/.cache/harness/wiremock wiremock``, or ``HARNESS_WIREMOCK_JAR``); the part it is missing is
skipped with the reason. Likewise HTTPStub's part until ``harness.http.HTTPStub`` exists.
Ratios: the slower way's median over the faster's, both measured in this run.
"""

# ruff: noqa: E402 - this checkout's root goes first on sys.path before harness and tests are imported
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's harness and tests/http/wiremock_server.py

import time
from collections.abc import Callable
from typing import Any, Protocol

import requests
from _common import parse_args, ratio, summarize

from tests.http.wiremock_server import WireMockServer, find_jar, jar_version, missing_reason

PING = {"name": "ping", "request": {"method": "GET", "url": "/ping"},
        "response": {"status": 200, "jsonBody": {"ok": True, "id": 1}, "headers": {"Content-Type": "application/json"}}}


class Server(Protocol):
    url: str

    def stop(self) -> None: ...


def httpstub_starter() -> Callable[[], Server] | None:
    """``HTTPStub(strict=False).start`` as a starter, or None (printed why) when harness.http has none."""
    import harness.http

    stub_class: Any = getattr(harness.http, "HTTPStub", None)
    if stub_class is None:
        print("  HTTPStub: skipped: harness.http has no HTTPStub yet")
        return None
    return lambda: stub_class(strict=False).start()


def wiremock_starter() -> Callable[[], Server] | None:
    """Real WireMock's start, or None (printed why) without Java or the jar."""
    reason = missing_reason()
    if reason is not None:
        print(f"  WireMock: skipped: {reason}")
        return None
    jar = find_jar()
    assert jar is not None
    print(f"  WireMock {jar_version(jar)} ({jar})")
    return lambda: WireMockServer().start()


def seed(server: Server) -> None:
    answer = requests.post(server.url + "/__admin/mappings", json=PING, timeout=30)
    answer.raise_for_status()


def first_answer(start: Callable[[], Server]) -> float:
    """Seconds from the start call to ``GET /ping`` answered (the mapping POSTed in between); stopped after."""
    server = None
    try:
        started = time.perf_counter()
        server = start()
        seed(server)
        requests.get(server.url + "/ping", timeout=30).raise_for_status()
        return time.perf_counter() - started
    finally:
        if server is not None:
            server.stop()


def per_request(start: Callable[[], Server], count: int, rounds: int) -> list[float]:
    """Mean seconds per keep-alive ``GET /ping`` of each timed round."""
    server = start()
    try:
        seed(server)
        with requests.Session() as session:
            url = server.url + "/ping"
            for _ in range(count):  # warm-up, untimed
                session.get(url, timeout=30).json()
            means = []
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(count):
                    session.get(url, timeout=30).json()
                means.append((time.perf_counter() - started) / count)
            return means
    finally:
        server.stop()


def main() -> None:
    arguments = parse_args(__doc__)
    starts = 3 if arguments.quick else 7
    count, rounds = (300, 3) if arguments.quick else (2000, 5)
    print(f"HTTP stubs: start to first answered request ({starts} starts each), then keep-alive GETs "
          f"({rounds} rounds of {count})")
    ways = {name: starter for name, starter in (("HTTPStub", httpstub_starter()), ("WireMock", wiremock_starter()))
            if starter is not None}
    if not ways:
        print("  nothing to measure")
        return
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(starts):
        for name, start in ways.items():
            timings[name].append(first_answer(start))
    print("(a) start to first answered request:")
    first = {name: summarize(name, values) for name, values in timings.items()}
    print("(b) keep-alive GET /ping through one requests.Session (ms per request):")
    latency = {name: summarize(name, per_request(start, count, rounds)) for name, start in ways.items()}
    for name, seconds in latency.items():
        print(f"  {name:<44} {1 / seconds:9.0f} requests/s")
    if len(ways) == 2:
        slow, fast = sorted(first, key=first.__getitem__, reverse=True)
        ratio(f"{slow} start", first[slow], f"{fast} start", first[fast])
        slow, fast = sorted(latency, key=latency.__getitem__, reverse=True)
        ratio(f"{slow} per request", latency[slow], f"{fast} per request", latency[fast])


if __name__ == "__main__":
    main()
