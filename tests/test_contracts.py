"""ContractTest and ContractViolation: JSON Schema and OpenAPI contracts, checked against real HTTP responses.

The responses come from real servers on 127.0.0.1 (harness's ASGIApp): an echo
app that answers with the status, content type and body a test asks for, and a
FastAPI app whose own /openapi.json is the contract.
"""

import json
import pickle
import sys
from pathlib import Path

import pytest

pytest.importorskip("jsonschema")
pytest.importorskip("openapi_core")
pytest.importorskip("yaml")
pytest.importorskip("requests")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

import httpx  # noqa: E402
import requests  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from harness import APITestClient, ASGIApp, ContractTest, ContractViolation  # noqa: E402
from harness.errors import ConfigError, HarnessError, ServiceUnavailable, UsageError  # noqa: E402
from harness.redaction import register_secret  # noqa: E402
from tests.http.helpers import closed_port  # noqa: E402

CONTRACTS = Path(__file__).parent / "contracts"
SCHEMAS = ContractTest(CONTRACTS / "orders.schemas.json")


def echo(request):
    """Answers with ?status=, ?type= (content type) and ?body= as asked."""
    query = request.query_params
    return Response(query.get("body", ""), status_code=int(query.get("status", "200")), media_type=query.get("type"))


echo_app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "DELETE"])])


class Order(BaseModel):
    id: int
    total: float


orders_app = FastAPI()


@orders_app.get("/orders/{order_id}", response_model=Order)
def get_order(order_id: int):
    return {"id": order_id, "total": 9.5}


@orders_app.get("/broken/{order_id}", response_model=Order)
def broken_order(order_id: int):
    # Bypasses FastAPI's response_model serialisation, as a hand-built response in a real app does.
    return JSONResponse({"id": str(order_id), "total": "12"})


@pytest.fixture(scope="module")
def echo_url():
    runner = ASGIApp(echo_app)
    yield runner.start({})
    runner.stop()


@pytest.fixture(scope="module")
def orders_url():
    runner = ASGIApp(orders_app)
    yield runner.start({})
    runner.stop()


@pytest.fixture(scope="module")
def openapi30():
    return ContractTest.from_openapi(CONTRACTS / "orders-3.0.yaml")


def answer(url, path, *, method="GET", status=200, body=None, type="application/json"):
    """A real ``requests`` response from the echo app."""
    params = {"status": status, "body": body if isinstance(body, str) else json.dumps(body)}
    if type is not None:
        params["type"] = type
    return requests.request(method, url + path, params=params, timeout=10)


def violation_of(call, *args):
    with pytest.raises(ContractViolation) as caught:
        call(*args)
    return caught.value


# --- plain JSON Schema: each rule's message ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message", "path", "rule"),
    [
        ({"id": "7", "total": 1}, """'Order' breaks the contract at $.id: type: expected integer, got string "7".""",
         "$.id", "type"),
        ({"total": 1}, "'Order' breaks the contract at $: required: 'id' is missing.", "$", "required"),
        ({"id": 1, "total": 1, "status": "lost"},
         """'Order' breaks the contract at $.status: enum: expected one of "open", "paid", got string "lost".""",
         "$.status", "enum"),
        ({"id": 1, "total": 1, "placed_on": "yesterday"},
         """'Order' breaks the contract at $.placed_on: format: expected a date, got string "yesterday".""",
         "$.placed_on", "format"),
        ({"id": 1, "total": 1, "coupon": "X"},
         """'Order' breaks the contract at $: additionalProperties: unexpected property "coupon".""",
         "$", "additionalProperties"),
        ({"id": 1, "total": 1, "payment": 1.5},
         "'Order' breaks the contract at $.payment: oneOf: matches none of the 2 alternatives "
         "(#1 type: expected string, got number 1.5; #2 type: expected integer, got number 1.5).",
         "$.payment", "oneOf"),
        ({"id": 1, "total": 1, "items": [{"price": 1}, {"price": 2.5}, {"price": "12"}]},
         """'Order' breaks the contract at $.items[2].price: type: expected number, got string "12".""",
         "$.items[2].price", "type"),
    ],
    ids=["type", "required", "enum", "format", "additionalProperties", "oneOf", "nested-array"],
)
def test_each_rule_names_the_json_path_and_the_rule(data, message, path, rule):
    error = violation_of(SCHEMAS.validate, data, "Order")
    assert str(error) == message
    assert (error.path, error.rule) == (path, rule)
    assert error.errors == [(path, rule, message.split(f"{rule}: ", 1)[1][:-1])]


