"""A service from another package (tests/echo_service, the entry point ``echo``) works like harness's own.

Nothing in harness names it: the catalog finds it, the config gives it its settings, the
CLI starts, lists and stops it, the reaper kills it, and it obeys the security rules.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import ConfigError, IntegrationTestConfig, ServiceUnavailable
from harness.cli import main
from harness.registry import choose_provider, registry
from harness.services.catalog import get_service, service_names
from tests.helpers import clean_env, run_dirs_of, run_pytest, run_python, servers_of_run, write
from tests.providers.test_security import _is_loopback, _listening_addresses, _server_pid, _status

INSTALL = "pip install -e tests/echo_service"


@pytest.fixture(autouse=True)
def echo_installed():
    """Every test here needs the echo service installed; say how if it is not."""
    if "echo" not in service_names():
        pytest.fail(f"the echo service is not registered (services: {service_names()}); install it: {INSTALL}")


@pytest.fixture()
def scratch_env():
    """A child's environment with a scratch dir of this test's own, so what it leaves can be looked for."""
    scratch = Path(tempfile.mkdtemp(prefix="harness-echo-", dir="/tmp"))
    scratch.chmod(0o755)  # the servers' unprivileged user must reach their directories inside
    yield clean_env(HARNESS_SCRATCH_DIR=str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)


def _echo_servers(port):
    """Command lines of live echo servers on ``port``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"harness_echo.server" in arguments and str(port).encode() in arguments:
            found.append(b" ".join(arguments).decode(errors="replace"))
    return found


def _refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _round_trip(url, text):
    from harness_echo.client import EchoClient

    endpoint = get_service("echo").external_endpoint(url)
    password = re.match(r"echo://:(\w+)@", url).group(1)
    with EchoClient(endpoint.host, endpoint.port, password=password, timeout=5) as client:
        return client.echo(text)


def test_echo_is_registered_through_its_entry_point():
    from importlib.metadata import entry_points

    (entry,) = [entry for entry in entry_points(group="harness.services") if entry.name == "echo"]
    assert entry.value == "harness_echo:SERVICE"
    assert entry.dist.name == "harness-echo-service"
    service = get_service("echo")
    assert service.name == "echo" and type(service).__module__ == "harness_echo.service"


