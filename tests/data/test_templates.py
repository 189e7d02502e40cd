"""Schema templates: a schema's tables are built once per server, and every test database is a clone of them.

On this module's own PostgreSQL (nothing else builds or clones there) and, for a server
``harness up`` left running, across real runs in child processes.
"""

import dataclasses
import json
import re
import threading
import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from harness.data import databases, schema, templates
from harness.data.owners import owner_from_marker
from harness.providers.rundir import current_run
from harness.services import postgres
from tests.helpers import clean_env, run_python, write_migrations


@pytest.fixture()
def server(private_servers):
    return private_servers("postgres")


def names_on(endpoint, like):
    with postgres.connect(endpoint, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE %s ORDER BY datname", (like,)
        ).fetchall()
    return {name: (allowed, comment) for name, allowed, comment in rows}


def tables_of(endpoint, name):
    with postgres.connect(endpoint, autocommit=True, dbname=name) as conn:
        return [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


class Builds:
    """A build that makes one table, counting how often it ran."""

    def __init__(self, endpoint, table="things"):
        self.endpoint, self.table, self.count = endpoint, table, 0

    def __call__(self, name):
        self.count += 1
        with postgres.connect(self.endpoint, autocommit=True, dbname=name) as conn:
            conn.execute(f"CREATE TABLE {self.table} (id serial PRIMARY KEY)")


def clone(endpoint, template, build, name=None):
    name = name or f"harness_test_clone_{uuid.uuid4().hex[:8]}"
    built = templates.clone_template(
        endpoint, template=template, clone=name, build=build, owner_comment=databases.owner_comment
    )
    return name, built


def test_the_schema_is_built_once_and_every_database_is_a_clone_of_it(server):
    template = f"harness_schema_test_{uuid.uuid4().hex[:8]}"
    build = Builds(server)
    first, built_first = clone(server, template, build)
    second, built_second = clone(server, template, build)
    assert (built_first, built_second, build.count) == (True, False, 1)
    assert tables_of(server, first) == tables_of(server, second) == ["things"]
    found = names_on(server, template)
    allowed, comment = found[template]
    assert allowed is False  # a connected session would make every later clone fail
    assert json.loads(comment) == {"kind": templates.TEMPLATE_KIND, "layout": templates.LAYOUT}
    assert owner_from_marker(names_on(server, first)[first][1]) is not None  # the clone is the run's


def test_processes_asking_at_once_wait_for_one_build(server):
    template = f"harness_schema_test_{uuid.uuid4().hex[:8]}"
    build = Builds(server)
    results = []
    threads = [threading.Thread(target=lambda: results.append(clone(server, template, build))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert build.count == 1 and sorted(built for _name, built in results) == [False, False, True]
    for name, _built in results:
        assert tables_of(server, name) == ["things"]


def test_a_template_left_half_built_is_built_again(server):
    template = f"harness_schema_test_{uuid.uuid4().hex[:8]}"
    databases.create_database(server, template)  # a process died while building: connections still allowed
    Builds(server, table="half_made")(template)
    build = Builds(server)
    name, built = clone(server, template, build)
    assert built and tables_of(server, name) == ["things"]


def test_a_failing_build_leaves_neither_template_nor_clone(server):
    template = f"harness_schema_test_{uuid.uuid4().hex[:8]}"

    def broken(name):
        raise RuntimeError("the schema's DDL failed")

    target = f"harness_test_clone_{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match="the schema's DDL failed"):
        clone(server, template, broken, name=target)
    assert names_on(server, template) == {} and names_on(server, target) == {}
    build = Builds(server)
    _name, built = clone(server, template, build)  # the next one builds it
    assert built and build.count == 1


def test_the_digest_of_migrations_changes_when_a_revision_does(tmp_path):
    ini = write_migrations(tmp_path)
    before = schema.schema_fingerprint(None, ini)
    assert schema.schema_fingerprint(None, ini) == before
    revision = next(path for path in (tmp_path / "versions").glob("*.py"))
    revision.write_text(revision.read_text() + "\n# edited\n")
    assert schema.schema_fingerprint(None, ini) != before


MODULE = """
import unittest

import sqlalchemy as sa

from harness import DatabaseTestBase

metadata = sa.MetaData()
sa.Table("widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("{column}", sa.String(20)))


class TestWidgets(DatabaseTestBase):
    metadata = metadata

    def test_templates(self):
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT datname, oid FROM pg_database WHERE datname LIKE 'harness%%schema%%' ORDER BY 1").all()
            print("CURRENT", *connection.exec_driver_sql(
                "SELECT datname, oid FROM pg_database WHERE datname = current_database()").one())
        for name, oid in rows:
            print("SPARE" if "_spare_" in name else "TEMPLATE", name, oid)


if __name__ == "__main__":
    unittest.main()
"""


def widgets_metadata(column="name"):
    metadata = MetaData()
    Table("widgets", metadata, Column("id", Integer, primary_key=True), Column(column, String(20)))
    return metadata


def run_widgets(directory, env, column="name"):
    (directory / "widgets_test.py").write_text(MODULE.replace("{column}", column))
    test = run_python(["-m", "unittest", "widgets_test"], directory, env=env)
    assert test.returncode == 0, test.stderr
    current = re.search(r"CURRENT (\S+) (\d+)", test.stdout)
    found = {kind: dict(re.findall(rf"{kind} (\S+) (\d+)", test.stdout)) for kind in ("TEMPLATE", "SPARE")}
    return current.groups(), found["TEMPLATE"], found["SPARE"]


def test_runs_attached_to_harness_up_reuse_the_schema_and_claim_the_spare_the_last_run_left(tmp_path):
    up = run_python(["-m", "harness.cli", "up", "postgres"], tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        url = re.search(r"export HARNESS_POSTGRES_URL=(\S+)", up.stdout).group(1)
        env = {**clean_env(), "HARNESS_POSTGRES_URL": url}
        endpoint = postgres.SERVICE.external_endpoint(url)
        (first_db, _oid), first, _spares = run_widgets(tmp_path, env)
        (template,) = first
        spares_left = {name: oid_of(endpoint, name) for name in names_on(endpoint, f"{template}_spare_%")}
        assert len(spares_left) == 1  # made while the first run's tests ran, for the next run
        (second_db, second_oid), second, _spares = run_widgets(tmp_path, env)
        assert second == first  # the same template: the second run built nothing
        assert second_oid in spares_left.values() and first_db != second_db  # it renamed the spare: no copy
        left = names_on(endpoint, "harness%")
        assert set(left) - set(first) == set(names_on(endpoint, f"{template}_spare_%"))  # the runs' own are gone
        assert len(set(left) - set(first)) == 1 and json.loads(next(
            comment for name, (_a, comment) in left.items() if name != template))["kind"] == templates.SPARE_KIND
        _db, changed, _spares = run_widgets(tmp_path, env, column="label")  # another schema: another template
        assert len(changed) == 2 and set(first) < set(changed)
    finally:
        down = run_python(["-m", "harness.cli", "down"], tmp_path)
        assert down.returncode == 0, down.stderr


def oid_of(endpoint, name):
    with postgres.connect(endpoint, autocommit=True) as conn:
        return str(conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()[0])


def test_on_someone_elses_server_the_template_is_the_runs_and_goes_with_it(tmp_path, server):
    env = {**clean_env(), "HARNESS_POSTGRES_URL": str(server.url)}
    external = postgres.SERVICE.external_endpoint(str(server.url))
    (current, _oid), found, _spares = run_widgets(tmp_path, env)
    token = current.split("_")[1]
    assert [name for name in found if token in name] == [  # named for the run, like its other databases
        templates.template_name(external, schema.schema_fingerprint(widgets_metadata(), None), token)]
    assert [left for left in names_on(external, "harness%") if token in left] == []  # template and clone dropped


@pytest.mark.parametrize("worker", ["main", "gw7"])
def test_on_its_own_server_a_run_alone_builds_in_place_and_xdist_workers_clone_a_template(server, worker, monkeypatch):
    monkeypatch.setattr(schema, "current_run", lambda: dataclasses.replace(current_run(), worker=worker))
    metadata = MetaData()
    Table(f"gadgets_{uuid.uuid4().hex[:6]}", metadata, Column("id", Integer, primary_key=True), Column("name", String))
    database = schema.shared_database(server, metadata=metadata)
    try:
        (table,) = metadata.tables
        with database.engine.connect() as connection:
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
        template = templates.template_name(server, schema.schema_fingerprint(metadata, None), current_run().token)
        found = names_on(server, template)
        if worker == "main":
            assert found == {}  # nobody else could use one: no template, no clone
        else:
            assert found[template][0] is False  # built, and closed to connections
    finally:
        schema.drop(database)


def checkpoints_requested(endpoint):
    with postgres.connect(endpoint, autocommit=True) as conn:
        if conn.info.server_version >= 170000:
            return conn.execute("SELECT num_requested FROM pg_stat_checkpointer").fetchone()[0]
        return conn.execute("SELECT checkpoints_req FROM pg_stat_bgwriter").fetchone()[0]


def test_databases_are_copied_file_by_file_only_on_servers_harness_started(server):
    """FILE_COPY costs a checkpoint: nothing on a harness server (no fsync), a flush of everything elsewhere."""
    foreign = postgres.SERVICE.external_endpoint(str(server.url))
    names = [f"harness_test_copy_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    before = checkpoints_requested(server)
    databases.create_database(foreign, names[0])
    between = checkpoints_requested(server)
    databases.create_database(server, names[1])
    after = checkpoints_requested(server)
    for name in names:
        databases.drop_database(server, name)
    assert (between - before, after - between > 0) == (0, True)


def test_waiting_for_a_database_to_be_unused_ends_when_its_last_session_has_gone(server):
    name = f"harness_test_unused_{uuid.uuid4().hex[:8]}"
    databases.create_database(server, name)
    try:
        with postgres.connect(server, autocommit=True) as admin:
            session = postgres.connect(server, autocommit=True, dbname=name)
            databases.wait_until_unused(server, admin, name, timeout=0.2)  # still connected: gives up, quietly
            assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0] == 1
            session.close()  # its server process exits a moment later
            databases.wait_until_unused(server, admin, name)
            assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0] == 0
    finally:
        databases.drop_database(server, name)
