"""A tiny application under test for ServiceIntegrationTest's own tests (stdlib only).

``python tests/bases/service_app.py MODE [TOKEN]``: MODE "ok" serves /health and
POST /crash (prints, then exits 3); "exit" prints two lines and exits 3 at once;
"unhealthy" answers /health with 503; "wrongport" ignores $PORT and listens elsewhere.
TOKEN only marks the command line, so a test can find the process.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/health":
            self._answer(503 if MODE == "unhealthy" else 200, {"status": "ok"})
        elif self.path == "/env":
            self._answer(200, {key: value for key, value in os.environ.items() if key.endswith(("_URL", "_TOPIC"))})
        else:
            self._answer(404, {"detail": "not found"})

    def do_POST(self):  # noqa: N802
        if self.path == "/crash":
            print("app: about to crash", flush=True)
            os._exit(3)
        print(f"app: POST {self.path}", flush=True)
        self._answer(201, {"ok": True})

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002
        print("app: " + format % args, flush=True)


MODE = sys.argv[1]
if MODE == "exit":
    print("app: cannot read DATABASE_URL\napp: giving up", flush=True)
    sys.exit(3)
port = 0 if MODE == "wrongport" else int(os.environ["PORT"])
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"app: listening on {server.server_address[1]}", flush=True)
server.serve_forever()