def test_valid_data_passes():
    SCHEMAS.validate({"id": 1, "total": 2.5, "status": "paid", "placed_on": "2026-11-24", "items": [{"price": 1}]},
                     "Order")


def test_several_errors_are_listed_best_match_first():
    error = violation_of(SCHEMAS.validate, {"id": "x", "items": [{"price": "1"}], "status": 3}, "Order")
    assert str(error) == (
        "'Order' breaks the contract at $: required: 'total' is missing.\n"
        "4 errors (best match first):\n"
        "  $: required: 'total' is missing\n"
        """  $.id: type: expected integer, got string "x"\n"""
        """  $.items[0].price: type: expected number, got string "1"\n"""
        """  $.status: enum: expected one of "open", "paid", got integer 3"""
    )
    assert [path for path, _rule, _detail in error.errors] == ["$", "$.id", "$.items[0].price", "$.status"]


def test_the_list_is_capped_and_counts_the_rest():
    error = violation_of(SCHEMAS.validate, {"id": 1, "total": 1, "items": [{"price": str(n)} for n in range(13)]},
                         "Order")
    lines = str(error).splitlines()
    assert lines[1] == "13 errors (best match first):"
    assert len(lines) == 2 + 10 + 1 and lines[-1] == "  ... and 3 more"
    assert len(error.errors) == 13


def test_a_violation_is_an_assertion_error_and_survives_pickling():
    error = violation_of(SCHEMAS.validate, {"total": 1}, "Order")
    assert isinstance(error, AssertionError) and isinstance(error, HarnessError)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.path, copy.rule, copy.errors) == (str(error), error.path, error.rule, error.errors)


def test_no_password_in_a_message():
    register_secret("s3cret-Pa55word")
    contract = ContractTest({"Login": {"type": "object", "properties": {
        "password": {"type": "string", "minLength": 40}, "note": {"type": "integer"}}}})
    error = violation_of(contract.validate, {"password": "s3cret-Pa55word", "note": "s3cret-Pa55word"}, "Login")
    assert "s3cret" not in str(error)
    assert str(error) == (
        "'Login' breaks the contract at $.password: minLength: *** breaks minLength 40.\n"
        "2 errors (best match first):\n"
        "  $.password: minLength: *** breaks minLength 40\n"
        "  $.note: type: expected integer, got string \"***\""
    )


@pytest.mark.parametrize(
    ("name", "good", "bad", "message"),
    [
        ("Draft4Order", {"total": 1}, {"total": 0},
         # draft-04's exclusiveMinimum is a boolean beside minimum: 2020-12 would refuse the schema
         "'Draft4Order' breaks the contract at $.total: minimum: 0 is less than or equal to the minimum of 0."),
        ("Draft7Order", {"total": 1}, {"total": 0},
         "'Draft7Order' breaks the contract at $.total: "
         "exclusiveMinimum: 0 is less than or equal to the minimum of 0."),
        ("Draft2020Order", {"items": ["a"]}, {"items": ["a", "b"]},
         "'Draft2020Order' breaks the contract at $.items: items: Expected at most 1 item but found 1 extra: 'b'."),
    ],
)
def test_each_schema_is_checked_with_the_draft_its_schema_keyword_names(name, good, bad, message):
    contract = ContractTest(str(CONTRACTS / "orders.schemas.yaml"))  # YAML file, draft-04 / -07 / 2020-12 schemas
    contract.validate(good, name)
    assert str(violation_of(contract.validate, bad, name)) == message


def test_an_unknown_schema_name_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as caught:
        SCHEMAS.validate({}, "Ordr")
    assert str(caught.value) == (
        f"ContractTest from {CONTRACTS / 'orders.schemas.json'} has no schema 'Ordr'. Did you mean 'Order'? "
        "Its schemas: Order."
    )


