"""WireMock mappings on HTTPStub: request matchers, response fields, priority, scenarios, files, the admin API."""

import base64
import json

import pytest
import requests

from harness import ConfigError, HTTPStub


def add(stub, request, response=None, **extra):
    """POST one mapping to the stub's admin API, as a WireMock client does; returns the mapping it echoes."""
    reply = requests.post(stub.url + "/__admin/mappings",
                          json={"request": request, "response": response or {"status": 200, "body": "hit"}, **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()


def status(stub, method, url, **kwargs):
    return requests.request(method, stub.url + url, **kwargs).status_code


@pytest.mark.parametrize(("request_pattern", "url", "expected"), [
    ({"url": "/a?b=1"}, "/a?b=1", 200),
    ({"url": "/a"}, "/a?b=1", 404),                      # url includes the query
    ({"urlPath": "/a"}, "/a?b=1", 200),                  # urlPath does not
    ({"urlPattern": "/a\\?b=\\d"}, "/a?b=1", 200),
    ({"urlPattern": "/a"}, "/a?b=1", 404),               # regexes match the whole of it
    ({"urlPathPattern": "/users/[0-9]+"}, "/users/12?x=y", 200),
    ({"urlPathPattern": "/users/[0-9]+"}, "/users/12/orders", 404),
    ({}, "/anything/at/all", 200),
    ({"urlPathTemplate": "/users/{id}/orders/{order}"}, "/users/7/orders/a%20b?x=1", 200),
    ({"urlPathTemplate": "/users/{id}"}, "/users/7/orders", 404),
    ({"urlPathTemplate": "/users/{id}"}, "/users/", 404),
    ({"urlPathTemplate": "/u.{id}", "pathParameters": {"id": {"equalTo": "a b"}}}, "/u.a%20b", 200),
    ({"urlPathTemplate": "/u.{id}"}, "/uX7", 404),                # the template's text is literal
    ({"urlPathTemplate": "/users/{id}", "pathParameters": {"id": {"matches": "[0-9]+"}}}, "/users/7", 200),
    ({"urlPathTemplate": "/users/{id}", "pathParameters": {"id": {"matches": "[0-9]+"}}}, "/users/x", 404),
])
def test_url_matchers(stub, request_pattern, url, expected):
    add(stub, {"method": "GET", **request_pattern})
    assert status(stub, "GET", url) == expected


def test_method_any_and_a_missing_method_match_every_method(stub):
    add(stub, {"method": "ANY", "urlPath": "/any"})
    add(stub, {"urlPath": "/none"})
    assert [status(stub, method, path) for method in ("GET", "DELETE") for path in ("/any", "/none")] == [200] * 4


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ({"equalTo": "Ada"}, "Ada", 200),
    ({"equalTo": "Ada"}, "ada", 404),
    ({"equalTo": "Ada", "caseInsensitive": True}, "ADA", 200),
    ({"contains": "d"}, "Ada", 200),
    ({"contains": "x"}, "Ada", 404),
    ({"doesNotContain": "x"}, "Ada", 200),
    ({"matches": "[A-Z][a-z]+"}, "Ada", 200),
    ({"matches": "[a-z]+"}, "Ada", 404),
    ({"doesNotMatch": "[a-z]+"}, "Ada", 200),
    ({"absent": True}, None, 200),
    ({"absent": True}, "Ada", 404),
    ({"absent": False}, "Ada", 200),
])
def test_query_and_header_value_patterns(stub, pattern, value, expected):
    add(stub, {"method": "GET", "urlPath": "/q", "queryParameters": {"name": pattern}})
    add(stub, {"method": "GET", "urlPath": "/h", "headers": {"X-Name": pattern}})
    assert status(stub, "GET", "/q", params={} if value is None else {"name": value}) == expected
    assert status(stub, "GET", "/h", headers={} if value is None else {"x-name": value}) == expected


def test_a_repeated_query_parameter_matches_when_one_value_does(stub):
    add(stub, {"urlPath": "/q", "queryParameters": {"tag": {"equalTo": "b"}}})
    assert status(stub, "GET", "/q?tag=a&tag=b") == 200