def test_doctor_lists_its_providers(capsys):
    assert main(["doctor", "echo"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"\necho:\n"
        r"  external  (?:no |yes)  HARNESS_ECHO_URL[^\n]*\n"
        r"  local     yes  /\S+python\S* \(version 3\.\d+\.\d+, [^\n]+\)\n"
        r"  docker    (?:no |yes)  [^\n]+\n",
        out,
    ), out


ATTACH = """
import os
from harness.registry import registry
from harness.services.catalog import get_service
endpoint = registry.acquire("echo")
service = get_service("echo")
service.probe(endpoint, timeout=5)
print(endpoint.provider, endpoint.port, service.env_vars(endpoint)["ECHO_URL"] == os.environ["HARNESS_ECHO_URL"])
"""


def test_up_attach_env_down(tmp_path, scratch_env):
    up = run_python(["-m", "harness.cli", "up", "echo"], tmp_path, env=scratch_env)
    match = re.fullmatch(r"export HARNESS_ECHO_URL=(echo://:(\w+)@127\.0\.0\.1:(\d+))\n", up.stdout)
    url = match.group(1) if match else None
    try:
        assert up.returncode == 0 and match, up.stdout + up.stderr
        password, port = match.group(2), int(match.group(3))
        assert len(_echo_servers(port)) == 1
        # A later process attaches to it: the URL set, the external provider, a real round trip.
        attach = run_python(["-c", ATTACH], tmp_path, env={**scratch_env, "HARNESS_ECHO_URL": url})
        assert attach.returncode == 0, attach.stderr
        assert attach.stdout == f"external {port} True\n"
        assert _round_trip(url, "still there") == "still there"
        env = run_python(["-m", "harness.cli", "env"], tmp_path, env=scratch_env)
        assert up.stdout in env.stdout
        status = run_python(["-m", "harness.cli", "status"], tmp_path, env=scratch_env)
        assert re.search(rf"echo +local +echo://:\*\*\*@127\.0\.0\.1:{port} ", status.stdout), status.stdout
        assert password not in status.stdout
    finally:
        down_env = {**scratch_env, "HARNESS_ECHO_URL": url} if url else scratch_env
        down = run_python(["-m", "harness.cli", "down"], tmp_path, env=down_env)
    assert down.returncode == 0, down.stderr
    # With its URL set, `harness down` probes it and calls its namespace module's sweep().
    assert f"harness: removed from echo at echo://:***@127.0.0.1:{port} what finished runs left: nothing" in (
        down.stdout
    )
    assert f"harness: stopped 1 kept run(s) of project {tmp_path}" in down.stdout
    deadline = time.monotonic() + 10
    while _echo_servers(port) or not _refuses(port):
        assert time.monotonic() < deadline, _echo_servers(port)
        time.sleep(0.05)
    assert run_python(["-m", "harness.cli", "env"], tmp_path, env=scratch_env).stdout.strip() == ""


def test_up_without_names_starts_it_with_the_others(tmp_path, scratch_env):
    """`harness up` alone starts every standalone service this machine can run: echo is one of them."""
    up = run_python(["-m", "harness.cli", "up"], tmp_path, env=scratch_env)
    try:
        assert up.returncode == 0, up.stderr
        assert re.search(r"^export HARNESS_ECHO_URL=echo://:\w+@127\.0\.0\.1:\d+$", up.stdout, re.M), up.stdout
    finally:
        down = run_python(["-m", "harness.cli", "down"], tmp_path, env=scratch_env)
    assert f"harness: stopped 1 kept run(s) of project {tmp_path}" in down.stdout


# -- config ------------------------------------------------------------------------------------


def test_environment_variables():
    environ = {
        "HARNESS_ECHO_URL": "echo://:secret@echo.internal:7100",
        "HARNESS_ECHO_PROVIDER": "external",
        "HARNESS_ECHO_BIN": sys.executable,
        "HARNESS_ECHO_GREETING": "  good morning  ",
        "HARNESS_ECHO_IMAGE": "python:3.12-alpine",
        "HARNESS_ECHO_OS_USER": "nobody",
    }
    config = IntegrationTestConfig.load(environ=environ, search_from="/")
    assert config.echo_url == "echo://:secret@echo.internal:7100" and "secret" not in repr(config)
    assert config.url_for("echo") == config.echo_url
    assert config.echo_provider == "external" and config.provider_for("echo") == "external"
    assert config.provider == "auto"  # the others' provider is untouched
    assert config.echo_bin == sys.executable
    assert config.echo_greeting == "good morning"  # parsed: stripped
    assert config.echo_image == "python:3.12-alpine"
    assert config.os_user_for("echo") == "nobody"
    assert config.setting("echo", "greeting") == config.echo_greeting


def test_defaults():
    config = IntegrationTestConfig.load(environ={}, search_from="/")
    assert config.echo_greeting == "hello"
    assert config.echo_image == "python:3-alpine"
    assert config.echo_url is None and config.echo_bin is None and config.echo_provider is None
    assert config.provider_for("echo") == "auto"


def test_ini_keys_beat_the_environment(tmp_path):
    (tmp_path / "setup.cfg").write_text(
        "[harness]\necho_url = echo://:frominit@127.0.0.1:7001\necho_greeting = from the ini\n"
    )
    environ = {"HARNESS_ECHO_URL": "echo://:fromenv@127.0.0.1:7002", "HARNESS_ECHO_GREETING": "from env"}
    config = IntegrationTestConfig.load(environ=environ, search_from=tmp_path)
    assert config.echo_url == "echo://:frominit@127.0.0.1:7001"
    assert config.echo_greeting == "from the ini"


def test_arguments_and_replace():
    config = IntegrationTestConfig(echo_greeting="hi")
    assert config.echo_greeting == "hi" and config.setting("echo", "greeting") == "hi"
    assert config.replace(echo_greeting="bye").echo_greeting == "bye"
    assert IntegrationTestConfig.load(environ={"HARNESS_ECHO_GREETING": "env"}, search_from="/",
                                      echo_greeting="argument").echo_greeting == "argument"


def test_a_bad_greeting_in_the_environment_names_the_variable():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_ECHO_GREETING": "x" * 81}, search_from="/")
    assert str(excinfo.value) == (
        f"HARNESS_ECHO_GREETING={'x' * 81!r} is not valid: expected at most 80 characters, got 81. "
        "Fix or unset HARNESS_ECHO_GREETING."
    )


def test_a_bad_greeting_in_the_ini_names_the_file(tmp_path):
    (tmp_path / "tox.ini").write_text("[harness]\necho_greeting = tab\there\n")
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={}, search_from=tmp_path)
    assert str(excinfo.value) == (
        f"{tmp_path / 'tox.ini'} [harness]: echo_greeting = 'tab\\there' is not valid: expected printable "
        f"characters on one line. Fix the value in {tmp_path / 'tox.ini'}."
    )


