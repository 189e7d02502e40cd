"""HTTPStub against real WireMock: the same mapping corpus, the same requests, the same answers.

The corpus (tests/http/wiremock_corpus: mappings/, __files/, cases.json) is loaded two ways,
as WireMock-based suites do: POSTed one by one to ``/__admin/mappings`` ("admin"), and read
from a root directory with ``mappings/`` and ``__files/`` ("files": WireMock's ``--root-dir``,
HTTPStub's ``load_mappings``). Each case's outcome (status, reason, selected headers, body,
or the client-side fault) is first checked against cases.json on real WireMock, which keeps
the corpus honest, then HTTPStub's outcome must equal WireMock's case by case. A 404 (no
mapping matched) is compared by status only: the bodies are each server's own diagnosis.
"""

import base64
import importlib
import json
import shutil
from pathlib import Path

import pytest
import requests

from tests.http.helpers import refuses
from tests.http.wiremock_server import NPM_PREFIX, WireMockServer, find_jar, missing_reason

CORPUS = Path(__file__).resolve().parent / "wiremock_corpus"
CASES = json.loads((CORPUS / "cases.json").read_text())["cases"]
MAPPINGS = {path.stem: json.loads(path.read_text()) for path in sorted((CORPUS / "mappings").glob("*.json"))}
ROUTES = ("admin", "files")
# Journal fields a WireMock-based suite reads; each must be in every entry WireMock and HTTPStub return.
JOURNAL_ENTRY_KEYS = ("id", "request", "responseDefinition", "wasMatched")
JOURNAL_REQUEST_KEYS = ("url", "absoluteUrl", "method", "headers", "body", "loggedDate")
TIMEOUT = 10


def httpstub_class():
    """``harness.http.HTTPStub``, or skip saying it is not there yet."""
    http = importlib.import_module("harness.http")
    stub_class = getattr(http, "HTTPStub", None)
    if stub_class is None:
        pytest.skip("harness.http has no HTTPStub yet: the HTTPStub half of the WireMock comparison waits for it")
    return stub_class


def in_route(case, route):
    return route in case.get("routes", ROUTES)


def admin_mappings():
    """The mappings posted through the admin API: those whose body lives in __files need the files route."""
    return [mapping for mapping in MAPPINGS.values() if "bodyFileName" not in mapping["response"]]


def root_copy(tmp_path_factory):
    """A private copy of the corpus as a WireMock root dir (mappings/ and __files/)."""
    root = tmp_path_factory.mktemp("wiremock-root") / "root"
    shutil.copytree(CORPUS, root, ignore=shutil.ignore_patterns("cases.json"))
    return root


def post_mappings(base_url):
    """Reset, then POST every admin-route mapping, as a WireMock-based suite's seed fixture does."""
    assert requests.post(base_url + "/__admin/reset", timeout=TIMEOUT).status_code == 200
    for mapping in admin_mappings():
        answer = requests.post(base_url + "/__admin/mappings", json=mapping, timeout=TIMEOUT)
        assert answer.status_code == 201, f"{mapping['name']}: {answer.status_code} {answer.text[:500]}"


def root_cause(exc):
    """The innermost exception's class name: what the client saw (ConnectionResetError, RemoteDisconnected)."""
    while True:
        inner = next((arg for arg in exc.args if isinstance(arg, BaseException)), None) or exc.__cause__
        if inner is None:
            return type(exc).__name__
        exc = inner


