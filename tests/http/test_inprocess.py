"""ASGIApp and WSGIApp serving real apps (tests/http/apps.py) on real sockets."""

import json
import os
import re
import socket
import sys
import time
import urllib.request

import pytest

pytest.importorskip("requests")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from harness.errors import AppUnreachable, ConfigError, ServiceStartError, UsageError  # noqa: E402
from harness.http import APITestClient, ASGIApp, WSGIApp  # noqa: E402
from tests.http.helpers import refuses, thread_names  # noqa: E402

APPS = "tests.http.apps"
GREETING = "HARNESS_HTTP_TEST_GREETING"
KEPT = "HARNESS_HTTP_TEST_KEPT"

RUNNERS = [
    pytest.param(ASGIApp, f"{APPS}:fastapi_app", id="asgi-fastapi"),
    pytest.param(WSGIApp, f"{APPS}:flask_app", id="wsgi-flask"),
    pytest.param(WSGIApp, f"{APPS}:wsgi_app", id="wsgi-function"),
]


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture()
def clean_env(monkeypatch):
    monkeypatch.delenv(GREETING, raising=False)
    monkeypatch.setenv(KEPT, "before")
    assert APPS not in sys.modules


@pytest.mark.parametrize(("runner_class", "app"), RUNNERS)
def test_env_is_set_before_the_import_and_restored_at_stop(runner_class, app, clean_env):
    runner = runner_class(app)
    url = runner.start({GREETING: "hello", KEPT: "during"})
    try:
        with APITestClient(url) as api:
            assert api.get("/greeting").json() == {"greeting": "hello"}
            assert api.get(f"/env/{KEPT}").json() == {"value": "during"}
    finally:
        runner.stop()
    assert GREETING not in os.environ
    assert os.environ[KEPT] == "before"
    assert APPS not in sys.modules  # forgotten, so that the next start imports it with its own env

    url = runner.start({GREETING: "hello again"})
    try:
        assert get_json(f"{url}/greeting") == {"greeting": "hello again"}
    finally:
        runner.stop()


@pytest.mark.parametrize(("runner_class", "app"), RUNNERS)
def test_stop_leaves_no_thread_and_no_listening_socket(runner_class, app, clean_env):
    threads_before = thread_names()
    runner = runner_class(app)
    url = runner.start({})
    with APITestClient(url) as api:
        assert api.get("/greeting").status_code == 200
        if runner_class is ASGIApp:
            assert api.get("/clock").json() == {"clock": "real clock"}  # a sync dependency: anyio's worker thread
    assert runner.status() is None
    runner.stop()
    runner.stop()
    assert thread_names() == threads_before
    assert refuses(port_of(url))
    assert runner.url is None
    assert runner.status() == f"{runner!r} was stopped."


def test_stop_before_start_is_harmless_and_status_says_never_started():
    runner = ASGIApp(f"{APPS}:fastapi_app")
    runner.stop()
    assert runner.status() == "ASGIApp('tests.http.apps:fastapi_app') was never started."


def test_start_twice_is_refused(serve):
    runner = WSGIApp(f"{APPS}:wsgi_app")
    serve(runner)
    with pytest.raises(UsageError) as caught:
        runner.start({})
    assert str(caught.value) == f"{runner!r} is already started; call stop() before starting it again."


def test_an_app_object_is_served_as_it_is(serve):
    async def asgi_app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"asgi object"})

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi object"]

    asgi = ASGIApp(asgi_app)
    wsgi = WSGIApp(wsgi_app)
    assert asgi.app is asgi_app
    with APITestClient(serve(asgi)) as api, APITestClient(serve(wsgi)) as other:
        assert api.get("/").text == "asgi object"
        assert other.get("/").text == "wsgi object"


def test_keep_alive_one_connection_serves_several_requests(serve):
    url = serve(ASGIApp(f"{APPS}:fastapi_app"))
    with APITestClient(url) as api:
        ports = {api.get("/peer").json()["port"] for _ in range(3)}
    assert len(ports) == 1


@pytest.mark.parametrize(("runner_class", "app"), RUNNERS[:2])
def test_json_round_trip_and_404(runner_class, app, serve):
    with APITestClient(serve(runner_class(app))) as api:
        assert api.post("/echo", json={"items": [1, 2], "note": "é"}).json() == {
            "received": {"items": [1, 2], "note": "é"}
        }
        assert api.get("/no-such-route").status_code == 404


