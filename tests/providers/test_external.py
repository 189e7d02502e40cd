import time
from pathlib import Path

import pytest
from sqlalchemy import text

from harness import ServiceUnavailable
from harness.config import IntegrationTestConfig
from harness.data import schema
from harness.errors import ConfigError
from harness.providers.external import ExternalProvider
from harness.providers.local import free_port
from harness.registry import Registry, registry
from harness.services.postgres import SERVICE


def test_unreachable_url_names_the_address_and_masks_the_password():
    port = free_port()
    provider = ExternalProvider(SERVICE, f"postgresql://app:hunter2@127.0.0.1:{port}/app", timeout=2)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as excinfo:
        provider.start()
    assert time.monotonic() - started < 3
    message = str(excinfo.value)
    masked = f"postgresql://app:***@127.0.0.1:{port}/app"
    assert message.startswith(f"postgres at 127.0.0.1:{port} ({masked}) did not answer")
    assert "HARNESS_POSTGRES_URL" in message
    assert "hunter2" not in message and "hunter2" not in repr(excinfo.value.__cause__)


@pytest.fixture()
def password_role():
    """A role that must log in with a password (scram) on the run's local server."""
    endpoint = registry.acquire("postgres")
    database = schema.shared_database(endpoint)
    with database.engine.begin() as connection:
        hba = connection.execute(text("SHOW hba_file")).scalar_one()
        connection.execute(text("DROP ROLE IF EXISTS harness_pw_test"))
        connection.execute(text("CREATE ROLE harness_pw_test LOGIN PASSWORD 'right-password'"))
    hba_path = Path(hba)
    original = hba_path.read_text()
    hba_path.write_text("host all harness_pw_test 127.0.0.1/32 scram-sha-256\n" + original)
    with database.engine.begin() as connection:
        connection.execute(text("SELECT pg_reload_conf()"))
    time.sleep(0.2)  # the postmaster reloads pg_hba.conf asynchronously after the signal
    yield endpoint
    hba_path.write_text(original)
    with database.engine.begin() as connection:
        connection.execute(text("SELECT pg_reload_conf()"))
        connection.execute(text("DROP ROLE harness_pw_test"))


def test_wrong_password_names_the_cause_and_never_the_password(password_role):
    url = f"postgresql://harness_pw_test:wrong-pass@127.0.0.1:{password_role.port}/postgres"
    with pytest.raises(ServiceUnavailable) as excinfo:
        ExternalProvider(SERVICE, url, timeout=3).start()
    message = str(excinfo.value)
    assert f"postgres at 127.0.0.1:{password_role.port}" in message
    assert "password authentication failed" in message
    assert "wrong-pass" not in message
    ok = ExternalProvider(SERVICE, url.replace("wrong-pass", "right-password"), timeout=3)
    assert ok.start().provider == "external"


def test_registry_uses_the_external_url_and_drops_only_its_own_databases():
    own = registry.acquire("postgres")
    config = IntegrationTestConfig(postgres_url=own.url)
    separate = Registry()
    endpoint = separate.acquire("postgres", config)
    assert endpoint.provider == "external" and not endpoint.owned
    assert endpoint.port == own.port


def test_non_postgres_url_is_refused():
    with pytest.raises(ConfigError) as error:
        ExternalProvider(SERVICE, "mysql://u:p@h/db", timeout=1).start()
    assert str(error.value) == (
        "HARNESS_POSTGRES_URL='mysql://u:***@h/db' is not a postgresql or postgres URL (scheme 'mysql'). "
        "Expected postgresql://user:password@host:port/dbname; fix or unset HARNESS_POSTGRES_URL."
    )


def test_a_server_harness_up_left_running_is_attached_without_asking_it_and_known_as_harnesss(tmp_path, monkeypatch):
    import json
    import os
    import re
    import signal

    from harness.providers.reaper import process_alive
    from harness.services import redis
    from tests.helpers import run_python, wait_until

    up = run_python(["-m", "harness.cli", "up", "redis"], tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        url = re.search(r"export HARNESS_REDIS_URL=(\S+)", up.stdout).group(1)
        asked = []
        probe = type(redis.SERVICE).probe
        monkeypatch.setattr(type(redis.SERVICE), "probe", lambda self, endpoint, *, timeout: (
            asked.append(endpoint.address), probe(self, endpoint, timeout=timeout)))
        endpoint = ExternalProvider(redis.SERVICE, url, timeout=3).start()
        assert endpoint.details["kept"] is True and asked == []  # its process is there: no connection needed
        password = re.search(r"redis://:(\w+)@", url).group(1)
        with pytest.raises(ServiceUnavailable):  # the same server with another password: not what was kept, asked
            ExternalProvider(redis.SERVICE, url.replace(password, "not-the-password"), timeout=3).start()
        assert asked == ["127.0.0.1:" + url.rsplit(":", 1)[1].split("/")[0]]
        [record] = [json.loads(path.read_text()) for path in Path(up_run(url)).glob("services/*.json")]
        process = json.loads((Path(record["workdir"]) / "process.json").read_text())
        os.kill(process["pid"], signal.SIGKILL)
        wait_until(lambda: not process_alive(process["pid"]))  # a kill lands a moment later
        with pytest.raises(ServiceUnavailable) as error:
            ExternalProvider(redis.SERVICE, url, timeout=3).start()
        assert "which `harness up` left running, has stopped (its process is gone)" in str(error.value)
        assert "Run `harness down` and `harness up` again, or unset HARNESS_REDIS_URL" in str(error.value)
    finally:
        down = run_python(["-m", "harness.cli", "down"], tmp_path)
        assert down.returncode == 0, down.stderr


def up_run(url):
    from harness.providers.kept import kept_runs

    [directory] = [kept.directory for kept in kept_runs() if any(known.url == url for known in kept.endpoints)]
    return directory
