"""Servers harness starts: an unprivileged user with no extra groups, loopback only, a per-run password."""

import json
import os
import pwd
import stat
import subprocess
from pathlib import Path

import pytest

from harness.providers.rundir import current_run, read_process_record
from harness.registry import registry

SERVICES = ["postgres", "redis", "kafka"]


def _server_pid(endpoint):
    """The pid of the server process behind a local endpoint of this run (from the registry's records)."""
    for path in (current_run().directory / "services").glob("*.json"):
        record = json.loads(path.read_text())
        if record["endpoint"]["port"] == endpoint.port:
            return int(read_process_record(Path(record["workdir"]))["pid"])
    raise AssertionError(f"no process recorded for {endpoint.service} on port {endpoint.port}")


def _status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.split()
    return fields


def _listening_addresses(pid):
    """(address, port) of every TCP socket ``pid`` listens on (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.append((address, int(port, 16)))
    return found


def _is_loopback(hex_address):
    if len(hex_address) == 8:  # IPv4, little-endian
        return bytes.fromhex(hex_address)[::-1][0] == 127
    return hex_address == "00000000000000000000000001000000"  # ::1


@pytest.mark.parametrize("service", SERVICES)
def test_server_runs_as_an_unprivileged_user_with_its_own_group_and_no_other(service):
    if os.geteuid() != 0:
        pytest.skip("only a root runner hands servers to another user")
    endpoint = registry.acquire(service)
    status = _status(_server_pid(endpoint))
    uid, gid = int(status["Uid"][0]), int(status["Gid"][0])
    user = pwd.getpwuid(uid)
    assert uid != 0 and set(status["Uid"]) == {str(uid)}
    assert gid == user.pw_gid and gid != 0 and set(status["Gid"]) == {str(gid)}
    assert status["Groups"] == []


@pytest.mark.parametrize("service", SERVICES)
def test_server_listens_on_loopback_only(service):
    endpoint = registry.acquire(service)
    listening = _listening_addresses(_server_pid(endpoint))
    assert any(port == endpoint.port for _address, port in listening), listening
    assert all(_is_loopback(address) for address, _port in listening), listening


@pytest.mark.parametrize("service", ["postgres", "redis", "echo"])  # echo: tests/echo_service, a third party's
def test_password_is_on_no_command_line(service):
    from harness.redaction import url_password

    endpoint = registry.acquire(service)
    password = url_password(endpoint.url)
    assert password and len(password) >= 32
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert password.encode() not in cmdline.read_bytes(), cmdline
        except OSError:
            continue


def test_postgres_refuses_logins_without_the_runs_password():
    import psycopg

    endpoint = registry.acquire("postgres")
    for url in (f"postgresql://postgres@127.0.0.1:{endpoint.port}/postgres",
                f"postgresql://postgres:guess@127.0.0.1:{endpoint.port}/postgres"):
        with pytest.raises(psycopg.OperationalError) as error:
            psycopg.connect(url, connect_timeout=5)
        assert "no password supplied" in str(error.value) or "password authentication failed" in str(error.value)
    with psycopg.connect(endpoint.url, connect_timeout=5) as connection:
        method = connection.execute(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host'"
        ).fetchall()
    assert method == [("scram-sha-256",)]


def test_postgres_socket_admits_only_the_user_running_harness():
    """The local socket trusts the OS identity (peer); another local user gets nowhere."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another local user")
    endpoint = registry.acquire("postgres")
    socket_dir = Path(endpoint.details["data_directory"]).parent
    if not (socket_dir / f".s.PGSQL.{endpoint.port}").exists():
        socket_dir = next(path for path in current_run().directory.iterdir()
                          if (path / f".s.PGSQL.{endpoint.port}").exists())
    mode = socket_dir.stat().st_mode
    assert stat.S_IMODE(mode) == 0o700, oct(mode)
    psql = Path(endpoint.details["binary"]).parent / "psql"
    if not psql.is_file():
        pytest.skip(f"no psql next to {endpoint.details['binary']} to connect with as another user")
    result = subprocess.run(
        [str(psql), "-h", str(socket_dir), "-p", str(endpoint.port), "-U", "postgres", "-d", "postgres",
         "-c", "SELECT 1"],
        capture_output=True, text=True, timeout=30, user="nobody", group="nogroup", extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}, cwd="/",
    )
    assert result.returncode != 0, result.stdout
    assert "Permission denied" in result.stderr, result.stderr


def test_redis_refuses_commands_without_the_runs_password():
    import socket

    endpoint = registry.acquire("redis")
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as anonymous:
        anonymous.sendall(b"PING\r\n")  # raw: redis-py would retry for seconds before giving up
        assert anonymous.recv(100).startswith(b"-NOAUTH Authentication required")


def test_records_holding_passwords_are_private():
    registry.acquire("postgres")
    records = list((current_run().directory / "services").glob("*.json"))
    assert records
    for record in records:
        assert stat.S_IMODE(record.stat().st_mode) == 0o600, record
    redis = registry.acquire("redis")
    config_file = Path(redis.details["config_file"])
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
