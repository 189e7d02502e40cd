"""HTTPStub's faults, seen by real clients: a reset, an empty answer, no answer at all."""

import http.client
import socket

import httpx
import pytest
import requests

from harness import HTTPStub
from tests.helpers import wait_until
from tests.http.helpers import thread_names


def _port(stub):
    return int(stub.url.rsplit(":", 1)[1])


def test_reset_sends_a_tcp_rst(stub):
    stub.when("GET", "/reset").fault("reset")
    with socket.create_connection(("127.0.0.1", _port(stub))) as sock:
        sock.sendall(b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)


def test_reset_is_a_connection_error_for_requests(stub):
    stub.when("GET", "/reset").fault("reset")
    with requests.Session() as session, pytest.raises(requests.ConnectionError, match="reset by peer"):
        session.get(stub.url + "/reset")


def test_empty_closes_without_a_byte(stub):
    stub.when("GET", "/empty").fault("empty")
    with socket.create_connection(("127.0.0.1", _port(stub))) as sock:
        sock.sendall(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(10) == b""
    connection = http.client.HTTPConnection("127.0.0.1", _port(stub))
    connection.request("GET", "/empty")
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    connection.close()


def test_timeout_never_answers_until_the_client_gives_up(stub):
    stub.when("GET", "/hang").fault("timeout")
    stub.when("GET", "/ok").respond(body="ok")
    with httpx.Client(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(stub.url + "/hang")
        assert client.get(stub.url + "/ok").text == "ok"  # the stub still serves others meanwhile


def test_stop_does_not_wait_on_a_request_left_unanswered():
    before = thread_names()
    stub = HTTPStub().start()
    stub.when("GET", "/hang").fault("timeout")
    sock = socket.create_connection(("127.0.0.1", _port(stub)))
    with sock:
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: len(stub.requests) == 1)
        stub.stop()
        assert sock.recv(10) == b""
    assert thread_names() == before


def test_the_stub_serves_again_after_a_client_gave_up_on_a_timeout(stub):
    stub.when("GET", "/hang").fault("timeout")
    with socket.create_connection(("127.0.0.1", _port(stub))) as sock:
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: len(stub.requests) == 1)
    wait_until(lambda: sum(name.startswith("HTTPStub-connection") for name in thread_names()) == 0)
