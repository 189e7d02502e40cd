"""ServiceIntegrationTest's HTTP stubs (``stubs``, ``self.stub``) and response contract (``contract``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from harness import ServiceIntegrationTest, WSGIApp
from harness.errors import ConfigError, ContractViolation
from harness.http.inprocess import ASGIApp
from tests.helpers import clean_env, run_pytest, write

ROOT = str(Path(__file__).resolve().parents[2])


def forwarding_app(environ, start_response):
    """GET /<stub>/<path>: asks the stub ``<STUB>_URL`` names for <path> and answers what it answered."""
    stub, _, path = environ["PATH_INFO"].lstrip("/").partition("/")
    if stub == "env":
        body = json.dumps({name: value for name, value in os.environ.items() if name.endswith("_URL")}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    url = os.environ[stub.upper().replace("-", "_") + "_URL"] + "/" + path
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    start_response(f"{status} X", [("Content-Type", "application/json")])
    return [body]


class TestStubsHandedToTheApp(ServiceIntegrationTest):
    services = ()
    stubs = ("payments", "fraud-check")
    app = WSGIApp(forwarding_app)

    def test_the_app_gets_each_stubs_url(self):
        urls = self.api.get("/env").json()
        assert urls["PAYMENTS_URL"] == self.stub("payments").url
        assert urls["FRAUD_CHECK_URL"] == self.stub("fraud-check").url
        assert urls["PAYMENTS_URL"] != urls["FRAUD_CHECK_URL"]

    def test_a_route_answers_the_app_and_the_request_is_recorded(self):
        self.stub("payments").when("GET", "/charges/7").respond(200, json={"id": 7, "status": "accepted"})
        response = self.api.get("/payments/charges/7")
        assert (response.status_code, response.json()) == (200, {"id": 7, "status": "accepted"})
        self.stub("payments").assert_called("GET", "/charges/7", times=1)
        assert self.stub("fraud-check").requests == []

    def test_routes_and_records_are_reset_after_each_test(self):
        # Whichever test ran first, no route or recorded request of it is left.
        for name in ("payments", "fraud-check"):
            assert self.stub(name).requests == []
        self.stub("payments").when("GET", "/charges/7").respond(200, json={"id": 7})
        assert self.api.get("/payments/charges/7").status_code == 200

    def test_an_unknown_stub_name_says_which_there_are(self):
        with pytest.raises(ConfigError) as raised:
            self.stub("payment")
        assert str(raised.value) == (
            "'payment' is not one of TestStubsHandedToTheApp.stubs ('payments', 'fraud-check'). "
            "Did you mean 'payments'?"
        )


STRICT_SUITE = '''
from harness import ServiceIntegrationTest, WSGIApp
from tests.bases.test_service_stubs import forwarding_app


class TestStrict(ServiceIntegrationTest):
    services = ()
    stubs = ("payments",)
    app = WSGIApp(forwarding_app)

    def test_1_calls_a_route_nobody_set(self):
        self.stub("payments").when("GET", "/charges/1").respond(200, json={{}})
        assert self.api.get("/payments/refunds/1").status_code == 404  # the stub's answer, passed on

    def test_2_next_test_starts_clean(self):
        assert self.stub("payments").requests == []
'''


def test_a_request_no_route_matched_fails_the_test(tmp_path):
    write(tmp_path, "test_strict.py", STRICT_SUITE.format())
    result = run_pytest(tmp_path, env=clean_env(PYTHONPATH=ROOT))
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr  # test 1 passed, its teardown not
    assert "ERROR at teardown of TestStrict.test_1_calls_a_route_nobody_set" in result.stdout
    assert "The 'payments' stub (the app's PAYMENTS_URL): HTTPStub: 1 request(s) matched no route" in result.stdout
    assert "GET /refunds/1" in result.stdout  # the unmatched request is named ...
    assert "path /charges/1" in result.stdout  # ... with the closest route


def _class_setup_error(name, **attributes):
    """The one error a ServiceIntegrationTest class with ``attributes`` (and no services) gets at its setup."""
    cls = type(name, (ServiceIntegrationTest,), {"services": (), "test_nothing": lambda self: None, **attributes})
    result = cls("test_nothing").run()
    (error,) = [message for _, message in result.errors]
    assert "ConfigError" in error
    return error


def test_stubs_must_be_a_tuple_of_names():
    error = _class_setup_error("TestOneString", stubs="payments")
    assert "TestOneString.stubs must be a tuple of names (e.g. stubs = (\"payments\",)), got 'payments'." in error


class Item(BaseModel):
    id: int
    name: str


contract_app = FastAPI()


@contract_app.get("/items/{item_id}", response_model=Item)
def good_item(item_id: int) -> dict[str, object]:
    return {"id": item_id, "name": "tea"}


@contract_app.get("/broken", responses={200: {"model": Item}})
def broken_item() -> JSONResponse:
    return JSONResponse({"id": "seven", "name": "tea"})  # breaks the document the app itself publishes


class TestTheAppsOwnContract(ServiceIntegrationTest):
    services = ()
    app = ASGIApp(contract_app)
    contract = "/openapi.json"

    def test_a_response_that_keeps_the_contract_passes(self):
        assert self.api.get("/items/3").json() == {"id": 3, "name": "tea"}

    def test_a_response_that_breaks_it_fails_naming_the_path(self):
        with pytest.raises(ContractViolation) as raised:
            self.api.get("/broken")
        assert "$.id" in str(raised.value) and "GET /broken" in str(raised.value)


def test_a_contract_on_the_app_needs_an_app():
    error = _class_setup_error("TestNoApp", contract="/openapi.json")
    assert "TestNoApp.contract = '/openapi.json' is a path on the app (its published OpenAPI document), but " in error
    assert "TestNoApp has no app. Give the document's file or URL instead, or set app." in error
