"""The pytest fixture ``http_stub``: a started HTTPStub per test, strict at teardown, stopped after."""

from __future__ import annotations

import re
import socket

from tests.helpers import run_pytest, write

SUITE = '''
import requests


def test_a_route_answers(http_stub):
    http_stub.when("GET", "/users/1").respond(json={"id": 1})
    assert requests.get(http_stub.url + "/users/1").json() == {"id": 1}
    with open("urls.log", "a") as log:
        log.write(http_stub.url + "\\n")


def test_an_unmatched_request_fails_at_teardown(http_stub):
    http_stub.when("GET", "/users/1").respond(json={"id": 1})
    assert requests.get(http_stub.url + "/users/2").status_code == 404
    with open("urls.log", "a") as log:
        log.write(http_stub.url + "\\n")
'''


def test_http_stub_is_strict_at_teardown_and_stopped_after(tmp_path):
    write(tmp_path, "test_users.py", SUITE)
    result = run_pytest(tmp_path)
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR at teardown of test_an_unmatched_request_fails_at_teardown" in result.stdout
    assert "GET /users/2" in result.stdout
    urls = (tmp_path / "urls.log").read_text().split()
    assert len(set(urls)) == 2  # a stub of its own per test
    for url in urls:
        port = int(re.search(r":(\d+)$", url).group(1))
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # stopped: nothing listens there any more