@pytest.mark.parametrize(
    ("schemas", "message"),
    [
        ({"Bad": {"type": "nmber"}},
         "ContractTest: the schema 'Bad' from the dict given is not a valid schema: at $.type: anyOf: matches none "
         "of the 2 alternatives (#1 enum: expected one of \"array\", \"boolean\", \"integer\", \"null\", \"number\", "
         "\"object\", \"string\", got string \"nmber\"; #2 type: expected array, got string \"nmber\")."),
        ({"Bad": {"$schema": "http://example.com/my-draft"}},
         "ContractTest: the schema 'Bad' from the dict given declares $schema 'http://example.com/my-draft', which is "
         "no JSON Schema draft jsonschema knows. Use the URI of draft-04, -06, -07, 2019-09 or 2020-12 (or leave "
         "$schema out for 2020-12)."),
        ({"Bad": []}, "ContractTest: the schema 'Bad' from the dict given is a list, not a JSON Schema "
                      "(an object or a boolean)."),
        ({"type": "object", "properties": {}},
         "ContractTest: the schema 'type' from the dict given is a str, not a JSON Schema (an object or a boolean). "
         "It looks as if the dict given holds one JSON Schema ('type' is a keyword), not a dict of name -> schema: "
         "give ContractTest({'Order': schema})."),
    ],
    ids=["invalid-schema", "unknown-draft", "not-a-schema", "one-schema-not-a-dict-of-them"],
)
def test_a_bad_schema_is_refused_when_the_contract_is_made(schemas, message):
    with pytest.raises(ConfigError) as caught:
        ContractTest(schemas)
    assert str(caught.value) == message


def test_a_missing_or_unparsable_file_says_which_and_what(tmp_path):
    with pytest.raises(ConfigError) as caught:
        ContractTest(tmp_path / "nope.json")
    assert str(caught.value) == (
        f"ContractTest cannot read {tmp_path / 'nope.json'}: No such file or directory. "
        "Give an existing JSON or YAML file, a dict or a URL."
    )
    (tmp_path / "bad.json").write_text('{"Order": ')
    with pytest.raises(ConfigError) as caught:
        ContractTest(tmp_path / "bad.json")
    assert str(caught.value) == (
        f"ContractTest: {tmp_path / 'bad.json'} is not valid JSON: Expecting value at line 1 column 11."
    )


def test_a_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # what an environment without PyYAML gives import
    with pytest.raises(ServiceUnavailable) as caught:
        ContractTest(CONTRACTS / "orders.schemas.yaml")
    assert str(caught.value) == (
        "ContractTest from a YAML file needs the Python package 'yaml', which is not installed. "
        "Install it with: pip install 'harness[contracts]'"
    )


def test_validate_response_needs_an_openapi_contract(echo_url):
    with pytest.raises(UsageError) as caught:
        SCHEMAS.validate_response(answer(echo_url, "/orders/1", body={"id": 1}))
    assert str(caught.value) == (
        f"validate_response needs an OpenAPI contract (ContractTest.from_openapi(...)); this one holds plain schemas "
        f"from {CONTRACTS / 'orders.schemas.json'}, which do not say which response they describe. "
        "Check the body with contract.validate(response.json(), name) instead."
    )


# --- OpenAPI ------------------------------------------------------------------------------------------------------


def test_openapi_component_schemas_use_the_openapi_dialect(openapi30):
    openapi30.validate({"id": 1, "total": 2.5, "note": None}, "Order")  # nullable: OpenAPI 3.0's, not JSON Schema's
    error = violation_of(openapi30.validate, {"id": 1, "total": "2"}, "Order")
    assert str(error) == """'Order' breaks the contract at $.total: type: expected number, got string "2"."""
    contract31 = ContractTest.from_openapi(str(CONTRACTS / "orders-3.1.json"))
    contract31.validate({"id": 1, "total": 2.5, "note": None}, "Order")  # type: [string, "null"]: 3.1's way
    error = violation_of(contract31.validate, {"id": 1, "total": 2.5, "placed_on": "2026-13-01"}, "Order")
    assert str(error) == (
        """'Order' breaks the contract at $.placed_on: format: expected a date, got string "2026-13-01"."""
    )
    assert repr(contract31) == f"ContractTest(OpenAPI 3.1 from {CONTRACTS / 'orders-3.1.json'}: Order)"


def test_responses_that_keep_the_contract_pass(openapi30, echo_url):
    openapi30.validate_response(answer(echo_url, "/api/orders/7", body={"id": 7, "total": 1.5}))
    openapi30.validate_response(answer(echo_url, "/api/orders", body=[{"id": 7, "total": 1.5}]))
    openapi30.validate_response(answer(echo_url, "/api/orders/7", method="DELETE", status=204, body="", type=None))