def test_dependency_overrides_through_runner_app(serve):
    runner = ASGIApp(f"{APPS}:fastapi_app")
    with pytest.raises(UsageError) as caught:
        runner.app  # noqa: B018
    assert str(caught.value) == (
        "ASGIApp('tests.http.apps:fastapi_app').app is imported by start(); call start(env) first."
    )
    url = serve(runner)
    clock = sys.modules[APPS].current_clock
    runner.app.dependency_overrides[clock] = lambda: "frozen clock"
    with APITestClient(url) as api:
        assert api.get("/clock").json() == {"clock": "frozen clock"}
        runner.app.dependency_overrides.clear()
        assert api.get("/clock").json() == {"clock": "real clock"}


@pytest.mark.parametrize(("runner_class", "app"), RUNNERS[:2])
def test_output_since_a_mark_is_what_the_app_logged_meanwhile(runner_class, app, serve):
    runner = runner_class(app)
    with APITestClient(serve(runner)) as api:
        api.get("/log", params={"message": "before"})
        mark = runner.mark()
        api.get("/log", params={"message": "during"})
        during = runner.output_since(mark)
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO tests\.http\.apps: app says during$", during, re.MULTILINE)
    assert "app says before" not in during
    assert "app says before" in runner.output()
    if runner_class is WSGIApp:
        # wsgiref writes its request log (here, not on stderr) just after the response is sent.
        deadline = time.monotonic() + 5
        while '"GET /log?message=during HTTP/1.1" 200' not in runner.output_since(mark):
            assert time.monotonic() < deadline, runner.output_since(mark)
            time.sleep(0.01)


def test_output_stays_readable_after_stop():
    runner = WSGIApp(f"{APPS}:flask_app")
    url = runner.start({})
    get_json(f"{url}/log?message=kept")
    runner.stop()
    assert "app says kept" in runner.output()


def test_health_path_never_2xx_fails_the_start_with_url_status_and_output(clean_env):
    threads_before = thread_names()
    runner = ASGIApp(f"{APPS}:fastapi_app", health_path="/unhealthy", startup_timeout=0.5)
    with pytest.raises(ServiceStartError) as caught:
        runner.start({GREETING: "unhealthy"})
    message = str(caught.value)
    url = re.search(r"url='(http://127\.0\.0\.1:\d+)'", message).group(1)
    assert message.startswith(
        f"ASGIApp('tests.http.apps:fastapi_app', url='{url}') was not healthy within 0.5s: "
        f"GET {url}/unhealthy answered 503. Make that path answer 2xx once the app is ready, "
        "or raise startup_timeout. Its output:\n"
    )
    assert "(nothing logged)" in message or "INFO" in message
    # What the failed start began is undone.
    assert thread_names() == threads_before
    assert refuses(port_of(url))
    assert GREETING not in os.environ
    assert APPS not in sys.modules


def test_health_path_not_found_names_the_status(clean_env):
    runner = WSGIApp(f"{APPS}:wsgi_app", health_path="/health", startup_timeout=0.3)
    with pytest.raises(ServiceStartError) as caught:
        runner.start({})
    assert re.search(r"GET http://127\.0\.0\.1:\d+/health answered 404\.", str(caught.value))
    assert '"GET /health HTTP/1.1" 404' in str(caught.value)  # the output tail: the server's request log


def test_health_path_2xx_lets_start_return(serve):
    url = serve(WSGIApp(f"{APPS}:flask_app", health_path="/health"))
    assert get_json(f"{url}/health") == {"status": "ok"}


def test_a_failing_lifespan_startup_fails_the_start_and_undoes_it(clean_env):
    threads_before = thread_names()
    runner = ASGIApp(f"{APPS}:failing_lifespan_app", startup_timeout=10)
    with pytest.raises(ServiceStartError) as caught:
        runner.start({GREETING: "failing"})
    message = str(caught.value)
    assert message.startswith(
        "ASGIApp('tests.http.apps:failing_lifespan_app') did not start serving: its server thread died with "
        "SystemExit: 3. Its last output:\n"
    )
    assert "ERROR tests.http.apps: cannot reach the database" in message
    assert thread_names() == threads_before
    assert GREETING not in os.environ
    assert APPS not in sys.modules


def test_a_lifespan_startup_that_never_ends_is_cancelled_at_the_deadline(clean_env):
    threads_before = thread_names()
    started = time.monotonic()
    runner = ASGIApp(f"{APPS}:hanging_lifespan_app", startup_timeout=0.5)
    with pytest.raises(ServiceStartError) as caught:
        runner.start({})
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        "ASGIApp('tests.http.apps:hanging_lifespan_app') did not start serving within 0.5s (its lifespan startup "
        "may hang); raise startup_timeout if it is slow. Its output:\n(nothing logged)"
    )
    assert thread_names() == threads_before


