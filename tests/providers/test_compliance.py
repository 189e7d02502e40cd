"""One compliance test, run against every provider: start -> endpoint, is_ready, logs, stop twice."""

import pytest

from harness.config import get_config
from harness.providers.docker import DockerProvider, docker_available
from harness.providers.external import ExternalProvider
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.registry import registry
from harness.services.base import Endpoint
from harness.services.postgres import SERVICE


def _local():
    return LocalProvider(SERVICE, get_config(), current_run())


def _external():
    return ExternalProvider(SERVICE, registry.acquire("postgres").url, timeout=5)


def _docker():
    available, reason = docker_available()
    if not available:
        pytest.skip(f"docker provider: {reason}")
    return DockerProvider(SERVICE, get_config(), current_run())


@pytest.mark.parametrize("make", [_local, _external, pytest.param(_docker, marks=pytest.mark.docker)],
                         ids=["local", "external", "docker"])
def test_provider_contract(make):
    provider = make()
    assert provider.is_ready() is False  # not started yet
    endpoint = provider.start()
    try:
        assert isinstance(endpoint, Endpoint)
        assert endpoint.service == "postgres" and endpoint.provider == provider.name
        SERVICE.probe(endpoint, timeout=5)  # a real query answers
        assert provider.is_ready() is True
        assert isinstance(provider.logs(), str)
    finally:
        provider.stop()
    provider.stop()  # safe twice
    assert provider.is_ready() is False
