"""HTTPStub over real sockets: lifecycle, clients, keep-alive, chunked bodies, routes and responses."""

import concurrent.futures
import http.client
import json
import os
import re
import socket
import urllib.request

import httpx
import pytest
import requests

from harness import ConfigError, HTTPStub, UsageError
from tests.helpers import wait_until
from tests.http.helpers import refuses, thread_names


def test_start_returns_the_stub_and_url_names_its_port():
    stub = HTTPStub()
    assert stub.start() is stub
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", stub.url)
    finally:
        stub.stop()
    stub.stop()  # safe twice


@pytest.mark.parametrize("client", ["requests", "httpx", "urllib"])
def test_every_client_gets_the_routed_answer(stub, client):
    stub.when("GET", "/users/1").respond(json={"id": 1, "name": "Ada"}, headers={"X-Trace": "t1"})
    if client == "requests":
        response = requests.get(stub.url + "/users/1")
        body, headers = response.json(), response.headers
    elif client == "httpx":
        response = httpx.get(stub.url + "/users/1")
        body, headers = response.json(), response.headers
    else:
        with urllib.request.urlopen(stub.url + "/users/1") as response:
            body, headers = json.loads(response.read()), response.headers
    assert body == {"id": 1, "name": "Ada"}
    assert headers["X-Trace"] == "t1" and headers["Content-Type"] == "application/json"


