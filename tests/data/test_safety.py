"""The cleanup guard decides from where the connection really goes, not from the URL's text.

A stand-in "production" PostgreSQL listens only on this machine's non-loopback address
(a remote server as far as the guard can tell). Each way libpq can be sent there behind
a URL that looks local is tried: nothing may be deleted.
"""

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, text

from harness import TestDataManager, UnsafeTargetError
from harness.config import IntegrationTestConfig
from harness.data import databases
from harness.data.owners import current_owner, marker
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.redaction import url_password
from harness.services.postgres import SERVICE, connect, sqlalchemy_url

METADATA = MetaData()
USERS = Table("users", METADATA, Column("id", Integer, primary_key=True), Column("name", String(20)))


def _non_loopback_address():
    """An IPv4 address of this machine that is not loopback (the stand-in for a remote host)."""
    if not shutil.which("ip"):
        return None
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                         check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    return None


@pytest.fixture(scope="module")
def prod():
    """A PostgreSQL on a non-loopback address only, with database 'app' holding three users."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to stand in for a remote server")
    original = SERVICE.prepare_local

    def prepare_remote(config, binary, context):
        launch = original(config, binary, context)
        launch.command[launch.command.index("-h") + 1] = address
        with open(Path(launch.endpoint.details["data_directory"]) / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {address}/32 scram-sha-256\n")
        launch.endpoint = dataclasses.replace(
            launch.endpoint, host=address, url=launch.endpoint.url.replace("127.0.0.1", address)
        )
        return launch

    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    with mock.patch.object(SERVICE, "prepare_local", prepare_remote):
        endpoint = provider.start()
    try:
        databases.create_database(endpoint, "app")
        engine = create_engine(sqlalchemy_url(endpoint, "app"))
        METADATA.create_all(engine)
        with engine.begin() as connection:
            connection.execute(USERS.insert(), [{"id": n, "name": f"customer {n}"} for n in (1, 2, 3)])
        engine.dispose()
        yield dataclasses.replace(endpoint), address, url_password(endpoint.url)
    finally:
        provider.stop()


def _rows(endpoint, database="app"):
    engine = create_engine(sqlalchemy_url(endpoint, database))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM users")).scalar_one()
    finally:
        engine.dispose()


def _attempt(url, prod_endpoint, address):
    engine = create_engine(url)
    try:
        data = TestDataManager(engine)
        data.track_row(USERS, 1)
        with pytest.raises(UnsafeTargetError) as error:
            data.cleanup()
    finally:
        engine.dispose()
    message = str(error.value)
    assert f"the connection goes to {address}:{prod_endpoint.port}" in message, message
    assert "Nothing was deleted" in message and "HARNESS_ALLOW_CLEANUP=" in message
    assert _rows(prod_endpoint) == 3


def test_no_host_in_the_url_and_pghost_pointing_elsewhere(prod, monkeypatch):
    endpoint, address, password = prod
    monkeypatch.setenv("PGHOST", address)
    monkeypatch.setenv("PGPORT", str(endpoint.port))
    _attempt(f"postgresql+psycopg://postgres:{password}@/app", endpoint, address)


def test_hostaddr_behind_localhost(prod):
    endpoint, address, password = prod
    _attempt(f"postgresql+psycopg://postgres:{password}@localhost:{endpoint.port}/app?hostaddr={address}",
             endpoint, address)


def test_a_service_from_a_pg_service_file(prod, monkeypatch, tmp_path):
    endpoint, address, password = prod
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(f"[prod]\nhost={address}\nport={endpoint.port}\nuser=postgres\ndbname=app\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    monkeypatch.setenv("PGPASSWORD", password)
    _attempt("postgresql+psycopg:///?service=prod", endpoint, address)


def test_a_host_name_that_begins_with_127(prod):
    endpoint, address, password = prod
    _attempt(f"postgresql+psycopg://postgres:{password}@127.prod.example:{endpoint.port}/app?hostaddr={address}",
             endpoint, address)


RESOLVED_CHILD = """
import sys
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine
from harness import TestDataManager, UnsafeTargetError

USERS = Table("users", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)))

data = TestDataManager(create_engine(sys.argv[1]))
data.track_row(USERS, 1)
try:
    data.cleanup()
except UnsafeTargetError as exc:
    print("refused:", exc)
else:
    print("deleted")
"""


def test_a_dns_name_beginning_with_127_that_resolves_elsewhere(prod, tmp_path):
    """/etc/hosts (in a private mount namespace) sends 127.db.prod.example to the non-loopback address."""
    endpoint, address, password = prod
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to give one child its own /etc/hosts")
    hosts = tmp_path / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n{address} 127.db.prod.example\n")
    child = tmp_path / "child.py"
    child.write_text(RESOLVED_CHILD)
    url = f"postgresql+psycopg://postgres:{password}@127.db.prod.example:{endpoint.port}/app"
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f'mount --bind "{hosts}" /etc/hosts && exec "$0" "$@"',
         sys.executable, str(child), url],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )
    if "mount" in result.stderr and result.returncode != 0 and "refused" not in result.stdout:
        pytest.skip(f"cannot bind-mount /etc/hosts here: {result.stderr.strip()}")
    assert result.stdout.startswith("refused:"), result.stdout + result.stderr
    assert f"the connection goes to {address}:{endpoint.port}" in result.stdout
    assert _rows(endpoint) == 3


def test_a_database_harness_created_on_a_remote_server_may_be_cleaned(prod):
    endpoint, _address, _password = prod
    name = f"harness_{current_run().token}_safety"
    databases.create_database(endpoint, name, template="app",
                              comment=lambda now: marker(current_owner(), heartbeat=now))
    try:
        engine = create_engine(sqlalchemy_url(endpoint, name))
        data = TestDataManager(engine)
        data.track_row(USERS, 2)
        assert data.cleanup() == 1
        engine.dispose()
        assert _rows(endpoint, name) == 2
    finally:
        databases.drop_database(endpoint, name)


def test_a_harness_like_name_without_harnesss_marker_is_refused(prod):
    endpoint, address, _password = prod
    name = "harness_looks_like_ours"
    databases.create_database(endpoint, name, template="app")
    try:
        with connect(endpoint, autocommit=True) as connection:
            connection.execute(f"COMMENT ON DATABASE {name} IS 'the billing team''s'")
        engine = create_engine(sqlalchemy_url(endpoint, name))
        data = TestDataManager(engine)
        data.track_row(USERS, 2)
        with pytest.raises(UnsafeTargetError):
            data.cleanup()
        engine.dispose()
        assert _rows(endpoint, name) == 3
    finally:
        databases.drop_database(endpoint, name)


def test_a_loopback_target_and_a_unix_socket_are_local(prod):
    """The harness's own loopback server passes without any marker; so does its Unix socket."""
    from harness.data.safety import check_cleanup_target
    from harness.registry import registry

    local = registry.acquire("postgres")
    engine = create_engine(sqlalchemy_url(local))
    with engine.connect() as connection:
        check_cleanup_target(connection)
    engine.dispose()
    socket_dir = Path(local.details["data_directory"]).parent
    if not (socket_dir / f".s.PGSQL.{local.port}").exists():
        pytest.skip("the data directory is not next to the server's socket (spilled)")
    engine = create_engine(f"postgresql+psycopg://postgres@/postgres?host={socket_dir}&port={local.port}")
    with engine.connect() as connection:
        check_cleanup_target(connection)
    engine.dispose()
