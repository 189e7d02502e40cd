import harness.http
import harness.http.capture
import harness.http.client
import harness.http.inprocess
import harness.http.process
import harness.http.runner
import harness.http.stub
import harness.http.stub_matching
import harness.http.stub_registry
import harness.http.stub_server
import harness.http.wiremock


def test_all_is_sorted_and_lists_exactly_the_public_names():
    assert harness.http.__all__ == sorted(harness.http.__all__)
    assert set(harness.http.__all__) == {"APITestClient", "ASGIApp", "AppProcess", "HTTPStub", "WSGIApp"}
    for name in harness.http.__all__:
        assert getattr(harness.http, name) is not None


def test_each_module_lists_what_it_defines():
    for module in (harness.http.capture, harness.http.client, harness.http.inprocess, harness.http.process,
                   harness.http.runner, harness.http.stub, harness.http.stub_matching, harness.http.stub_registry,
                   harness.http.stub_server, harness.http.wiremock):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            if not name.isupper():  # constants have no __module__
                assert getattr(module, name).__module__ == module.__name__
