"""verify_pacts on a small pact: what one verification costs, next to the HTTP requests it makes.

The provider is the standard library's HTTP server on 127.0.0.1 (one thread per request), so
the figures are the verifier's, not an app framework's. The pact (spec v3) has two interactions:
``GET /users/7`` with the provider state "a user exists" (params id and name, a type-matching rule
on the name) and ``GET /users/99`` answering 404. Timed:

1. ``verify_pacts(url, pact, states={"a user exists": ...})``: reading the pact, pact-python's
   Verifier (the Rust core through its FFI), the state endpoint harness starts and stops, the
   state's setup and teardown and both interactions.
2. The floor, alternating with 1: the same two requests and the state's setup POST, each on a
   new ``http.client`` connection (as the verifier makes them), no matching.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import parse_args, ratio, summarize

from harness import verify_pacts

USERS: dict[int, str] = {}
PACT = {
    "consumer": {"name": "web"},
    "provider": {"name": "users"},
    "interactions": [
        {
            "description": "a request for user 7",
            "providerStates": [{"name": "a user exists", "params": {"id": 7, "name": "Ada"}}],
            "request": {"method": "GET", "path": "/users/7"},
            "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                         "body": {"id": 7, "name": "Grace"},
                         "matchingRules": {"body": {"$.name": {"matchers": [{"match": "type"}]}}}},
        },
        {"description": "a request for a user who does not exist",
         "request": {"method": "GET", "path": "/users/99"}, "response": {"status": 404}},
    ],
    "metadata": {"pactSpecification": {"version": "3.0.0"}},
}


class Users(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        user_id = int(self.path.rsplit("/", 1)[1])
        body = json.dumps({"id": user_id, "name": USERS[user_id]}).encode() if user_id in USERS else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # the floor's stand-in for a state change
        self.rfile.read(int(self.headers["Content-Length"]))
        USERS[7] = "Ada"
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def a_user_exists(params: dict[str, object]) -> object:
    USERS[int(str(params["id"]))] = str(params["name"])
    return lambda: USERS.pop(7)


def floor(port: int) -> float:
    started = time.perf_counter()
    for method, path, body in (("POST", "/state", b'{"state": "a user exists"}'), ("GET", "/users/7", None),
                               ("GET", "/users/99", None)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, path, body=body)
        connection.getresponse().read()
        connection.close()
    USERS.clear()
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__)
    rounds = 3 if args.quick else 15
    try:
        import pact  # noqa: F401 - only to say why nothing is measured without it
    except ImportError:
        print("  skipped: pact-python is not installed (pip install 'harness[pact]'; Python 3.11 or newer)")
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), Users)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05))
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            pact = Path(directory) / "web-users.json"
            pact.write_text(json.dumps(PACT))
            url = f"http://127.0.0.1:{server.server_port}"
            verify_pacts(url, pact, states={"a user exists": a_user_exists})  # warm-up: loads the Pact core
            verified, raw = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                assert verify_pacts(url, pact, states={"a user exists": a_user_exists}) == 2
                verified.append(time.perf_counter() - started)
                raw.append(floor(server.server_port))
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    print("verify_pacts, 2 interactions (1 provider state), stdlib provider on 127.0.0.1:")
    slow = summarize("verify_pacts", verified)
    fast = summarize("the same requests with http.client", raw)
    ratio("verify_pacts", slow, "http.client", fast)


if __name__ == "__main__":
    main()
