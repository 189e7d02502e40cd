"""verify_pacts: consumers' Pact files replayed by pact-python's verifier against a real app on a real socket."""

import json
import os
import threading

import pytest

pytest.importorskip("pact", minversion="4", reason="verify_pacts needs pact-python 4 (pip install 'harness[pact]')")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi import FastAPI, Response  # noqa: E402

from harness import ASGIApp, ServiceIntegrationTest, verify_pacts  # noqa: E402
from harness.errors import ConfigError, PactVerificationFailed, ServiceUnavailable  # noqa: E402

USERS: dict[int, str] = {}
provider_app = FastAPI()


@provider_app.get("/users/{user_id}")
async def get_user(user_id: int, response: Response) -> dict[str, object]:
    if user_id not in USERS:
        response.status_code = 404
        return {"error": "no such user"}
    return {"id": user_id, "name": USERS[user_id]}


@provider_app.get("/orders/{order_id}")
async def get_order(order_id: int, response: Response) -> dict[str, object]:
    response.headers["X-Api-Version"] = "1"
    return {"id": order_id, "total": "12.50"}  # the consumer expects a number


@provider_app.post("/orders", status_code=200)  # the consumer expects 201 Created
async def create_order() -> dict[str, object]:
    return {"id": 2}


USER_7 = {
    "description": "a request for user 7",
    "providerStates": [{"name": "a user exists", "params": {"id": 7, "name": "Grace"}}],
    "request": {"method": "GET", "path": "/users/7"},
    "response": {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": {"id": 7, "name": "Ada"},
        "matchingRules": {"body": {"$.name": {"matchers": [{"match": "type"}]}}},
    },
}
MISSING_USER = {
    "description": "a request for a user who does not exist",
    "request": {"method": "GET", "path": "/users/99"},
    "response": {"status": 404},
}


def write_pact(directory, interactions, *, provider="users", consumer="web", name=None, version="3.0.0"):
    path = directory / (name or f"{consumer}-{provider}.json")
    path.write_text(json.dumps({
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": interactions,
        "metadata": {"pactSpecification": {"version": version}},
    }))
    return path


@pytest.fixture()
def app_url():
    USERS.clear()
    runner = ASGIApp(provider_app)
    url = runner.start({})
    yield url
    runner.stop()


@pytest.fixture()
def nothing_leaks():
    threads = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) == threads
    assert "PACT_DO_NOT_TRACK" not in os.environ


def test_a_pact_the_app_keeps_passes_with_its_provider_state_set_up_and_torn_down(nothing_leaks, tmp_path, app_url):
    pact = write_pact(tmp_path, [USER_7, MISSING_USER])
    calls = []

    def user_exists(params):
        calls.append(("setup", params))
        USERS[params["id"]] = params["name"]
        return lambda: calls.append(("teardown", USERS.pop(params["id"])))

    assert verify_pacts(app_url, pact, states={"a user exists": user_exists}) == 2
    assert calls == [("setup", {"id": 7, "name": "Grace"}), ("teardown", "Grace")]


def test_a_directory_and_a_list_of_files_are_sources_too(tmp_path, app_url):
    write_pact(tmp_path, [MISSING_USER])
    write_pact(tmp_path, [MISSING_USER], consumer="mobile")
    assert verify_pacts(app_url, tmp_path) == 2
    assert verify_pacts(app_url, [tmp_path / "web-users.json"]) == 1


BROKEN = [
    {
        "type": "Synchronous/HTTP",
        "description": "a request for order 1",
        "providerStates": [{"name": "order 1 exists"}],
        "request": {"method": "GET", "path": "/orders/1"},
        "response": {
            "status": 200,
            "headers": {"X-Api-Version": ["2"]},
            "body": {"content": {"id": 1, "total": 12.5}, "contentType": "application/json", "encoded": False},
            "matchingRules": {"body": {"$.total": {"combine": "AND", "matchers": [{"match": "type"}]}}},
        },
    },
    {
        "type": "Synchronous/HTTP",
        "description": "placing an order",
        "request": {"method": "POST", "path": "/orders"},
        "response": {"status": 201},
    },
]


def test_a_pact_the_app_breaks_lists_each_interaction_and_what_differed(nothing_leaks, tmp_path, app_url):
    pact = write_pact(tmp_path, BROKEN, provider="orders", consumer="checkout", version="4.0")
    with pytest.raises(PactVerificationFailed) as failure:
        verify_pacts(app_url, pact, states={"order 1 exists": lambda params: None})
    assert isinstance(failure.value, AssertionError)
    assert str(failure.value) == (
        "Pact verification failed: 2 of 2 interactions that consumers expect of provider 'orders' failed "
        f"against the app at {app_url}.\n"
        "  1) 'a request for order 1' (consumer 'checkout', given 'order 1 exists')\n"
        "     GET /orders/1\n"
        "     header 'X-Api-Version': Mismatch with header 'X-Api-Version': Expected '1' to be equal to '2'\n"
        "     body $.total: Expected '12.50' (String) to be the same type as 12.5 (Decimal)\n"
        "  2) 'placing an order' (consumer 'checkout', no provider state)\n"
        "     POST /orders\n"
        "     status: expected 201 but was 200\n"
        f"Pact files: {pact}\n"
        "Fix the app, or, if a consumer expects the wrong thing, that consumer's test that wrote the pact."
    )