@pytest.mark.parametrize(("pattern", "body", "expected"), [
    ({"equalTo": "hello"}, "hello", 200),
    ({"contains": "ell"}, "hello", 200),
    ({"matches": "h.*o"}, "hello", 200),
    ({"doesNotMatch": "h.*o"}, "hello", 404),
    ({"equalToJson": {"a": 1, "b": [1, 2]}}, '{"b": [1, 2], "a": 1}', 200),
    ({"equalToJson": '{"a": 1, "b": [1, 2]}'}, '{"a": 1, "b": [1, 2]}', 200),          # given as a string
    ({"equalToJson": {"a": 1}}, '{"a": 1, "c": 3}', 404),                              # extra field
    ({"equalToJson": {"a": 1}, "ignoreExtraElements": True}, '{"a": 1, "c": 3}', 200),
    ({"equalToJson": {"b": [1, 2]}, "ignoreExtraElements": True}, '{"b": [1, 2, 3]}', 200),  # extra items too
    ({"equalToJson": {"b": [1, 2]}}, '{"b": [2, 1]}', 404),
    ({"equalToJson": {"b": [1, 2]}, "ignoreArrayOrder": True}, '{"b": [2, 1]}', 200),
    ({"equalToJson": {"a": 1}}, "not json", 404),
    ({"equalToJson": {"id": "${json-unit.any-number}", "name": "${json-unit.any-string}",
                      "ok": "${json-unit.any-boolean}", "at": "${json-unit.ignore}",
                      "code": "${json-unit.regex}[A-Z]{2}"}},
     '{"id": 7, "name": "Ada", "ok": false, "at": [1], "code": "EU"}', 200),
    ({"equalToJson": {"id": "${json-unit.any-number}"}}, '{"id": "7"}', 404),
    ({"equalToJson": {"id": "${json-unit.any-number}"}}, '{"id": true}', 404),
    ({"equalToJson": {"code": "${json-unit.regex}[A-Z]{2}"}}, '{"code": "EUR"}', 404),
    ({"matchesJsonPath": "$.items[?(@.price > 10)]"}, '{"items": [{"price": 15}]}', 200),
    ({"matchesJsonPath": "$.items[?(@.price > 10)]"}, '{"items": [{"price": 5}]}', 404),
    ({"matchesJsonPath": "$.name"}, '{"id": 1}', 404),
    ({"matchesJsonPath": "$.name"}, '{"name": ""}', 200),
    *[({"matchesJsonPath": "$.name"}, f'{{"name": {empty}}}', 404) for empty in ("null", "[]", "{}")],  # as WireMock
    ({"matchesJsonPath": {"expression": "$.name", "equalTo": "Ada"}}, '{"name": "Ada"}', 200),
    ({"matchesJsonPath": {"expression": "$.name", "contains": "x"}}, '{"name": "Ada"}', 404),
    ({"matchesJsonPath": {"expression": "$.user", "equalToJson": {"id": 1}}}, '{"user": {"id": 1}}', 200),
])
def test_body_patterns(stub, pattern, body, expected):
    add(stub, {"method": "POST", "urlPath": "/b", "bodyPatterns": [pattern]})
    assert status(stub, "POST", "/b", data=body) == expected


def test_every_body_pattern_must_match(stub):
    add(stub, {"method": "POST", "urlPath": "/b", "bodyPatterns": [{"contains": "a"}, {"contains": "z"}]})
    assert (status(stub, "POST", "/b", data="az"), status(stub, "POST", "/b", data="a")) == (200, 404)


def test_response_fields(stub, tmp_path):
    add(stub, {"urlPath": "/text"}, {"status": 202, "statusMessage": "Taken", "body": "ok",
                                     "headers": {"X-One": "1", "X-Many": ["a", "b"]}})
    add(stub, {"urlPath": "/json"}, {"jsonBody": {"id": 1}, "headers": {"Content-Type": "application/json"}})
    add(stub, {"urlPath": "/bytes"}, {"base64Body": base64.b64encode(b"\x00\x01").decode()})
    add(stub, {"urlPath": "/slow"}, {"body": "late", "fixedDelayMilliseconds": 20})
    text = requests.get(stub.url + "/text")
    assert (text.status_code, text.reason, text.text, text.headers["X-One"]) == (202, "Taken", "ok", "1")
    assert text.raw.headers.getlist("X-Many") == ["a", "b"]
    assert requests.get(stub.url + "/json").json() == {"id": 1}
    assert requests.get(stub.url + "/bytes").content == b"\x00\x01"
    assert requests.get(stub.url + "/slow").text == "late"


