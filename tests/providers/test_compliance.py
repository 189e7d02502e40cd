"""One compliance test, run against every provider of every service: start -> endpoint, is_ready, logs, stop twice.

Every registered service gets it, a third-party one (tests/echo_service) as much as harness's own.
"""

import pytest

from harness.config import get_config
from harness.providers.docker import DockerProvider, docker_available
from harness.providers.external import ExternalProvider
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.registry import get_service, registry
from harness.services.base import Endpoint
from harness.services.catalog import service_names


def _local(service):
    return LocalProvider(service, get_config(), current_run())


def _external(service):
    return ExternalProvider(service, registry.acquire(service.name).url, timeout=5)


def _docker(service):
    available, reason = docker_available()
    if not available:
        pytest.skip(f"docker provider: {reason}")
    return DockerProvider(service, get_config(), current_run())


@pytest.mark.parametrize("service_name", service_names())
@pytest.mark.parametrize("make", [_local, _external, pytest.param(_docker, marks=pytest.mark.docker)],
                         ids=["local", "external", "docker"])
def test_provider_contract(make, service_name):
    service = get_service(service_name)
    provider = make(service)
    assert provider.is_ready() is False  # not started yet
    endpoint = provider.start()
    try:
        assert isinstance(endpoint, Endpoint)
        assert endpoint.service == service_name and endpoint.provider == provider.name
        service.probe(endpoint, timeout=5)  # a real request answers
        assert provider.is_ready() is True
        assert isinstance(provider.logs(), str)
    finally:
        provider.stop()
    provider.stop()  # safe twice
    assert provider.is_ready() is False
