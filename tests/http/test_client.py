"""APITestClient against real sockets: the FastAPI test app served by ASGIApp, and ports nothing listens on."""

import pytest

pytest.importorskip("requests")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from harness.errors import AppUnreachable, ConfigError, UsageError  # noqa: E402
from harness.http import APITestClient  # noqa: E402
from tests.http.helpers import closed_port  # noqa: E402


@pytest.fixture()
def api(fastapi_url):
    with APITestClient(fastapi_url) as client:
        yield client


def test_paths_are_joined_to_the_base_url():
    client = APITestClient("http://127.0.0.1:8000/")
    try:
        assert client.base_url == "http://127.0.0.1:8000"
        assert client.url("/orders") == "http://127.0.0.1:8000/orders"
        assert client.url("orders/7?x=1") == "http://127.0.0.1:8000/orders/7?x=1"
        assert client.url("") == "http://127.0.0.1:8000"
        assert client.url("http://127.0.0.1:9000/elsewhere") == "http://127.0.0.1:9000/elsewhere"
        with APITestClient("http://127.0.0.1:8000/api/v1") as prefixed:
            assert prefixed.url("/orders") == "http://127.0.0.1:8000/api/v1/orders"
    finally:
        client.close()


def test_repr_shows_the_base_url_without_a_password():
    with APITestClient("http://user:hunter22@127.0.0.1:8000") as client:
        assert repr(client) == "APITestClient('http://user:***@127.0.0.1:8000')"
    assert repr(client) == "APITestClient('http://user:***@127.0.0.1:8000', closed)"


def test_a_base_url_that_is_not_http_is_refused():
    with pytest.raises(ConfigError) as caught:
        APITestClient("127.0.0.1:8000")
    assert str(caught.value) == (
        "APITestClient needs the app's base URL starting with http:// or https://, got '127.0.0.1:8000'."
    )


def test_json_round_trip(api):
    response = api.post("/echo", json={"sku": "A-1", "quantity": 2, "tags": ["x"]})
    assert response.status_code == 200
    assert response.json() == {"received": {"sku": "A-1", "quantity": 2, "tags": ["x"]}}


def test_each_method_sends_its_verb(api):
    for method in ("get", "put", "patch", "delete"):
        assert getattr(api, method)("/greeting").status_code == (200 if method == "get" else 405)
    assert api.request("get", "/greeting").json() == {"greeting": "unset"}


def test_a_404_is_returned_as_it_is(api):
    response = api.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_connections_are_kept_alive_between_requests(api, fastapi_url):
    first = api.get("/peer").json()["port"]
    assert api.get("/peer").json()["port"] == first
    with APITestClient(fastapi_url) as other:
        assert other.get("/peer").json()["port"] != first


def test_a_closed_port_raises_app_unreachable_naming_method_url_and_cause():
    port = closed_port()
    with APITestClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(AppUnreachable) as caught:
            client.post("/orders", json={"sku": "A-1"})
    assert str(caught.value) == (
        f"POST http://127.0.0.1:{port}/orders got no answer: connection refused (nothing listens there).\n"
        f"Check that the app under test is running and listening at http://127.0.0.1:{port}."
    )


def test_app_unreachable_carries_the_app_status():
    port = closed_port()
    status = "The app process exited with code 3; its last output:\nKeyError: 'DATABASE_URL'"
    with APITestClient(f"http://127.0.0.1:{port}", app_status=lambda: status) as client:
        with pytest.raises(AppUnreachable) as caught:
            client.get("/orders")
    assert str(caught.value) == (
        f"GET http://127.0.0.1:{port}/orders got no answer: connection refused (nothing listens there).\n{status}"
    )


def test_app_unreachable_says_so_when_the_app_reports_it_is_running():
    port = closed_port()
    with APITestClient(f"http://127.0.0.1:{port}", app_status=lambda: None) as client:
        with pytest.raises(AppUnreachable) as caught:
            client.get("/orders")
    assert str(caught.value).endswith("(nothing listens there).\nThe app is still running.")


def test_app_unreachable_is_chained_from_a_detached_exception():
    with APITestClient(f"http://127.0.0.1:{closed_port()}") as client:
        with pytest.raises(AppUnreachable) as caught:
            client.get("/orders")
    cause = caught.value.__cause__
    assert type(cause).__name__ == "ConnectionError"
    assert cause.__traceback__ is None
    assert cause.__context__ is None and cause.__cause__ is None


def test_a_response_slower_than_the_timeout_is_app_unreachable(fastapi_url):
    with APITestClient(fastapi_url, timeout=0.2) as client:
        with pytest.raises(AppUnreachable) as caught:
            client.get("/sleep", params={"seconds": 1})
        assert str(caught.value).startswith(
            f"GET {fastapi_url}/sleep got no answer: no response within 0.2 s (read timeout).\n"
        )
        assert client.get("/sleep", params={"seconds": 0.3}, timeout=5).json() == {"slept": 0.3}


def test_a_closed_client_refuses_reuse():
    client = APITestClient("http://127.0.0.1:8000")
    client.close()
    client.close()
    with pytest.raises(UsageError) as caught:
        client.get("/orders")
    assert str(caught.value) == (
        "This APITestClient for http://127.0.0.1:8000 was closed, so it cannot send GET /orders; create a new one."
    )


class RecordingContract:
    def __init__(self):
        self.seen = []

    def validate_response(self, response):
        self.seen.append((response.request.method, response.request.path_url, response.status_code))


class RejectingContract:
    def validate_response(self, response):
        raise AssertionError(f"{response.request.path_url} breaks the contract")


def test_every_response_goes_through_the_contract(fastapi_url):
    contract = RecordingContract()
    with APITestClient(fastapi_url, contract=contract) as client:
        client.get("/greeting")
        client.get("/missing")
    assert contract.seen == [("GET", "/greeting", 200), ("GET", "/missing", 404)]


def test_a_contract_violation_reaches_the_test(fastapi_url):
    with APITestClient(fastapi_url, contract=RejectingContract()) as client:
        with pytest.raises(AssertionError, match="/greeting breaks the contract"):
            client.get("/greeting")


def test_a_contract_without_validate_response_is_refused():
    with pytest.raises(ConfigError) as caught:
        APITestClient("http://127.0.0.1:8000", contract={"orders": {}})
    assert str(caught.value) == (
        "APITestClient(contract=...) needs an object with a validate_response(response) method "
        "(e.g. a ContractTest), got dict."
    )