@pytest.mark.parametrize(("fault", "error"), [
    ("CONNECTION_RESET_BY_PEER", requests.ConnectionError),
    ("EMPTY_RESPONSE", requests.ConnectionError),
    ("RANDOM_DATA_THEN_CLOSE", requests.ConnectionError),
    ("MALFORMED_RESPONSE_CHUNK", requests.exceptions.ChunkedEncodingError),
])
def test_faults(stub, fault, error):
    add(stub, {"urlPath": "/f"}, {"fault": fault})
    with requests.Session() as session, pytest.raises(error):
        session.get(stub.url + "/f")


def test_lower_priority_number_wins_then_the_most_recent(stub):
    add(stub, {"urlPathPattern": "/p/.*"}, {"body": "catch-all"}, priority=10)
    add(stub, {"urlPath": "/p/1"}, {"body": "first"}, priority=1)
    add(stub, {"urlPath": "/p/1"}, {"body": "later, lower priority"}, priority=2)
    add(stub, {"urlPath": "/p/2"}, {"body": "older"})
    add(stub, {"urlPath": "/p/2"}, {"body": "newer"})
    assert [requests.get(stub.url + f"/p/{n}").text for n in (1, 2, 3)] == ["first", "newer", "catch-all"]


def test_a_scenario_moves_through_its_states(stub):
    scenario = {"scenarioName": "retry"}
    add(stub, {"urlPath": "/pay"}, {"status": 503}, requiredScenarioState="Started", newScenarioState="failed once",
        **scenario)
    add(stub, {"urlPath": "/pay"}, {"status": 200}, requiredScenarioState="failed once", **scenario)
    assert [status(stub, "GET", "/pay") for _ in range(3)] == [503, 200, 200]
    assert requests.post(stub.url + "/__admin/scenarios/reset").status_code == 200
    assert status(stub, "GET", "/pay") == 503


def test_admin_mappings_create_list_get_and_delete(stub):
    created = add(stub, {"urlPath": "/one"}, {"body": "1"}, name="one")
    assert created["id"] == created["uuid"] and created["name"] == "one"
    assert created["response"] == {"status": 200, "body": "1"}  # echoed with WireMock's default status
    served = requests.get(stub.url + "/one")
    assert (served.headers["Matched-Stub-Id"], served.headers["Matched-Stub-Name"]) == (created["id"], "one")
    given = add(stub, {"urlPath": "/two"}, id="8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7")
    assert given["id"] == "8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7"
    listed = requests.get(stub.url + "/__admin/mappings").json()
    assert [m["id"] for m in listed["mappings"]] == [given["id"], created["id"]] and listed["meta"] == {"total": 2}
    assert requests.get(stub.url + f"/__admin/mappings/{created['id']}").json()["request"] == {"urlPath": "/one"}
    edited = requests.put(stub.url + f"/__admin/mappings/{created['id']}",
                          json={"request": {"urlPath": "/uno"}, "response": {"body": "edited"}})
    assert (edited.status_code, edited.json()["id"]) == (200, created["id"])
    assert (requests.get(stub.url + "/uno").text, status(stub, "GET", "/one")) == ("edited", 404)
    bad_edit = requests.put(stub.url + f"/__admin/mappings/{created['id']}", json={"request": {"uri": "/"}})
    assert bad_edit.status_code == 422
    assert requests.delete(stub.url + f"/__admin/mappings/{created['id']}").json() == {}
    missing = requests.delete(stub.url + f"/__admin/mappings/{created['id']}")
    assert (missing.status_code, missing.json()) == (
        404, {"errors": [{"code": 404, "title": f"No stub mapping with id {created['id']}"}]})
    assert requests.get(stub.url + f"/__admin/mappings/{created['id']}").status_code == 404
    assert requests.delete(stub.url + "/__admin/mappings").status_code == 200
    assert requests.get(stub.url + "/__admin/mappings").json() == {"mappings": [], "meta": {"total": 0}}


