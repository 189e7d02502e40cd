"""The docker provider's wiring, with the Docker daemon (a collaborator we do not own) faked."""

import json

import pytest

from harness import ServiceStartError, ServiceUnavailable
from harness.config import IntegrationTestConfig
from harness.providers import docker as docker_provider
from harness.providers.rundir import CONTAINER_FILE, current_run
from harness.services.postgres import SERVICE


class FakeContainer:
    """Stands in for a testcontainers PostgresContainer."""

    def __init__(self, port):
        self.port = port
        self.password = "p@ss/word"
        self.calls = []

    def start(self):
        self.calls.append("start")
        return self

    def stop(self):
        self.calls.append("stop")

    def get_wrapped_container(self):
        return type("Wrapped", (), {"id": "c0ffee"})()

    def get_container_host_ip(self):
        return "127.0.0.1"

    def get_exposed_port(self, port):
        assert port == 5432
        return str(self.port)

    def get_logs(self):
        return b"database system is ready\n", b""


@pytest.fixture()
def daemon_up(monkeypatch):
    monkeypatch.setattr(docker_provider, "docker_available", lambda: (True, "fake daemon"))


@pytest.fixture()
def server_with_password():
    """A real local PostgreSQL whose superuser password is the fake container's 'p@ss/word'."""
    from psycopg import sql

    from harness.providers.local import LocalProvider
    from harness.services.postgres import connect as _connect

    local = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = local.start()
    with _connect(endpoint, autocommit=True) as connection:
        connection.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal("p@ss/word")))
    yield endpoint
    local.stop()


def test_start_records_the_container_probes_and_stop_removes_it(daemon_up, monkeypatch, server_with_password):
    real = server_with_password  # the fake container "publishes" this real server's port
    container = FakeContainer(real.port)
    monkeypatch.setattr(SERVICE, "docker_container", lambda config: container)
    provider = docker_provider.DockerProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    assert endpoint.provider == "docker" and endpoint.port == real.port and endpoint.owned
    assert "p%40ss%2Fword" in endpoint.url and "p@ss" not in endpoint.display_url
    workdir = provider.workdir
    assert json.loads((workdir / CONTAINER_FILE).read_text()) == {"id": "c0ffee"}  # for the reaper
    assert provider.is_ready()
    assert "ready" in provider.logs()
    provider.stop()
    provider.stop()
    assert container.calls == ["start", "stop"]
    assert not workdir.exists()


def test_container_that_never_answers_is_stopped_and_the_log_shown(daemon_up, monkeypatch):
    from harness.providers.local import free_port

    container = FakeContainer(free_port())
    monkeypatch.setattr(SERVICE, "docker_container", lambda config: container)
    provider = docker_provider.DockerProvider(SERVICE, IntegrationTestConfig(startup_timeout=0.5), current_run())
    with pytest.raises(ServiceStartError) as excinfo:
        provider.start()
    assert "did not answer within 0.5s" in str(excinfo.value)
    assert "database system is ready" in str(excinfo.value)
    assert container.calls == ["start", "stop"]


def test_no_daemon_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(docker_provider, "docker_available", lambda: (False, "no Docker daemon answered at /x"))
    provider = docker_provider.DockerProvider(SERVICE, IntegrationTestConfig(), current_run())
    with pytest.raises(ServiceUnavailable) as excinfo:
        provider.start()
    assert str(excinfo.value) == (
        "The docker provider cannot start postgres: no Docker daemon answered at /x. "
        "To fix: pip install 'harness[docker]' and start a Docker daemon."
    )


@pytest.mark.docker
def test_container_definition_uses_the_configured_image_and_fast_settings():
    available, reason = docker_provider.docker_available()
    if not available:  # testcontainers talks to the daemon as soon as a container object is made
        pytest.skip(f"needs a Docker daemon: {reason}")
    container = SERVICE.docker_container(IntegrationTestConfig(postgres_image="postgres:15-alpine"))
    assert container.image == "postgres:15-alpine"
    assert "fsync=off" in container._command
    assert container.username == "postgres" and len(container.password) == 24


def test_daemon_check_on_a_missing_socket_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    available, reason = docker_provider.docker_available()
    assert not available
    assert reason.startswith(f"no Docker daemon answered at {tmp_path}/docker.sock")