def test_a_bad_greeting_as_an_argument_names_the_setting():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(echo_greeting="")
    assert str(excinfo.value) == "echo_greeting='' is not a valid greeting: expected a non-empty line of text."


def test_a_misspelt_setting_suggests_the_right_one():
    with pytest.raises(ConfigError, match="unknown setting 'echo_greting'.*Did you mean 'echo_greeting'"):
        IntegrationTestConfig(echo_greting="hi")


def test_a_misspelt_provider_lists_the_valid_ones():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_ECHO_PROVIDER": "lokal"}, search_from="/")
    assert str(excinfo.value) == ("HARNESS_ECHO_PROVIDER='lokal' is not a provider; valid values: auto, local, docker, "
                                  "external. Did you mean 'local'? Fix or unset HARNESS_ECHO_PROVIDER.")


@pytest.mark.parametrize(("url", "problem"), [
    ("http://:pw@127.0.0.1:7007", "is not a echo URL (scheme 'http')"),
    ("echo://127.0.0.1:7007", "has no password; an echo server always asks for one"),
    ("echo://:pw@127.0.0.1:99999", "is malformed: Port out of range"),
])
def test_a_bad_url_names_the_variable(url, problem):
    config = IntegrationTestConfig.load(environ={"HARNESS_ECHO_URL": url}, search_from="/")
    with pytest.raises(ConfigError) as excinfo:
        registry.acquire("echo", config)
    message = str(excinfo.value)
    assert message.startswith("HARNESS_ECHO_URL=") and problem in message, message
    assert message.endswith("fix or unset HARNESS_ECHO_URL."), message
    assert ":pw@" not in message


def test_the_bin_setting_picks_the_interpreter_or_says_it_is_not_one(tmp_path):
    service = get_service("echo")
    config = IntegrationTestConfig.load(environ={"HARNESS_ECHO_BIN": sys.executable}, search_from="/")
    binary = service.find_local_binary(config)
    assert binary.path == Path(sys.executable) and binary.source == "echo_bin setting"
    missing = str(tmp_path / "python9")
    config = IntegrationTestConfig.load(environ={"HARNESS_ECHO_BIN": missing}, search_from="/")
    with pytest.raises(ServiceUnavailable) as excinfo:
        service.find_local_binary(config)
    assert str(excinfo.value) == (
        f"echo_bin={missing!r} is not an executable file. Point it at a Python 3 interpreter, or unset "
        "HARNESS_ECHO_BIN."
    )


def test_the_provider_setting_is_obeyed():
    config = IntegrationTestConfig.load(environ={"HARNESS_ECHO_PROVIDER": "external"}, search_from="/")
    assert choose_provider(get_service("echo"), config) == "external"
    with pytest.raises(ServiceUnavailable, match="provider 'external' was asked for echo but HARNESS_ECHO_URL is "
                                                 "not set"):
        registry.acquire("echo", config)


# -- reaper, security --------------------------------------------------------------------------