def test_admin_requests_is_the_journal_newest_first(stub):
    mapping = add(stub, {"method": "POST", "urlPath": "/a"}, {"status": 201})
    requests.post(stub.url + "/a?x=1", data="hi", headers={"X-Id": "7"})
    requests.get(stub.url + "/missing")
    journal = requests.get(stub.url + "/__admin/requests").json()
    assert journal["meta"] == {"total": 2}
    missing, hit = journal["requests"]
    assert (missing["wasMatched"], missing["request"]["url"], missing["responseDefinition"]) == (
        False, "/missing", {"status": 404, "fromConfiguredStub": False})
    assert missing["response"]["status"] == 404 and missing["response"]["body"].startswith("Request was not matched")
    assert hit["wasMatched"] and hit["stubMapping"]["id"] == mapping["id"]
    assert hit["responseDefinition"] == {"status": 201}
    assert hit["response"] == {"status": 201, "body": "", "bodyAsBase64": ""}
    logged = hit["request"]
    assert (logged["method"], logged["url"], logged["absoluteUrl"]) == ("POST", "/a?x=1", stub.url + "/a?x=1")
    assert (logged["protocol"], logged["scheme"], logged["host"], logged["port"]) == (
        "HTTP/1.1", "http", "127.0.0.1", int(stub.url.rsplit(":", 1)[1]))
    assert logged["queryParams"] == {"x": {"key": "x", "values": ["1"]}}
    assert (logged["body"], logged["bodyAsBase64"], logged["headers"]["X-Id"]) == ("hi", "aGk=", "7")
    assert isinstance(logged["loggedDate"], int) and logged["loggedDateString"].endswith("Z")
    unmatched = requests.get(stub.url + "/__admin/requests/unmatched").json()
    assert [logged["url"] for logged in unmatched["requests"]] == ["/missing"]
    assert requests.delete(stub.url + "/__admin/requests").status_code == 200
    assert stub.requests == []


def test_admin_reset_keeps_file_mappings_and_forgets_the_rest(stub, tmp_path):
    _write(tmp_path / "mappings" / "ping.json", {"request": {"urlPath": "/ping"}, "response": {"body": "pong"}})
    stub.load_mappings(tmp_path / "mappings")
    add(stub, {"urlPath": "/posted"})
    requests.get(stub.url + "/posted")
    for endpoint in ("/__admin/mappings/reset", "/__admin/reset"):  # the same in WireMock
        requests.get(stub.url + "/posted")
        reply = requests.post(stub.url + endpoint)
        assert (reply.status_code, reply.json(), stub.requests) == (200, {}, [])
        assert (status(stub, "GET", "/ping"), status(stub, "GET", "/posted")) == (200, 404)
        add(stub, {"urlPath": "/posted"})


def test_a_reset_brings_back_file_mappings_even_deleted_ones(stub, tmp_path):
    # As WireMock's reset; and stub.reset() (each test's, under ServiceIntegrationTest) too, so that
    # mappings loaded once for a class outlive every test.
    _write(tmp_path / "mappings" / "ping.json", {"id": "0f6bd2a4-6b7e-4b8e-9a35-1d1f5b6c2a10",
                                                 "request": {"urlPath": "/ping"}, "response": {"body": "pong"}})
    stub.load_mappings(tmp_path / "mappings")
    for reset in (lambda: requests.post(stub.url + "/__admin/reset"), stub.reset):
        deleted = requests.delete(stub.url + "/__admin/mappings/0f6bd2a4-6b7e-4b8e-9a35-1d1f5b6c2a10")
        assert (deleted.status_code, status(stub, "GET", "/ping")) == (200, 404)
        stub.when("GET", "/other").respond(body="x")
        reset()
        assert (status(stub, "GET", "/ping"), status(stub, "GET", "/other")) == (200, 404)


def test_an_unknown_admin_endpoint_is_404(stub):
    reply = requests.get(stub.url + "/__admin/nothing")
    assert reply.status_code == 404
    assert reply.json() == {"errors": [{"code": 404, "title": "HTTPStub has no admin endpoint GET /__admin/nothing"}]}


