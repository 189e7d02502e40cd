"""Small apps for tests/http, served by harness's runners by their import strings ("tests.http.apps:...").

GREETING is read from the environment when this module is imported, so the
greeting an app answers tells which environment its import saw. Tests never
import this module themselves: a runner imports it, and forgets it at stop().
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from fastapi import Depends, FastAPI, Request, Response
from flask import Flask, jsonify
from flask import request as flask_request

GREETING = os.environ.get("HARNESS_HTTP_TEST_GREETING", "unset")
logger = logging.getLogger("tests.http.apps")


# FastAPI


def current_clock() -> str:
    return "real clock"


fastapi_app = FastAPI()


@fastapi_app.get("/greeting")
async def fastapi_greeting() -> dict[str, str]:
    return {"greeting": GREETING}


@fastapi_app.get("/env/{name}")
async def fastapi_env(name: str) -> dict[str, str | None]:
    return {"value": os.environ.get(name)}


@fastapi_app.get("/peer")
async def fastapi_peer(request: Request) -> dict[str, int]:
    assert request.client is not None
    return {"port": request.client.port}


@fastapi_app.post("/echo")
async def fastapi_echo(request: Request) -> dict[str, object]:
    return {"received": await request.json()}


@fastapi_app.get("/clock")
async def fastapi_clock(clock: str = Depends(current_clock)) -> dict[str, str]:
    return {"clock": clock}


@fastapi_app.get("/log")
async def fastapi_log(message: str) -> dict[str, str]:
    logger.info("app says %s", message)
    return {"logged": message}


@fastapi_app.get("/health")
async def fastapi_health() -> dict[str, str]:
    return {"status": "ok"}


@fastapi_app.get("/unhealthy")
async def fastapi_unhealthy(response: Response) -> dict[str, str]:
    response.status_code = 503
    return {"status": "starting"}


@fastapi_app.get("/sleep")
async def fastapi_sleep(seconds: float) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@fastapi_app.get("/stop-loop")
async def fastapi_stop_loop() -> dict[str, str]:
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, loop.stop)  # ends uvicorn's event loop, and with it the server thread, after this response
    return {"stopping": "yes"}


async def failing_lifespan_app(scope: dict, receive, send) -> None:
    """A plain ASGI app whose lifespan startup fails, as an app that cannot reach its database does."""
    assert scope["type"] == "lifespan"
    await receive()
    logger.error("cannot reach the database")
    await send({"type": "lifespan.startup.failed", "message": "cannot reach the database"})


async def hanging_lifespan_app(scope: dict, receive, send) -> None:
    """A plain ASGI app whose lifespan startup never ends, as an app waiting for a server that never answers."""
    await receive()
    await asyncio.sleep(3600)


# Flask

flask_app = Flask(__name__)


@flask_app.get("/greeting")
def flask_greeting():
    return jsonify(greeting=GREETING)


@flask_app.get("/env/<name>")
def flask_env(name: str):
    return jsonify(value=os.environ.get(name))


@flask_app.post("/echo")
def flask_echo():
    return jsonify(received=flask_request.get_json())


@flask_app.get("/log")
def flask_log():
    message = flask_request.args["message"]
    logger.info("app says %s", message)
    return jsonify(logged=message)


@flask_app.get("/health")
def flask_health():
    return jsonify(status="ok")


# A plain WSGI function


def wsgi_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/greeting":
        status, payload = "200 OK", {"greeting": GREETING}
    elif path.startswith("/env/"):
        status, payload = "200 OK", {"value": os.environ.get(path[len("/env/") :])}
    else:
        status, payload = "404 Not Found", {"error": f"no route {path}"}
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
