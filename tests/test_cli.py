import re

from harness.cli import main
from tests.helpers import run_python


def test_doctor_lists_each_provider_with_binary_and_version(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("provider setting: auto\npostgres:\n")
    assert re.search(r"  local     yes  /\S+/postgres \(version \d+\.\d+", out)
    assert re.search(r"  external  (no |yes)  ", out)
    assert re.search(r"  docker    (no |yes)  ", out)


def test_doctor_unknown_service_is_an_error(capsys):
    assert main(["doctor", "postgre"]) == 1
    assert "Did you mean 'postgres'?" in capsys.readouterr().err


def test_up_env_down(tmp_path):
    up = run_python(["-m", "harness.cli", "up"], tmp_path)
    assert up.returncode == 0, up.stderr
    match = re.fullmatch(r"export HARNESS_POSTGRES_URL=(postgresql://postgres@127\.0\.0\.1:\d+/postgres)\n", up.stdout)
    assert match
    try:
        env = run_python(["-m", "harness.cli", "env"], tmp_path)
        assert match.group(0) in env.stdout
        from harness.services.postgres import SERVICE

        SERVICE.probe(SERVICE.external_endpoint(match.group(1)), timeout=5)  # a later run attaches to it
    finally:
        down = run_python(["-m", "harness.cli", "down"], tmp_path)
    assert "stopped" in down.stdout
    env = run_python(["-m", "harness.cli", "env"], tmp_path)
    assert match.group(0) not in env.stdout