@pytest.mark.parametrize(("mapping", "title"), [
    ({"request": {"urlPath": "/x", "cookies": {}}, "response": {}},
     "mapping.request has 'cookies', which HTTPStub does not support (it knows bodyPatterns, headers, method, "
     "pathParameters, queryParameters, url, urlPath, urlPathPattern, urlPathTemplate, urlPattern); remove it or use "
     "real WireMock for this mapping."),
    ({"request": {}, "response": {"transformers": ["response-template"]}},
     "mapping.response has 'transformers', which HTTPStub does not support (it knows base64Body, body, bodyFileName, "
     "fault, fixedDelayMilliseconds, headers, jsonBody, status, statusMessage); remove it or use real WireMock for "
     "this mapping."),
    ({"request": {"bodyPatterns": [{"equalToXml": "<a/>"}]}, "response": {}},
     "mapping.request.bodyPatterns[0] must be an object with one of equalTo, contains, doesNotContain, matches, "
     "doesNotMatch, absent, equalToJson, matchesJsonPath (e.g. {\"equalTo\": \"x\"}), got {'equalToXml': '<a/>'}."),
    ({"request": {"bodyPatterns": [{"matchesJsonSubset": {}}]}, "response": {}},
     "mapping.request.bodyPatterns[0] must be an object with one of equalTo, contains, doesNotContain, matches, "
     "doesNotMatch, absent, equalToJson, matchesJsonPath (e.g. {\"equalTo\": \"x\"}), got {'matchesJsonSubset': {}}."),
    ({"request": {"headers": {"A": {"equalTo": "x", "caseSensitive": True}}}, "response": {}},
     "mapping.request.headers.A has 'caseSensitive', which HTTPStub does not support (it knows caseInsensitive, "
     "equalTo); remove it or use real WireMock for this mapping."),
    ({"request": {"url": "/a", "urlPath": "/a"}, "response": {}},
     "mapping.request has ['url', 'urlPath']: give only one of url, urlPath, urlPattern, urlPathPattern, "
     "urlPathTemplate."),
    ({"request": {"urlPath": "/a", "pathParameters": {}}, "response": {}},
     "mapping.request has pathParameters without a urlPathTemplate (e.g. \"/users/{id}\") to name them."),
    ({"request": {"urlPathTemplate": "/a/{id}", "pathParameters": {"ids": {"equalTo": "1"}}}, "response": {}},
     "mapping.request.pathParameters has ['ids'], which '/a/{id}' does not name; it names ['id']."),
    ({"request": {"urlPattern": "("}, "response": {}},
     "mapping.request.urlPattern: '(' is not a regular expression (missing ), unterminated subpattern at "
     "position 0)."),
    ({"request": {"bodyPatterns": [{"matchesJsonPath": "$[["}]}, "response": {}},
     None),
    ({"request": {}, "response": {"fault": "BOOM"}},
     "mapping.response.fault 'BOOM' is not one HTTPStub supports; use one of CONNECTION_RESET_BY_PEER, "
     "EMPTY_RESPONSE, RANDOM_DATA_THEN_CLOSE, MALFORMED_RESPONSE_CHUNK."),
    ({"request": {}, "response": {"fault": "NO_RESPONSE"}},
     "mapping.response.fault 'NO_RESPONSE' is not one HTTPStub supports; use one of CONNECTION_RESET_BY_PEER, "
     "EMPTY_RESPONSE, RANDOM_DATA_THEN_CLOSE, MALFORMED_RESPONSE_CHUNK."),
    ({"request": {}, "response": {"body": "a", "jsonBody": {}}},
     "mapping.response has ['body', 'jsonBody']: give only one of body, jsonBody, base64Body, bodyFileName."),
    ({"request": {}, "response": {"bodyFileName": "a.json"}},
     "mapping.response.bodyFileName 'a.json' has no __files directory to be read from; load the mapping with "
     "HTTPStub.load_mappings(directory) (files in directory/../__files), or use body."),
    ({"request": {}, "response": {}, "priority": "high"},
     "mapping.priority must be an integer (lower wins), got 'high'."),
    ({"request": {}, "response": {}, "newScenarioState": "x"},
     "mapping has a scenario state but no scenarioName; add \"scenarioName\"."),
    ({"request": {}, "response": {}, "postServeActions": []},
     "mapping has 'postServeActions', which HTTPStub does not support (it knows id, metadata, name, "
     "newScenarioState, persistent, priority, request, requiredScenarioState, response, scenarioName, uuid); "
     "remove it or use real WireMock for this mapping."),
])
def test_a_mapping_with_what_httpstub_does_not_support_is_refused_with_422(stub, mapping, title):
    reply = requests.post(stub.url + "/__admin/mappings", json=mapping)
    assert reply.status_code == 422
    (error,) = reply.json()["errors"]
    if title is None:
        assert error["title"].startswith("mapping.request.bodyPatterns[0].matchesJsonPath: '$[[' is not a JSONPath")
    else:
        assert error["title"] == title
    assert requests.get(stub.url + "/__admin/mappings").json()["meta"] == {"total": 0}