def test_a_path_template_names_the_operation(openapi30, echo_url):
    error = violation_of(openapi30.validate_response, answer(echo_url, "/api/orders/7", body={"id": "7", "total": 1}))
    assert str(error) == (
        "The body of GET /orders/{id} -> 200 (application/json) breaks the contract at $.id: "
        'type: expected integer, got string "7".'
    )


def test_a_status_range_then_default_pick_the_response(openapi30, echo_url):
    response = answer(echo_url, "/api/orders/7", status=404, body={"title": 404}, type="application/problem+json")
    assert str(violation_of(openapi30.validate_response, response)) == (
        "The body of GET /orders/{id} -> 4XX (application/problem+json) breaks the contract at $.title: "
        "type: expected string, got integer 404."
    )
    openapi30.validate_response(answer(echo_url, "/api/orders/7", status=503, body="down", type="text/plain"))
    response = answer(echo_url, "/api/orders/7", status=503, body="down for maintenance, back soon", type="text/plain")
    assert str(violation_of(openapi30.validate_response, response)) == (
        "The body of GET /orders/{id} -> default (text/plain) breaks the contract at $: "
        "maxLength: 'down for maintenance, back soon' is too long."
    )


@pytest.mark.parametrize(
    ("path", "method", "status", "message", "rule"),
    [
        ("/api/invoices/1", "GET", 200, "GET /api/invoices/1 is not in the contract: no documented path matches it. "
         "Documented paths (under the server /api): /orders, /orders/{id}.", "path"),
        ("/orders/1", "GET", 200, "GET /orders/1 is not in the contract: no documented path matches it. "
         "Documented paths (under the server /api): /orders, /orders/{id}.", "path"),
        ("/api/orders/1", "POST", 200,
         "POST /api/orders/1 is not in the contract: /orders/{id} documents only GET, DELETE.", "method"),
        ("/api/orders/1", "DELETE", 200,
         "DELETE /orders/{id} answered 200, a status the contract does not document for it. Documented: 204.",
         "status"),
    ],
    ids=["path", "outside-the-server-prefix", "method", "status"],
)
def test_an_undocumented_path_method_or_status_lists_the_documented_ones(
    openapi30, echo_url, path, method, status, message, rule
):
    error = violation_of(openapi30.validate_response, answer(echo_url, path, method=method, status=status, body={}))
    assert str(error) == message
    assert (error.path, error.rule, error.errors) == ("", rule, [("", rule, message)])


@pytest.mark.parametrize("response", [object(), httpx.Response(200, json={})], ids=["not-a-response", "no-request"])
def test_validate_response_needs_a_response_with_its_request(openapi30, response):
    with pytest.raises(UsageError) as caught:
        openapi30.validate_response(response)
    assert str(caught.value) == (
        "validate_response takes a requests.Response or an httpx.Response (with its request); "
        f"got {type(response).__name__}."
    )


def test_a_response_given_by_reference(echo_url):
    contract = ContractTest.from_openapi({
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"404": {"$ref": "#/components/responses/NotFound"}}}}},
        "components": {"responses": {"NotFound": {"description": "no such thing", "content": {
            "application/json": {"schema": {"type": "object", "required": ["title"]}}}}}},
    })
    error = violation_of(contract.validate_response, answer(echo_url, "/a", status=404, body={}))
    assert str(error) == (
        "The body of GET /a -> 404 (application/json) breaks the contract at $: required: 'title' is missing."
    )


def test_a_content_type_the_operation_does_not_document(openapi30, echo_url):
    error = violation_of(openapi30.validate_response, answer(echo_url, "/api/orders/7", body="<p>", type="text/html"))
    assert str(error) == (
        "GET /orders/{id} -> 200 answered with content type text/html; charset=utf-8, which the contract does not "
        "document for it. Documented: application/json."
    )
    assert error.rule == "content-type"


def test_a_body_that_is_not_json(openapi30, echo_url):
    error = violation_of(openapi30.validate_response, answer(echo_url, "/api/orders/7", body="{oops"))
    assert str(error) == (
        "The body of GET /orders/{id} -> 200 (application/json) is not JSON: "
        "Expecting property name enclosed in double quotes at line 1 column 2."
    )
    assert (error.path, error.rule) == ("$", "json")