def test_a_failing_state_setup_is_reported_and_chained(nothing_leaks, tmp_path, app_url):
    pact = write_pact(tmp_path, [USER_7])

    def user_exists(params):
        raise KeyError("no users table")

    with pytest.raises(PactVerificationFailed) as failure:
        verify_pacts(app_url, pact, states={"a user exists": user_exists})
    assert str(failure.value) == (
        "Pact verification failed: 1 of 1 interactions that consumers expect of provider 'users' failed "
        f"against the app at {app_url}.\n"
        "  1) 'a request for user 7' (consumer 'web', given 'a user exists')\n"
        "     GET /users/7\n"
        "     error: One or more of the setup state change handlers has failed\n"
        "Provider state 'a user exists' (setup) raised KeyError: 'no users table'\n"
        f"Pact files: {pact}\n"
        "Fix the app, or, if a consumer expects the wrong thing, that consumer's test that wrote the pact."
    )
    assert isinstance(failure.value.__cause__, KeyError)


def test_a_state_without_setup_is_refused_before_anything_runs(tmp_path):
    pact = write_pact(tmp_path, [USER_7])
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", pact, states={"a user exist": lambda params: None})
    assert str(error.value) == (
        "verify_pacts was given no setup for provider states the pacts need:\n"
        f"  'a user exists': needed by 'a request for user 7' (consumer 'web', {pact}). Did you mean 'a user exist'?\n"
        "Pass states={name: function}; each function gets the state's params and creates that data."
    )


def test_a_missing_pact_path_says_what_to_pass(tmp_path):
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", tmp_path / "pacts")
    assert str(error.value) == (
        f"Pact file or directory not found: {tmp_path / 'pacts'}. Pass a Pact JSON file written by a "
        "consumer's Pact tests, or the directory holding them."
    )


def test_no_pacts_at_all_is_refused():
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", [])
    assert str(error.value) == (
        "verify_pacts was given no pact files: pass a Pact JSON file, a directory of them, or a list of files."
    )


def test_an_empty_directory_and_a_file_that_is_not_a_pact_are_refused(tmp_path):
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", tmp_path)
    assert str(error.value) == (
        f"No pact files (*.json) in {tmp_path}: write them there with the consumer's Pact tests, "
        "or pass the pact files themselves."
    )
    (tmp_path / "openapi.json").write_text('{"openapi": "3.1.0"}')
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'openapi.json'} is not a Pact file: it needs 'consumer', 'provider' and 'interactions' "
        "at the top level."
    )


def test_pacts_for_several_providers_need_provider_named(tmp_path, app_url):
    write_pact(tmp_path, [MISSING_USER])
    write_pact(tmp_path, BROKEN, provider="orders")
    with pytest.raises(ConfigError) as error:
        verify_pacts(app_url, tmp_path)
    assert str(error.value) == (
        "The pact files are for 2 providers ('orders', 'users'): pass provider= to say which one the app is."
    )
    with pytest.raises(ConfigError) as error:
        verify_pacts(app_url, tmp_path, provider="user")
    assert str(error.value) == (
        "No pact file is for provider 'user': they are for 'orders', 'users'. Did you mean 'users'?"
    )
    assert verify_pacts(app_url, tmp_path, provider="users") == 1


def test_a_base_url_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(ConfigError) as error:
        verify_pacts("127.0.0.1:8000", tmp_path)
    assert str(error.value) == "verify_pacts needs the app's base URL (http://host:port), got '127.0.0.1:8000'."


class TestUsersProvider(ServiceIntegrationTest):
    """verify_pacts inside a ServiceIntegrationTest, against the app the class started."""

    services = ()
    app = ASGIApp(provider_app)

    @pytest.fixture(autouse=True)
    def pacts(self, tmp_path):
        USERS.clear()
        write_pact(tmp_path, [USER_7, MISSING_USER])
        self.pacts_dir = tmp_path

    def test_the_consumers_pacts_pass(self):
        states = {"a user exists": lambda params: USERS.update({params["id"]: params["name"]})}
        assert verify_pacts(self.app_url, self.pacts_dir, states=states) == 2


def test_a_state_that_is_not_a_function_is_refused(tmp_path):
    pact = write_pact(tmp_path, [USER_7])
    with pytest.raises(ConfigError) as error:
        verify_pacts("http://127.0.0.1:9", pact, states={"a user exists": {"id": 7}})
    assert str(error.value) == "states= must map state names to functions; not callable: a user exists."


def test_pact_python_older_than_4_is_named(tmp_path, monkeypatch):
    import pact

    monkeypatch.setattr(pact, "__version__", "3.4.1")
    with pytest.raises(ServiceUnavailable) as error:
        verify_pacts("http://127.0.0.1:9", write_pact(tmp_path, [MISSING_USER]))
    assert str(error.value) == (
        "verify_pacts needs pact-python 4 or newer, found 3.4.1. Install it with: pip install 'harness[pact]' "
        "(pact-python 4 needs Python 3.11 or newer)"
    )


def test_python_older_than_3_11_is_named(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "python_version_tuple", lambda: ("3", "10", "14"))
    monkeypatch.setattr(platform, "python_version", lambda: "3.10.14")
    with pytest.raises(ServiceUnavailable) as error:
        verify_pacts("http://127.0.0.1:9", write_pact(tmp_path, [MISSING_USER]))
    assert str(error.value) == (
        "verify_pacts needs pact-python 4, which needs Python 3.11 or newer; this is Python 3.10.14."
    )