CHILD = """
import pathlib, sys, time
from harness.registry import registry
endpoint = registry.acquire("echo")
pathlib.Path(sys.argv[1]).write_text(str(endpoint.port))
time.sleep(120)
"""


def test_a_sigkilled_runner_leaves_no_echo_server(tmp_path):
    script = write(tmp_path, "child.py", CHILD)
    ready = tmp_path / "ready"
    process = subprocess.Popen([sys.executable, str(script), str(ready)], env=clean_env(), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the child never acquired echo"
            time.sleep(0.05)
        port = int(ready.read_text())
        assert len(servers_of_run(process.pid)) == 1 and _echo_servers(port)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while servers_of_run(process.pid) or run_dirs_of(process.pid) or _echo_servers(port):
            assert time.monotonic() < deadline, (servers_of_run(process.pid), run_dirs_of(process.pid))
            time.sleep(0.05)
        assert _refuses(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_it_listens_on_loopback_only():
    endpoint = registry.acquire("echo")
    listening = _listening_addresses(_server_pid(endpoint))
    assert [port for _address, port in listening] == [endpoint.port], listening
    assert all(_is_loopback(address) for address, _port in listening), listening


def test_its_password_is_in_a_private_file():
    # That it is on no command line: tests/providers/test_security.py, with the built-in services.
    endpoint = registry.acquire("echo")
    password_file = Path(endpoint.details["password_file"])
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.stat().st_uid == int(_status(_server_pid(endpoint))["Uid"][0])  # the server's user


def test_as_root_it_runs_as_an_unprivileged_user_with_its_own_group_and_no_other():
    if os.geteuid() != 0:
        pytest.skip("only a root runner hands servers to another user")
    import pwd

    endpoint = registry.acquire("echo")
    status = _status(_server_pid(endpoint))
    uid, gid = int(status["Uid"][0]), int(status["Gid"][0])
    assert uid != 0 and set(status["Uid"]) == {str(uid)}
    assert gid == pwd.getpwuid(uid).pw_gid and gid != 0 and set(status["Gid"]) == {str(gid)}
    assert status["Groups"] == []


def test_a_wrong_password_is_denied_and_the_connection_closed():
    endpoint = registry.acquire("echo")
    for first_line in (b"AUTH guess\n", b"hello\n", b"AUTH \n"):
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as anonymous:
            anonymous.sendall(first_line + b"echo me\n")
            assert anonymous.recv(100) == b"-DENIED\n"
            assert anonymous.recv(100) == b""  # closed, nothing echoed


def test_the_probe_tells_it_from_another_echo_server_on_the_port():
    import dataclasses

    endpoint = registry.acquire("echo")
    service = get_service("echo")
    service.probe(endpoint, timeout=5)
    impostor = dataclasses.replace(endpoint, details={**endpoint.details, "instance": "0" * 32})
    with pytest.raises(ServiceUnavailable, match="another echo server answers there"):
        service.probe(impostor, timeout=5)


# -- a test class using it -----------------------------------------------------------------------

CLASS_SUITE = """
from harness.bases.service import ServiceIntegrationTest
from harness_echo.client import EchoClient


class TestEcho(ServiceIntegrationTest):
    services = ("echo",)

    def test_endpoint_and_app_environment(self):
        endpoint = self.endpoints["echo"]
        assert endpoint.service == "echo" and endpoint.provider == "local"
        assert self.app_env == {"ECHO_URL": endpoint.url}
        password = endpoint.url.split("://:", 1)[1].split("@", 1)[0]
        with EchoClient(endpoint.host, endpoint.port, password=password, timeout=5) as client:
            assert client.echo("from a test class") == "from a test class"
"""


def test_a_test_class_asks_for_it_by_name_and_gets_its_variables(tmp_path):
    pytest.importorskip("harness.bases.service", exc_type=ImportError,
                        reason="this harness's bases/service.py cannot be imported (it needs harness.data.reset)")
    write(tmp_path, "test_echo_class.py", CLASS_SUITE)
    result = run_pytest(tmp_path, "test_echo_class.py")
    assert "1 passed" in result.stdout, result.stdout + result.stderr