def test_httpx_responses_are_validated_too(openapi30, echo_url):
    with httpx.Client(base_url=echo_url, timeout=10) as client:
        body = {"body": '{"id": 7, "total": 1}', "type": "application/json"}
        openapi30.validate_response(client.get("/api/orders/7", params=body))
        response = client.get("/api/orders", params={"body": '[{"id": 7}]', "type": "application/json"})
    assert str(violation_of(openapi30.validate_response, response)) == (
        "The body of GET /orders -> 200 (application/json) breaks the contract at $[0]: required: 'total' is missing."
    )


def test_api_test_client_checks_every_response_against_the_apps_own_openapi(orders_url):
    contract = ContractTest.from_openapi(orders_url + "/openapi.json")
    with APITestClient(orders_url, contract=contract) as api:
        assert api.get("/orders/3").json() == {"id": 3, "total": 9.5}
        assert api.get("/orders/three").status_code == 422  # FastAPI documents its 422 body; it keeps it
        with pytest.raises(ContractViolation) as caught:
            api.get("/broken/3")
    assert str(caught.value) == (
        "The body of GET /broken/{order_id} -> 200 (application/json) breaks the contract at $.total: "
        'type: expected number, got string "12".\n'
        "2 errors (best match first):\n"
        '  $.total: type: expected number, got string "12"\n'
        '  $.id: type: expected integer, got string "3"'
    )


def test_a_url_that_does_not_answer():
    url = f"http://127.0.0.1:{closed_port()}/openapi.json"
    with pytest.raises(ServiceUnavailable) as caught:
        ContractTest.from_openapi(url)
    assert str(caught.value) == (
        f"ContractTest.from_openapi could not fetch {url}: connection refused. Start the server that serves it "
        "first, check the URL, or pass the document as a dict or a file."
    )


def test_a_url_that_answers_with_an_error_status(echo_url):
    with pytest.raises(ConfigError) as caught:
        ContractTest.from_openapi(echo_url + "/openapi.json?status=404")
    assert str(caught.value) == (
        f"ContractTest.from_openapi fetched {echo_url}/openapi.json?status=404 and got HTTP 404, not the document. "
        "Check the URL (is the document served at that path?)."
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"openapi": "3.1.0", "paths": {}},
         "ContractTest.from_openapi: the dict given is not valid OpenAPI 3.1: at $: required: 'info' is missing. "
         "Fix the document (openapi-spec-validator shows every problem)."),
        ({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
          "paths": {"/a": {"get": {"responses": {"200": {"description": 3}}}}}},
         "ContractTest.from_openapi: the dict given is not valid OpenAPI 3.0: at $.paths[\"/a\"].get.responses"
         "[\"200\"]: oneOf: matches none of the 2 alternatives (#1 type: expected string, got integer 3; "
         "#2 required: '$ref' is missing). Fix the document (openapi-spec-validator shows every problem)."),
        ({"swagger": "2.0"},
         "ContractTest.from_openapi: the dict given is not an OpenAPI 3.0 or 3.1 document: it has no 'openapi' "
         "field. Give a document whose top level has openapi: 3.0.x or 3.1.x (Swagger 2.0 documents need "
         "converting)."),
        ({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
          "paths": {"/a": {"get": {"responses": {"404": {"$ref": "#/components/responses/Nope"}}}}}},
         "ContractTest.from_openapi: the dict given is not valid OpenAPI 3.1: the $ref '#/components/responses/Nope' "
         "points to nothing in the document. Fix the reference."),
    ],
    ids=["missing-info", "bad-response", "swagger-2", "dangling-ref"],
)
def test_a_document_that_is_not_valid_openapi_says_what_is_wrong(document, message):
    with pytest.raises(ConfigError) as caught:
        ContractTest.from_openapi(document)
    assert str(caught.value) == message


def test_an_unknown_component_schema(openapi30):
    with pytest.raises(ConfigError) as caught:
        openapi30.validate({}, "Ordr")
    assert str(caught.value) == (
        f"The OpenAPI contract {CONTRACTS / 'orders-3.0.yaml'} has no schema 'Ordr' under components/schemas. "
        "Did you mean 'Order'? Its schemas: Order, Problem."
    )
