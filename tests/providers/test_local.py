import os
import socket
import stat
import time
from pathlib import Path

import pytest

from harness import ServiceStartError, ServiceUnavailable
from harness.config import IntegrationTestConfig
from harness.providers.local import LocalProvider, free_port
from harness.providers.rundir import current_run
from harness.services.postgres import SERVICE
from tests.helpers import servers_of_run


def _fake_bin(tmp_path, script):
    """A PostgreSQL-shaped bin dir whose 'postgres' is a shell script (initdb is the real one's stand-in)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("postgres", script), ("initdb", 'mkdir -p "$2" && echo 15 > "$2/PG_VERSION"')):
        path = bin_dir / name
        version = "case \"$1\" in --version) echo 'postgres (PostgreSQL) 15.0'; exit 0;; esac"
        path.write_text(f"#!/bin/sh\n{version}\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.chmod(tmp_path, 0o755)
    return bin_dir


def test_started_server_lives_in_the_run_directory_and_stop_removes_it():
    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    workdir = provider.workdir
    assert workdir is not None and workdir.parent == current_run().directory
    assert endpoint.host == "127.0.0.1" and endpoint.owned
    assert any(str(workdir) in line for line in servers_of_run(current_run().owner_pid))
    provider.stop()
    assert not workdir.exists()
    assert not any(str(workdir) in line for line in servers_of_run(current_run().owner_pid))


def test_server_that_exits_at_once_gives_its_log_and_leaves_nothing(tmp_path):
    bin_dir = _fake_bin(tmp_path, "echo 'FATAL:  could not map shared memory' >&2; exit 3")
    config = IntegrationTestConfig(postgres_bin_dir=str(bin_dir), cache_dir=str(tmp_path / "cache"))
    provider = LocalProvider(SERVICE, config, current_run())
    with pytest.raises(ServiceStartError) as excinfo:
        provider.start()
    message = str(excinfo.value)
    assert "exited with code 3 before it was ready" in message
    assert "FATAL:  could not map shared memory" in message
    assert provider.workdir is None and provider.process is None


def test_server_that_never_answers_is_killed_after_the_timeout(tmp_path):
    bin_dir = _fake_bin(tmp_path, "exec sleep 60")
    config = IntegrationTestConfig(postgres_bin_dir=str(bin_dir), cache_dir=str(tmp_path / "cache"),
                                   startup_timeout=1.0)
    provider = LocalProvider(SERVICE, config, current_run())
    started = time.monotonic()
    with pytest.raises(ServiceStartError) as excinfo:
        provider.start()
    assert time.monotonic() - started < 30  # killed at its 1 s deadline, not waited for (it sleeps 60 s)
    assert "did not answer within 1s" in str(excinfo.value)
    assert "HARNESS_STARTUP_TIMEOUT" in str(excinfo.value)
    assert not [line for line in servers_of_run(current_run().owner_pid) if str(bin_dir) in line]


def test_explicit_bin_dir_without_postgres_is_a_clear_error(tmp_path):
    config = IntegrationTestConfig(postgres_bin_dir=str(tmp_path))
    with pytest.raises(ServiceUnavailable) as excinfo:
        LocalProvider(SERVICE, config, current_run()).start()
    assert str(excinfo.value).startswith(f"postgres_bin_dir={str(tmp_path)!r} does not contain both 'postgres'")


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- another server on the port harness picked ------------------------------------------------


def _foreign_postgres(port_holder):
    """A PostgreSQL that lets anyone in from 127.0.0.1 (trust): what harness must not mistake for its own."""
    from harness.services.postgres import connect as _connect

    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    data = Path(endpoint.details["data_directory"])
    (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    with _connect(endpoint, autocommit=True) as connection:
        connection.execute("SELECT pg_reload_conf()")
    port_holder.append(provider)
    return endpoint.port


def _foreign_process(command_for_port):
    import subprocess

    def start(port_holder):
        port = free_port()
        process = subprocess.Popen(command_for_port(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "NO_COLOR": "1"})
        port_holder.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return port
            except OSError:
                time.sleep(0.02)
        raise AssertionError("the foreign server never listened")

    return start


def _redis_binary():
    from harness.services.redis import SERVICE as REDIS

    return str(REDIS.find_local_binary(IntegrationTestConfig()).path)


def _tansu_binary():
    from harness.services.kafka import SERVICE as KAFKA

    return str(KAFKA.find_local_binary(IntegrationTestConfig()).path)


FOREIGN = {
    "postgres": _foreign_postgres,
    # No password at all: a PING with harness's password is refused.
    "redis": _foreign_process(lambda port: [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                                            "--save", ""]),
    # Another broker, answering Metadata like any Kafka would (its own cluster id).
    "kafka": _foreign_process(lambda port: [_tansu_binary(), "broker", "--listener-url",
                                            f"tcp://127.0.0.1:{port}", "--advertised-listener-url",
                                            f"tcp://127.0.0.1:{port}"]),
}


@pytest.mark.parametrize("service_name", ["postgres", "redis", "kafka"])
def test_a_server_already_on_the_picked_port_is_not_taken_for_harnesss_own(monkeypatch, service_name):
    from harness.providers import local
    from harness.registry import get_service

    service = get_service(service_name)
    held = []
    try:
        foreign_port = FOREIGN[service_name](held)
        ports = iter([foreign_port])
        monkeypatch.setattr(local, "free_port", lambda host="127.0.0.1": next(ports, None) or free_port())
        provider = LocalProvider(service, IntegrationTestConfig(), current_run())
        endpoint = provider.start()
        try:
            assert endpoint.port != foreign_port, "harness used a server it did not start"
            service.probe(endpoint, timeout=5)  # and the one it uses is its own
            assert str(provider.workdir) in " ".join(provider.launch.command) or service_name == "kafka"
        finally:
            provider.stop()
    finally:
        for thing in held:
            if isinstance(thing, LocalProvider):
                thing.stop()
            else:
                thing.kill()
                thing.wait()


def test_a_postgres_whose_version_cannot_be_read_is_named(tmp_path):
    bin_dir = _fake_bin(tmp_path, "exit 0")
    broken = "#!/bin/sh\necho 'postgres: error while loading shared libraries: libicu.so.72' >&2\nexit 127\n"
    (bin_dir / "postgres").write_text(broken)
    config = IntegrationTestConfig(postgres_bin_dir=str(bin_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ServiceUnavailable) as excinfo:
        SERVICE.find_local_binary(config)
    assert str(excinfo.value) == (
        f"{bin_dir / 'postgres'} --version failed with exit code 127: postgres: error while loading shared "
        "libraries: libicu.so.72. Check the PostgreSQL installation (a missing library?), or point "
        "HARNESS_POSTGRES_BIN_DIR at another one."
    )


def test_a_scratch_dir_the_server_user_cannot_reach_is_named(tmp_path):
    from tests.helpers import assert_nothing_left, clean_env, run_python, write

    if os.geteuid() != 0:
        pytest.skip("only a root runner hands servers to another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    write(tmp_path, "child.py", "from harness.registry import registry\nregistry.acquire('redis')\n")
    result = run_python(["child.py"], tmp_path, env=clean_env(HARNESS_SCRATCH_DIR=str(private)))
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("harness.errors.ServiceStartError: redis runs as the unprivileged user "), last
    assert f"cannot reach its work directory {private}/harness-" in last
    assert last.endswith("is not searchable by other users. Make it so (chmod o+x), or set HARNESS_SCRATCH_DIR to a "
                         "directory other users can reach.")
    assert_nothing_left(result)