def test_one_kept_alive_connection_serves_many_requests(stub):
    stub.when("GET", "/ping").respond(body="pong")
    with httpx.Client() as client:
        ports = set()
        for _ in range(3):
            response = client.get(stub.url + "/ping", extensions={})
            assert response.text == "pong"
            ports.add(response.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert len(ports) == 1


def test_a_chunked_request_body_matches_on_its_json(stub):
    stub.when("POST", "/charges", json={"amount": 100}).respond(201, json={"id": "ch_1"})
    response = requests.post(stub.url + "/charges", data=iter([b'{"amount": ', b'100, "currency": "eur"}']))
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert (response.status_code, response.json()) == (201, {"id": "ch_1"})
    assert stub.requests[0].json() == {"amount": 100, "currency": "eur"}


def test_a_bad_chunk_size_gets_400(stub):
    with socket.create_connection(("127.0.0.1", int(stub.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_a_bad_content_length_gets_400(stub):
    with socket.create_connection(("127.0.0.1", int(stub.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_concurrent_clients_are_each_served_and_recorded(stub):
    stub.when("GET", re.compile("/n/[0-9]+")).respond(body="ok")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda n: requests.get(f"{stub.url}/n/{n}").text, range(40)))
    assert texts == ["ok"] * 40
    assert sorted(int(request.path.rsplit("/", 1)[1]) for request in stub.requests) == list(range(40))


def test_head_gets_headers_without_a_body(stub):
    stub.when("HEAD", "/file").respond(body="12345")
    connection = http.client.HTTPConnection("127.0.0.1", int(stub.url.rsplit(":", 1)[1]))
    connection.request("HEAD", "/file")
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Length"), response.read()) == (200, "5", b"")
    connection.close()


def test_a_pattern_path_must_match_the_whole_path(stub):
    stub.when("GET", re.compile(r"/users/\d+")).respond(body="user")
    assert requests.get(stub.url + "/users/42").text == "user"
    assert requests.get(stub.url + "/users/42/orders").status_code == 404


def test_query_is_a_subset_and_values_are_text(stub):
    stub.when("GET", "/search", query={"q": "ada", "page": 2, "exact": True}).respond(body="found")
    assert requests.get(stub.url + "/search?q=ada&page=2&exact=true&extra=1").text == "found"
    assert requests.get(stub.url + "/search?q=ada&page=3&exact=true").status_code == 404


def test_headers_are_a_case_insensitive_subset(stub):
    stub.when("GET", "/me", headers={"authorization": "Bearer t"}).respond(body="me")
    assert requests.get(stub.url + "/me", headers={"Authorization": "Bearer t"}).text == "me"
    assert requests.get(stub.url + "/me", headers={"Authorization": "Bearer u"}).status_code == 404


@pytest.mark.parametrize(("sent", "matches"), [
    ({"user": {"id": 1, "name": "Ada"}, "tags": ["a", "b"]}, True),   # extra keys in nested objects: a subset
    ({"user": {"id": 1}, "tags": ["a", "b", "c"]}, False),             # lists must be equal
    ({"user": {"id": 2}, "tags": ["a", "b"]}, False),
    ({"user": {"id": True}, "tags": ["a", "b"]}, False),               # True is not 1
])
def test_json_is_a_subset_of_objects_with_equal_lists(stub, sent, matches):
    stub.when("POST", "/orders", json={"user": {"id": 1}, "tags": ["a", "b"]}).respond(201)
    assert requests.post(stub.url + "/orders", json=sent).status_code == (201 if matches else 404)


def test_a_body_that_is_not_json_does_not_match_a_json_route(stub):
    stub.when("POST", "/orders", json={"a": 1}).respond(201)
    assert requests.post(stub.url + "/orders", data="not json").status_code == 404


def test_the_most_recent_matching_route_wins(stub):
    stub.when("GET", re.compile("/items/.*")).respond(body="any item")
    stub.when("GET", "/items/1").respond(body="item 1")
    stub.when("ANY", "/items/2").respond(body="item 2 by any method")
    assert requests.get(stub.url + "/items/1").text == "item 1"
    assert requests.get(stub.url + "/items/3").text == "any item"
    assert requests.delete(stub.url + "/items/2").text == "item 2 by any method"


def test_responding_again_replaces_the_routes_answer(stub):
    route = stub.when("GET", "/flag").respond(body="off")
    route.respond(body="on")
    assert requests.get(stub.url + "/flag").text == "on"
    assert len(requests.get(stub.url + "/__admin/mappings").json()["mappings"]) == 1


def test_status_bytes_body_and_headers(stub):
    stub.when("GET", "/blob").respond(418, body=b"\x00\xff", headers={"Content-Type": "application/octet-stream"})
    response = requests.get(stub.url + "/blob")
    assert (response.status_code, response.content, response.headers["Content-Type"]) == (
        418, b"\x00\xff", "application/octet-stream")


def test_a_delayed_response_still_arrives(stub):
    stub.when("GET", "/slow").respond(body="late", delay_ms=50)
    assert requests.get(stub.url + "/slow").text == "late"


def test_a_sequence_answers_in_turn_then_repeats_its_last(stub):
    stub.when("POST", "/pay").respond_sequence([{"status": 503}, {"status": 503, "body": "busy"},
                                                 {"status": 200, "json": {"ok": True}}])
    statuses = [requests.post(stub.url + "/pay").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_a_sequence_can_hold_a_fault(stub):
    stub.when("GET", "/flaky").respond_sequence([{"fault": "reset"}, {"body": "ok"}])
    with pytest.raises(requests.ConnectionError):
        requests.get(stub.url + "/flaky")
    assert requests.get(stub.url + "/flaky").text == "ok"


def test_using_a_stub_before_start_says_to_start_it():
    with pytest.raises(UsageError, match=r"^HTTPStub.url needs a running stub, but this one is not started; "
                                         r"call start\(\) first \(or use it as a context manager\)\.$"):
        _ = HTTPStub().url


def test_using_a_stub_after_stop_says_to_make_a_new_one():
    stub = HTTPStub().start()
    stub.stop()
    with pytest.raises(UsageError, match=r"^HTTPStub.when\(\) needs a running stub, but this one is stopped; "
                                         r"make a new HTTPStub\(\)\.$"):
        stub.when("GET", "/")
    with pytest.raises(UsageError, match=r"^HTTPStub.start\(\): this stub is already stopped; make a new HTTPStub"):
        stub.start()


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.when("GET", "users"), "HTTPStub.when(): path must start with '/' and have no query string "
                                       "(use query={...}), or be a re.Pattern; got 'users'."),
    (lambda s: s.when("GET", "/u?x=1"), "HTTPStub.when(): path must start with '/' and have no query string "
                                        "(use query={...}), or be a re.Pattern; got '/u?x=1'."),
    (lambda s: s.when("GET", re.compile("/u", re.I)), "HTTPStub.when(): give the flags of '/u' inline "
                                                      "(e.g. '(?i)...'); a compiled pattern's flags cannot be sent "
                                                      "to WireMock."),
    (lambda s: s.when("GET", "/u", query={"id": [1, 2]}), "HTTPStub.when(): a query value must be one value "
                                                          "(str or number), got [1, 2]."),
    (lambda s: s.when("GET", "/u").respond(json={}, body=""), "HTTPStub response: give json= or body=, not both."),
    (lambda s: s.when("GET", "/u").fault("rest"), "HTTPStub fault 'rest' is not one of reset, empty, timeout. "
                                                   "Did you mean 'reset'?"),
    (lambda s: s.when("GET", "/u").respond_sequence([]), "Route.respond_sequence() takes a non-empty list of "
                                                          "response dicts, got []."),
    (lambda s: s.when("GET", "/u").respond_sequence([{"code": 1}]),
     "Route.respond_sequence(): response 0 has ['code']; use the keys "
     "['body', 'delay_ms', 'fault', 'headers', 'json', 'status']."),
    (lambda s: s.when("GET", "/u").respond(99), "HTTPStub response.status must be an HTTP status code (100-599), "
                                                "got 99."),
])
def test_bad_routes_are_refused_with_what_to_do(stub, call, message):
    with pytest.raises(ConfigError) as raised:
        call(stub)
    assert str(raised.value) == message


def test_stop_ends_every_thread_and_closes_the_port_and_sockets():
    before_threads, before_sockets = thread_names(), _open_sockets()
    stub = HTTPStub().start()
    stub.when("GET", "/hold").respond(body="x", delay_ms=60_000)
    stub.when("GET", "/ok").respond(body="ok")
    session = requests.Session()
    assert session.get(stub.url + "/ok").text == "ok"  # a kept-alive connection stays open
    raw = socket.create_connection(("127.0.0.1", int(stub.url.rsplit(":", 1)[1])))
    raw.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")  # a request the stub is still delaying
    wait_until(lambda: len(stub.requests) == 2)
    port = int(stub.url.rsplit(":", 1)[1])
    stub.stop()
    with raw:
        assert raw.recv(10) == b""
    session.close()
    assert thread_names() == before_threads
    assert refuses(port)
    assert _open_sockets() == before_sockets


def test_the_stub_shows_its_state():
    stub = HTTPStub()
    assert repr(stub) == "<HTTPStub not started, 0 route(s)>"
    with stub:
        assert repr(stub.when("GET", "/a").respond()) == "<Route GET /a>"
        assert repr(stub) == f"<HTTPStub {stub.url} running, 1 route(s)>"


def _open_sockets():
    """The socket file descriptors this process holds."""
    sockets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                sockets.append(fd)
        except FileNotFoundError:  # listdir's own descriptor, closed since
            pass
    return sorted(sockets)
