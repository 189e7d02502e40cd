"""What HTTPStub records, and how it reports calls and requests no route matched."""

import pytest
import requests

from harness import HTTPStub


def test_requests_are_recorded_in_order_with_everything_sent(stub):
    stub.when("POST", "/a").respond()
    requests.post(stub.url + "/a?x=1&x=2&empty=", json={"k": "v"}, headers={"X-Id": "7"})
    requests.get(stub.url + "/b")
    first, second = stub.requests
    assert (first.method, first.path, first.url) == ("POST", "/a", "/a?x=1&x=2&empty=")
    assert first.query == {"x": ["1", "2"], "empty": [""]}
    assert first.headers["x-id"] == "7"
    assert (first.body, first.json(), first.text) == (b'{"k": "v"}', {"k": "v"}, '{"k": "v"}')
    assert (first.matched, second.matched) == (True, False)
    assert repr(second) == "<RecordedRequest GET /b>"
    assert stub.unmatched == [second]


def test_admin_requests_are_not_recorded(stub):
    requests.get(stub.url + "/__admin/mappings")
    assert stub.requests == []


def test_assert_called_counts_method_and_path(stub):
    stub.when("GET", "/users").respond()
    requests.get(stub.url + "/users?page=1")
    requests.get(stub.url + "/users?page=2")
    stub.assert_called("GET", "/users", times=2)
    stub.assert_called("get", "/users", 2)


def test_assert_called_lists_what_was_called(stub):
    stub.when("ANY", "/users").respond()
    requests.get(stub.url + "/users")
    requests.post(stub.url + "/users")
    requests.post(stub.url + "/users")
    with pytest.raises(AssertionError) as raised:
        stub.assert_called("DELETE", "/users")
    assert str(raised.value) == ("HTTPStub: expected DELETE /users to be called 1 time(s), it was called 0 time(s). "
                                 "The stub received: GET /users (1x), POST /users (2x).")


def test_assert_called_says_when_nothing_was_called(stub):
    with pytest.raises(AssertionError, match=r"it was called 0 time\(s\)\. The stub received: no requests\.$"):
        stub.assert_called("GET", "/users")


def test_an_unmatched_request_gets_404_naming_its_closest_routes(stub):
    stub.when("POST", "/users", json={"name": "Ada"}).respond(201)
    stub.when("GET", "/orders").respond()
    response = requests.post(stub.url + "/users", json={"name": "Bob"})
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == (
        "Request was not matched\n=======================\n\n"
        "  POST /users\n"
        "    closest route 1: method POST; path /users; body: {'matchesJsonSubset': {'name': 'Ada'}}\n"
        "      differs: body: expected {'matchesJsonSubset': {'name': 'Ada'}}, got '{\"name\": \"Bob\"}'\n"
        "    closest route 2: method GET; path /orders\n"
        "      differs: method: expected 'GET', got 'POST'\n"
        "      differs: path: expected '/orders', got '/users'"
    )


def test_a_stub_without_routes_says_so(stub):
    response = requests.get(stub.url + "/x")
    assert (response.status_code, response.text) == (
        404, "Request was not matched\n=======================\n\n"
             "No response could be served as there are no stub mappings in this HTTPStub.")


def test_verify_fails_on_unmatched_requests_and_stays_cheap_to_repeat(stub):
    stub.when("GET", "/known").respond()
    requests.get(stub.url + "/known")
    stub.verify()
    requests.get(stub.url + "/unknown?x=1")
    message = (
        "HTTPStub: 1 request(s) matched no route (each got 404):\n"
        "  GET /unknown?x=1\n"
        "    closest route 1: method GET; path /known\n"
        "      differs: path: expected '/known', got '/unknown'\n"
        "Add a route with stub.when(...) or fix the request."
    )
    for _ in range(2):
        with pytest.raises(AssertionError) as raised:
            stub.verify()
        assert str(raised.value) == message


def test_verify_passes_unmatched_requests_when_not_strict():
    with HTTPStub(strict=False) as stub:
        requests.get(stub.url + "/anything")
        stub.verify()
        assert len(stub.unmatched) == 1


def test_reset_forgets_routes_sequences_and_recordings(stub):
    stub.when("GET", "/seq").respond_sequence([{"status": 500}, {"status": 200}])
    assert requests.get(stub.url + "/seq").status_code == 500
    requests.get(stub.url + "/nowhere")
    stub.reset()
    assert (stub.requests, stub.unmatched) == ([], [])
    stub.verify()
    assert requests.get(stub.url + "/seq").status_code == 404
    stub.reset()
    stub.when("GET", "/seq").respond_sequence([{"status": 500}, {"status": 200}])
    assert requests.get(stub.url + "/seq").status_code == 500  # the sequence starts again


def test_recordings_stay_readable_after_stop():
    with HTTPStub() as stub:
        requests.get(stub.url + "/gone")
    assert [request.path for request in stub.unmatched] == ["/gone"]
    with pytest.raises(AssertionError):
        stub.verify()