@pytest.mark.docker
def test_real_container_when_a_daemon_answers():
    available, reason = docker_provider.docker_available()
    if not available:
        pytest.skip(f"needs a Docker daemon: {reason}")
    provider = docker_provider.DockerProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    try:
        SERVICE.probe(endpoint, timeout=5)
    finally:
        provider.stop()


class FakeKafkaContainer(FakeContainer):
    """Stands in for a testcontainers KafkaContainer."""

    def get_bootstrap_server(self):
        return f"127.0.0.1:{self.port}"


def test_kafka_container_endpoint_is_its_bootstrap_server(daemon_up, monkeypatch):
    from harness.registry import registry
    from harness.services.kafka import SERVICE as KAFKA
    from harness.services.kafka import group_settings

    real = registry.acquire("kafka")  # the fake container "publishes" the real local broker's port
    container = FakeKafkaContainer(real.port)
    monkeypatch.setattr(KAFKA, "docker_container", lambda config: container)
    provider = docker_provider.DockerProvider(KAFKA, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    try:
        assert (endpoint.provider, endpoint.url, endpoint.owned) == ("docker", real.url, True)
        assert group_settings(endpoint)["session_timeout_ms"] == 2000  # the container allows short sessions
        assert provider.is_ready()
    finally:
        provider.stop()
    assert container.calls == ["start", "stop"]


@pytest.mark.docker
def test_kafka_container_definition_is_kraft_with_fast_group_settings():
    available, reason = docker_provider.docker_available()
    if not available:
        pytest.skip(f"needs a Docker daemon: {reason}")
    from harness.services.kafka import SERVICE as KAFKA

    container = KAFKA.docker_container(IntegrationTestConfig(kafka_image="confluentinc/cp-kafka:7.6.1"))
    assert container.kraft_enabled
    assert container.env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert container.env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert container.env["KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS"] == "500"


class FakeRedisContainer(FakeContainer):
    """Stands in for a testcontainers RedisContainer."""

    def get_exposed_port(self, port):
        assert port == 6379
        return str(self.port)


def test_redis_container_endpoint_carries_its_password(daemon_up, monkeypatch):
    from harness.registry import registry
    from harness.services.redis import SERVICE as REDIS

    real = registry.acquire("redis")  # the fake container "publishes" the real local server's port
    container = FakeRedisContainer(real.port)
    container.password = real.url.split(":")[2].split("@")[0]
    monkeypatch.setattr(REDIS, "docker_container", lambda config: container)
    provider = docker_provider.DockerProvider(REDIS, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    try:
        assert (endpoint.provider, endpoint.port, endpoint.owned) == ("docker", real.port, True)
        assert endpoint.url == real.url and container.password not in endpoint.display_url
        assert provider.is_ready()
    finally:
        provider.stop()
    assert container.calls == ["start", "stop"]


@pytest.mark.docker
def test_redis_container_definition_has_a_password_and_no_persistence():
    available, reason = docker_provider.docker_available()
    if not available:
        pytest.skip(f"needs a Docker daemon: {reason}")
    from harness.services.redis import SERVICE as REDIS

    container = REDIS.docker_container(IntegrationTestConfig(redis_image="redis:7-alpine"))
    assert container.image == "redis:7-alpine" and len(container.password) == 32
    assert f"--requirepass {container.password} --save '' --appendonly no" in container._command


def test_a_log_that_cannot_be_read_does_not_hide_why_the_start_failed(daemon_up, monkeypatch):
    from harness.providers.local import free_port

    container = FakeContainer(free_port())

    def broken_logs():
        raise ConnectionError("the daemon hung up")

    container.get_logs = broken_logs
    monkeypatch.setattr(SERVICE, "docker_container", lambda config: container)
    provider = docker_provider.DockerProvider(SERVICE, IntegrationTestConfig(startup_timeout=0.5), current_run())
    with pytest.raises(ServiceStartError) as excinfo:
        provider.start()
    message = str(excinfo.value)
    assert message.startswith("postgres container on 127.0.0.1:") and "did not answer within 0.5s" in message
    assert message.endswith("Container log:\n(the container's log could not be read: ConnectionError: the daemon "
                            "hung up)")
    assert container.calls == ["start", "stop"]
