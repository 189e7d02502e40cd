import pytest


@pytest.fixture()
def serve():
    """``serve(runner, env=None) -> url``: start ``runner``; every runner started so is stopped after the test."""
    started = []

    def serve(runner, env=None):
        started.append(runner)
        return runner.start(env or {})

    yield serve
    for runner in reversed(started):
        runner.stop()


@pytest.fixture(scope="module")
def fastapi_url():
    """The FastAPI test app, served once for the module."""
    from harness.http import ASGIApp

    runner = ASGIApp("tests.http.apps:fastapi_app", health_path="/health")
    yield runner.start({})
    runner.stop()


@pytest.fixture(scope="session")
def wiremock():
    """Real WireMock standalone (empty root dir), one per session; skipped, saying what to install, without it."""
    from tests.http.wiremock_server import WireMockServer, missing_reason

    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with WireMockServer() as server:
        yield server


@pytest.fixture()
def stub():
    """A running HTTPStub, stopped after the test."""
    from harness.http import HTTPStub

    with HTTPStub() as running:
        yield running