def test_a_body_that_is_not_json_is_refused_with_422(stub):
    reply = requests.post(stub.url + "/__admin/mappings", data="{")
    assert reply.status_code == 422 and "Expecting" in reply.json()["errors"][0]["title"]


def test_load_mappings_reads_single_and_multi_mapping_files_and_body_files(tmp_path):
    _write(tmp_path / "mappings" / "a.json", {"request": {"urlPath": "/file"},
                                              "response": {"bodyFileName": "users/1.json"}})
    _write(tmp_path / "mappings" / "b.json", {"mappings": [
        {"request": {"urlPath": "/b1"}, "response": {"body": "b1"}},
        {"request": {"urlPath": "/b2"}, "response": {"body": "b2"}}]})
    _write(tmp_path / "__files" / "users" / "1.json", {"id": 1})
    (tmp_path / "mappings" / "notes.txt").write_text("not a mapping")
    with HTTPStub() as stub:
        loaded = stub.load_mappings(tmp_path / "mappings")
        assert [m["request"]["urlPath"] for m in loaded] == ["/file", "/b1", "/b2"]
        assert requests.get(stub.url + "/file").json() == {"id": 1}
        assert [requests.get(stub.url + p).text for p in ("/b1", "/b2")] == ["b1", "b2"]
        # a mapping posted later reads its body file from the same __files
        add(stub, {"urlPath": "/posted"}, {"bodyFileName": "users/1.json"})
        assert requests.get(stub.url + "/posted").json() == {"id": 1}


def test_load_mappings_takes_the_root_directory_too(tmp_path):
    _write(tmp_path / "mappings" / "a.json", {"request": {"urlPath": "/a"}, "response": {"body": "a"}})
    with HTTPStub() as stub:
        stub.load_mappings(tmp_path)
        assert requests.get(stub.url + "/a").text == "a"


@pytest.mark.parametrize(("files", "message"), [
    ({"mappings/bad.json": "{"}, "WireMock mapping file {root}/mappings/bad.json is not JSON: Expecting property "
                                 "name enclosed in double quotes: line 1 column 2 (char 1)."),
    ({"mappings/x.json": json.dumps({"mappings": [{"request": {}, "response": {}},
                                                  {"request": {"bodyPattern": []}, "response": {}}]})},
     "x.json mappings[1].request has 'bodyPattern', which HTTPStub does not support (it knows bodyPatterns, headers, "
     "method, pathParameters, queryParameters, url, urlPath, urlPathPattern, urlPathTemplate, urlPattern); remove it "
     "or use real WireMock for this mapping."),
    ({"mappings/f.json": json.dumps({"request": {}, "response": {"bodyFileName": "../secret"}}), "__files/x": ""},
     "f.json.response.bodyFileName '../secret' is not a file in {root}/__files."),
])
def test_load_mappings_refuses_bad_files_naming_them(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with HTTPStub() as stub:
        with pytest.raises(ConfigError) as raised:
            stub.load_mappings(tmp_path / "mappings")
        assert str(raised.value) == message.format(root=tmp_path)
        assert stub.requests == [] and requests.get(stub.url + "/__admin/mappings").json()["meta"]["total"] == 0


def test_load_mappings_needs_an_existing_directory(tmp_path):
    with HTTPStub() as stub, pytest.raises(ConfigError) as raised:
        stub.load_mappings(tmp_path / "nowhere")
    assert str(raised.value) == (f"WireMock mappings directory {str(tmp_path / 'nowhere')!r} does not exist; "
                                 "give the mappings/ folder.")


def test_add_mapping_is_the_admin_post_in_python(stub):
    mapping = stub.add_mapping({"request": {"method": "GET", "url": "/py"}, "response": {"body": "py"}})
    assert requests.get(stub.url + "/py").text == "py"
    assert requests.get(stub.url + "/__admin/mappings").json()["mappings"] == [mapping]


def _write(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def test_a_request_kept_out_by_a_scenario_state_says_so(stub):
    add(stub, {"urlPath": "/later"}, scenarioName="flow", requiredScenarioState="done")
    response = requests.get(stub.url + "/later")
    assert response.status_code == 404
    assert response.text.endswith("closest route 1: path /later\n      differs: scenario 'flow' is not in state 'done'")
