import pytest

from harness import ServiceUnavailable
from harness.config import IntegrationTestConfig
from harness.errors import ConfigError
from harness.registry import Registry, choose_provider, get_service, registry
from harness.services import postgres
from harness.services.catalog import service_names
from tests.helpers import servers_of_run


def test_a_service_is_started_once_and_reused():
    first = registry.acquire("postgres")
    before = registry.references(first)
    second = registry.acquire("postgres")
    assert second is first
    assert registry.references(first) == before + 1
    registry.release(second)
    assert registry.references(first) == before
    from harness.providers.rundir import current_run

    servers = [line for line in servers_of_run(current_run().owner_pid) if f"-p {first.port} " in line]
    assert len(servers) == 1


def test_unknown_service_suggests_a_known_one():
    with pytest.raises(ConfigError) as excinfo:
        get_service("postgre")
    assert str(excinfo.value) == (
        f"Unknown service 'postgre'; registered services: {', '.join(service_names())}. Did you mean 'postgres'? "
        "A service is registered in the 'harness.services' entry-point group of an installed package (is the "
        "package that provides it installed?)."
    )


@pytest.fixture()
def machine_without_postgres(monkeypatch, tmp_path):
    """This machine as if no PostgreSQL were installed and no Docker daemon answered."""
    monkeypatch.setattr(postgres, "_system_bin_dirs", lambda: [])
    monkeypatch.setattr(postgres, "_embedded_bin_dir", lambda: None)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")


def test_no_provider_lists_what_was_tried_and_how_to_install_each(machine_without_postgres, tmp_path):
    with pytest.raises(ServiceUnavailable) as excinfo:
        choose_provider(postgres.SERVICE, IntegrationTestConfig())
    message = str(excinfo.value)
    assert message.startswith("No provider can give postgres (HARNESS_PROVIDER=auto tried external, local, docker):")
    assert "  - external: HARNESS_POSTGRES_URL is not set. To use it: set HARNESS_POSTGRES_URL=" in message
    assert "  - local: no binary (tried postgres on PATH; /usr/lib/postgresql/*/bin;" in message
    assert "pip install 'harness[embedded]'" in message and "apt-get install postgresql" in message
    assert f"  - docker: no Docker daemon answered at {tmp_path}/docker.sock" in message
    assert "pip install 'harness[docker]'" in message


def test_asking_for_local_without_binaries_says_how_to_get_them(machine_without_postgres):
    from harness.providers.local import LocalProvider
    from harness.providers.rundir import current_run

    with pytest.raises(ServiceUnavailable) as excinfo:
        LocalProvider(postgres.SERVICE, IntegrationTestConfig(provider="local"), current_run()).start()
    assert str(excinfo.value).startswith("No local postgres binary found (tried: postgres on PATH; ")
    assert "To fix: install PostgreSQL server binaries" in str(excinfo.value)


def test_asking_for_external_without_a_url_is_explained():
    with pytest.raises(ServiceUnavailable, match="HARNESS_POSTGRES_URL is not set"):
        Registry().acquire("postgres", IntegrationTestConfig(postgres_provider="external"))


def test_auto_prefers_a_configured_url():
    config = IntegrationTestConfig(postgres_url="postgresql://u@127.0.0.1:1/x")
    assert choose_provider(postgres.SERVICE, config) == "external"
    assert choose_provider(postgres.SERVICE, IntegrationTestConfig()) == "local"


FAILING_STOP = """
from harness.errors import ServiceStopError
from harness.services.catalog import service_names
from harness.registry import registry

registry.acquire("redis")
registry.acquire("kafka")
[redis_key] = [key for key in registry._providers if key.startswith("redis-")]

def broken_stop():
    raise OSError("the disk went away")

registry._providers[redis_key].stop = broken_stop
try:
    registry.shutdown()
except ServiceStopError as exc:
    print(exc)
"""


def test_one_servers_stop_failing_does_not_skip_the_others(tmp_path):
    from tests.helpers import assert_nothing_left, run_python, write

    write(tmp_path, "child.py", FAILING_STOP)
    result = run_python(["child.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "Ending the run failed for these (everything else was cleaned up and stopped, and the run's directory "
        "and recorded processes were removed):\n  redis-local-"
    ), result.stdout
    assert "(local): OSError: the disk went away" in result.stdout
    assert_nothing_left(result)  # Kafka was stopped, and so was Redis, from the run's records