def test_stop_with_a_request_in_flight_cancels_it_after_a_grace_period():
    threads_before = thread_names()
    runner = ASGIApp(f"{APPS}:fastapi_app")
    url = runner.start({})
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=5) as connection:
        connection.sendall(b"GET /sleep?seconds=60 HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(0.1)  # let the request reach the app; stop() then finds it in flight
        started = time.monotonic()
        runner.stop()
        assert time.monotonic() - started < 5
        assert connection.recv(1024).startswith(b"HTTP/1.1 500 ")  # uvicorn's answer for a cancelled request
    assert thread_names() == threads_before
    assert refuses(port_of(url))


def test_a_module_that_cannot_be_imported_is_a_config_error(clean_env):
    runner = ASGIApp("tests.http.no_such_module:app")
    with pytest.raises(ConfigError) as caught:
        runner.start({GREETING: "x"})
    assert str(caught.value) == (
        "ASGIApp could not import 'tests.http.no_such_module' (from 'tests.http.no_such_module:app'): "
        "ModuleNotFoundError: No module named 'tests.http.no_such_module'"
    )
    assert GREETING not in os.environ


def test_a_missing_attribute_is_a_config_error_with_a_suggestion(clean_env):
    runner = WSGIApp(f"{APPS}:flask_ap")
    with pytest.raises(ConfigError) as caught:
        runner.start({})
    assert str(caught.value) == (
        "WSGIApp('tests.http.apps:flask_ap'): 'tests.http.apps' has no attribute 'flask_ap'. Did you mean 'flask_app'?"
    )
    assert APPS not in sys.modules


def test_an_attribute_that_is_not_an_app_is_a_config_error(clean_env):
    with pytest.raises(ConfigError) as caught:
        ASGIApp(f"{APPS}:GREETING").start({})
    assert str(caught.value) == "ASGIApp('tests.http.apps:GREETING') is a str, not an ASGI application."


def test_an_app_whose_import_fails_on_a_missing_setting(tmp_path, monkeypatch, serve):
    (tmp_path / "harness_http_needs_env.py").write_text(
        "import os\n"
        "DATABASE_URL = os.environ['HARNESS_HTTP_TEST_DATABASE_URL']\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [DATABASE_URL.encode()]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = WSGIApp("harness_http_needs_env:app")
    with pytest.raises(ConfigError) as caught:
        runner.start({})
    assert str(caught.value) == (
        "WSGIApp could not import 'harness_http_needs_env' (from 'harness_http_needs_env:app'): "
        "KeyError: 'HARNESS_HTTP_TEST_DATABASE_URL'"
    )
    url = serve(runner, {"HARNESS_HTTP_TEST_DATABASE_URL": "sqlite://"})
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read() == b"sqlite://"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"app": "tests.http.apps"},
            "ASGIApp needs the app as 'package.module:attribute' or an app object, got 'tests.http.apps'.",
        ),
        ({"app": 42}, "ASGIApp needs an ASGI application (a callable) or 'package.module:attribute', got 42."),
        (
            {"app": "m:a", "health_path": "health"},
            "ASGIApp(health_path='health'): the health path must start with '/'.",
        ),
        ({"app": "m:a", "startup_timeout": 0}, "ASGIApp(startup_timeout=0): give a number of seconds above 0."),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    with pytest.raises(ConfigError) as caught:
        ASGIApp(**kwargs)
    assert str(caught.value) == message


def test_env_values_must_be_strings(clean_env):
    runner = WSGIApp(f"{APPS}:wsgi_app")
    with pytest.raises(ConfigError) as caught:
        runner.start({"PORT": 8000})
    assert str(caught.value) == f"{runner!r}.start(env): environment variables need str values; not so for ['PORT']."
    assert runner.status() == f"{runner!r} was stopped."


def test_status_after_the_server_thread_died():
    threads_before = thread_names()
    runner = ASGIApp(f"{APPS}:fastapi_app")
    url = runner.start({})
    with APITestClient(url) as api:
        # The app stops uvicorn's event loop once this response is sent and its connection closed.
        assert api.get("/stop-loop", headers={"Connection": "close"}).json() == {"stopping": "yes"}
    deadline = time.monotonic() + 10
    while runner.status() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    status = runner.status()
    assert status.startswith(
        f"The server thread of {runner!r} died with RuntimeError: Event loop stopped before Future completed. "
        "Its last output:\n"
    )
    with APITestClient(url, app_status=runner.status) as api:
        with pytest.raises(AppUnreachable) as caught:
            api.get("/greeting")
    assert str(caught.value) == (
        f"GET {url}/greeting got no answer: connection refused (nothing listens there).\n{runner.status()}"
    )
    runner.stop()
    assert thread_names() == threads_before