def send(base_url, case):
    """One case's outcome as the client sees it."""
    request = case["request"]
    body = request.get("body")
    try:
        response = requests.request(
            request["method"], base_url + request["url"], headers=request.get("headers"),
            data=body.encode() if body is not None else None, json=request.get("json"), timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        return {"fault": f"{type(exc).__name__}/{root_cause(exc)}"}
    if response.status_code == 404:
        return {"status": 404}
    outcome = {
        "status": response.status_code,
        "reason": response.reason,
        "headers": {name: response.headers.get(name)
                    for name in ("Content-Type", *case["expect"].get("headers", {}))},
    }
    try:
        outcome["body"] = response.content.decode()
    except UnicodeDecodeError:
        outcome["base64"] = base64.b64encode(response.content).decode()
    try:
        outcome["json"] = response.json()
    except ValueError:
        pass
    return outcome


def run_corpus(base_url, route):
    return {case["name"]: send(base_url, case) for case in CASES if in_route(case, route)}


def unmet_expectations(outcomes):
    """Cases whose outcome differs from cases.json's expectation, described."""
    problems = []
    for case in CASES:
        if case["name"] not in outcomes:
            continue
        outcome = outcomes[case["name"]]
        for field, wanted in case["expect"].items():
            got = outcome.get(field)
            if field == "headers":
                got = {name: outcome.get("headers", {}).get(name) for name in wanted}
            if got != wanted:
                problems.append(f"{case['name']}: {field} {got!r}, expected {wanted!r} (outcome {outcome!r})")
    return problems


def differences(reference, candidate):
    """Cases where ``candidate``'s outcome differs from real WireMock's, described."""
    return [f"{name}:\n    WireMock {reference[name]!r}\n    HTTPStub {candidate.get(name)!r}"
            for name in reference if candidate.get(name) != reference[name]]


def journal_shape(base_url):
    """What a suite reads from ``GET /__admin/requests``: keys, counts, wasMatched, newest first."""
    journal = requests.get(base_url + "/__admin/requests", timeout=TIMEOUT).json()
    entries = journal["requests"]
    return {
        "keys": sorted({"requests", "meta"} & set(journal)),
        "total": journal["meta"]["total"],
        "count": len(entries),
        "matched": sum(entry["wasMatched"] is True for entry in entries),
        "unmatched": sum(entry["wasMatched"] is False for entry in entries),
        "entries lacking": sorted({key for entry in entries for key in JOURNAL_ENTRY_KEYS if key not in entry}),
        "requests lacking": sorted({key for entry in entries for key in JOURNAL_REQUEST_KEYS
                                    if key not in entry.get("request", {})}),
        "newest": [entry["request"]["url"] for entry in entries[:2]],
    }


def admin_totals(base_url):
    """Statuses and ``meta.total`` along create, get, delete one, delete all, reset."""
    def total():
        return requests.get(base_url + "/__admin/mappings", timeout=TIMEOUT).json()["meta"]["total"]

    steps = [("start", None, total())]
    created = [requests.post(base_url + "/__admin/mappings", json=MAPPINGS[name], timeout=TIMEOUT)
               for name in ("url-exact", "json-body", "fault-reset")]
    steps.append(("create 3", [answer.status_code for answer in created], total()))
    mapping_id = created[0].json()["id"]
    malformed = requests.post(base_url + "/__admin/mappings", data="{not json", timeout=TIMEOUT)
    unknown = requests.post(base_url + "/__admin/mappings", timeout=TIMEOUT,
                            json={"request": {"url": "/x", "methd": "GET"}, "response": {}})
    steps.append(("reject malformed, unknown field", [malformed.status_code, unknown.status_code], total()))
    steps.append(("created body has", sorted({"id", "request", "response"} & set(created[0].json())), None))
    one = base_url + f"/__admin/mappings/{mapping_id}"
    steps.append(("get one", requests.get(one, timeout=TIMEOUT).status_code, None))
    steps.append(("delete one", requests.delete(one, timeout=TIMEOUT).status_code, total()))
    steps.append(("get deleted", requests.get(one, timeout=TIMEOUT).status_code, None))
    steps.append(("delete all", requests.delete(base_url + "/__admin/mappings", timeout=TIMEOUT).status_code, total()))
    requests.post(base_url + "/__admin/mappings", json=MAPPINGS["json-body"], timeout=TIMEOUT)
    steps.append(("reset", requests.post(base_url + "/__admin/reset", timeout=TIMEOUT).status_code, total()))
    return steps


def files_reset_totals(base_url):
    """``meta.total`` of a server loaded from files along add one, reset, delete one, reset.

    Not DELETE /__admin/mappings: WireMock 3 then deletes the files in its root's mappings/ too.
    """
    def total():
        return requests.get(base_url + "/__admin/mappings", timeout=TIMEOUT).json()["meta"]["total"]

    totals = [total()]
    requests.post(base_url + "/__admin/mappings", json={"request": {"url": "/added"}, "response": {}}, timeout=TIMEOUT)
    totals.append(total())
    requests.post(base_url + "/__admin/reset", timeout=TIMEOUT)
    totals.append(total())
    first = requests.get(base_url + "/__admin/mappings", timeout=TIMEOUT).json()["mappings"][0]["id"]
    requests.delete(base_url + f"/__admin/mappings/{first}", timeout=TIMEOUT)
    totals.append(total())
    requests.post(base_url + "/__admin/reset", timeout=TIMEOUT)
    return [*totals, total()]


# --- real WireMock: the corpus's expectations hold ------------------------------------------------

@pytest.fixture(scope="module")
def wiremock_files(tmp_path_factory):
    """Real WireMock serving a copy of the corpus from its --root-dir."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with WireMockServer(root_dir=root_copy(tmp_path_factory)) as server:
        yield server


@pytest.fixture(scope="module")
def wiremock_outcomes(wiremock, wiremock_files):
    """Every case's outcome on real WireMock, per route."""
    post_mappings(wiremock.url)
    outcomes = {"admin": run_corpus(wiremock.url, "admin")}
    journal = journal_shape(wiremock.url)
    outcomes["files"] = run_corpus(wiremock_files.url, "files")
    return outcomes, journal


@pytest.mark.parametrize("route", ROUTES)
def test_corpus_expectations_hold_on_real_wiremock(wiremock_outcomes, route):
    outcomes, _ = wiremock_outcomes
    assert len(outcomes[route]) >= len(CASES) - 2
    problems = unmet_expectations(outcomes[route])
    assert not problems, f"{len(problems)} case(s) not as cases.json expects:\n" + "\n".join(problems)


def test_wiremock_journal_records_every_case_newest_first(wiremock_outcomes):
    outcomes, journal = wiremock_outcomes
    misses = sum(outcome.get("status") == 404 for outcome in outcomes["admin"].values())
    assert journal == {
        "keys": ["meta", "requests"], "total": len(outcomes["admin"]), "count": len(outcomes["admin"]),
        "matched": len(outcomes["admin"]) - misses, "unmatched": misses,
        "entries lacking": [], "requests lacking": [],
        "newest": [case["request"]["url"] for case in reversed(CASES) if in_route(case, "admin")][:2],
    }


def test_wiremock_admin_totals_after_create_delete_reset(wiremock, wiremock_files):
    requests.post(wiremock.url + "/__admin/reset", timeout=TIMEOUT)
    assert admin_totals(wiremock.url) == [
        ("start", None, 0), ("create 3", [201, 201, 201], 3),
        ("reject malformed, unknown field", [422, 422], 3), ("created body has", ["id", "request", "response"], None),
        ("get one", 200, None), ("delete one", 200, 2), ("get deleted", 404, None), ("delete all", 200, 0),
        ("reset", 200, 0),
    ]
    # Reset goes back to the mappings read from the root dir, not to none.
    assert files_reset_totals(wiremock_files.url) == [len(MAPPINGS) + step for step in (0, 1, 0, -1, 0)]


# --- HTTPStub: the same answers as real WireMock -------------------------------------------------

@pytest.fixture(scope="module")
def httpstub_outcomes(tmp_path_factory):
    """Every case's outcome on HTTPStub, per route, and its journal after the admin route."""
    stub_class = httpstub_class()
    with stub_class(strict=False) as stub:
        post_mappings(stub.url)
        outcomes = {"admin": run_corpus(stub.url, "admin")}
        journal = journal_shape(stub.url)
    with stub_class(strict=False) as stub:
        stub.load_mappings(root_copy(tmp_path_factory))
        outcomes["files"] = run_corpus(stub.url, "files")
    return outcomes, journal


@pytest.mark.parametrize("route", ROUTES)
def test_httpstub_answers_every_case_as_wiremock_does(wiremock_outcomes, httpstub_outcomes, route):
    found = differences(wiremock_outcomes[0][route], httpstub_outcomes[0][route])
    assert not found, f"{len(found)} case(s) answered unlike WireMock:\n" + "\n".join(found)


def test_httpstub_journal_has_wiremocks_shape(wiremock_outcomes, httpstub_outcomes):
    assert httpstub_outcomes[1] == wiremock_outcomes[1]


def test_httpstub_admin_totals_follow_wiremocks(wiremock, tmp_path_factory):
    stub_class = httpstub_class()
    requests.post(wiremock.url + "/__admin/reset", timeout=TIMEOUT)
    with stub_class(strict=False) as stub:
        assert admin_totals(stub.url) == admin_totals(wiremock.url)
    with stub_class(strict=False) as stub:
        stub.load_mappings(root_copy(tmp_path_factory))
        assert files_reset_totals(stub.url) == [len(MAPPINGS) + step for step in (0, 1, 0, -1, 0)]


# --- the WireMock helper itself -------------------------------------------------------------------

def test_missing_java_is_a_skip_reason_naming_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert missing_reason().startswith("real WireMock needs Java: install a JRE 11+")


def test_missing_jar_is_a_skip_reason_naming_the_npm_install(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_WIREMOCK_JAR", str(tmp_path / "absent.jar"))
    assert find_jar() is None
    if missing_reason() is not None and "Java" in missing_reason():
        pytest.skip(missing_reason())
    assert missing_reason() == (f"HARNESS_WIREMOCK_JAR={tmp_path / 'absent.jar'} is not a file: install WireMock's "
                                f"standalone jar with `npm install --prefix {NPM_PREFIX} wiremock` or set "
                                "HARNESS_WIREMOCK_JAR to a wiremock-standalone-*.jar")


def test_stopped_wiremock_leaves_no_process_port_or_directory():
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = WireMockServer().start()
    port = int(server.url.rsplit(":", 1)[1])
    process, own_root = server._process, Path(server._own_root)
    server.stop()
    server.stop()
    assert process.poll() is not None
    assert refuses(port)
    assert not own_root.exists()


def test_a_wiremock_that_cannot_start_fails_with_its_log_and_leaves_nothing(monkeypatch, tmp_path):
    if missing_reason() is not None and "Java" in missing_reason():
        pytest.skip(missing_reason())
    not_a_jar = tmp_path / "wiremock-standalone-0.0.0.jar"
    not_a_jar.write_text("not a jar")
    monkeypatch.setenv("HARNESS_WIREMOCK_JAR", str(not_a_jar))
    server = WireMockServer()
    with pytest.raises(RuntimeError, match=r"WireMock did not start on port \d+; its log:\n.*corrupt jarfile"):
        server.start()
    assert server._process is None and server._own_root is None
