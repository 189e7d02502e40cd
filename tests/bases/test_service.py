"""ServiceIntegrationTest: the app between real services; its errors, isolation and reports."""

import os
import re
import signal
import sys
import time
import unittest
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select

from harness import AppProcess, AppUnreachable, ConfigError, ServiceIntegrationTest, ServiceStartError
from harness.services.catalog import service_names
from tests.helpers import clean_env, run_pytest, run_python, write

APP = str(Path(__file__).with_name("service_app.py"))
ROOT = str(Path(__file__).resolve().parents[2])


def app(mode, *, token="", **options):
    return AppProcess([sys.executable, APP, mode, *([token] if token else [])], **options)


def run_class(cls):
    """Run every test of ``cls`` under unittest; the result."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    result = unittest.TestResult()
    suite.run(result)
    return result


def class_setup_error(cls):
    result = run_class(cls)
    assert len(result.errors) == 1, result.errors + result.failures
    return result.errors[0][1]


def test_unknown_service_names_the_registered_ones():
    class TestTypo(ServiceIntegrationTest):
        services = ("postgres", "redsi")

        def test_nothing(self):
            pass

    error = class_setup_error(TestTypo)
    assert (f"harness.errors.ConfigError: Unknown service 'redsi'; registered services: {', '.join(service_names())}."
            " Did you mean 'redis'?") in error


def test_app_command_not_found():
    with pytest.raises(ServiceStartError) as excinfo:
        AppProcess(["no-such-app-command", "--serve"]).start({})
    assert str(excinfo.value) == (
        "AppProcess: the command 'no-such-app-command' was not found (not on PATH; working directory .). "
        "Check the command in AppProcess(['no-such-app-command', '--serve'], health_path='/health')."
    )


def test_app_that_exits_during_start_up_says_its_exit_code_and_last_lines():
    with pytest.raises(ServiceStartError) as excinfo:
        app("exit").start({})
    message = str(excinfo.value)
    assert message.startswith(f"The app ({sys.executable}) exited with code 3 before it was ready. Its output (")
    assert message.endswith("app: cannot read DATABASE_URL\napp: giving up\n")


def test_health_never_2xx_names_the_url_the_last_status_and_the_output():
    with pytest.raises(ServiceStartError) as excinfo:
        app("unhealthy", startup_timeout=1).start({})
    message = str(excinfo.value)
    expected = (r"The app on 127\.0\.0\.1:(\d+) did not answer within 1s \(last error: GET "
                r"http://127\.0\.0\.1:\1/health answered 503 Service Unavailable\); raise "
                r"AppProcess\(startup_timeout=\.\.\.\) if it needs longer than 1s\. Its output \(")
    assert re.match(expected, message), message
    assert '"GET /health HTTP/1.1" 503' in message


def test_a_port_the_app_did_not_bind_is_named():
    with pytest.raises(ServiceStartError) as excinfo:
        app("wrongport", startup_timeout=1).start({})
    given = re.search(r"did not answer within", str(excinfo.value)) and re.search(
        r"nothing listens on 127\.0\.0\.1:(\d+), the port given to the app in \$PORT", str(excinfo.value))
    assert given, excinfo.value
    listening = re.search(r"app: listening on (\d+)", str(excinfo.value)).group(1)
    assert (f"The app listens on port {listening}, not on {given.group(1)}, the one it was given in $PORT: make it "
            "read $PORT (or put {port} in its command).") in str(excinfo.value)


def test_the_app_gets_the_services_and_topics_and_a_dead_app_is_reported():
    class TestApp(ServiceIntegrationTest):
        services = ("postgres", "redis", "kafka")
        topics = ("order-events",)
        app = app("ok")

        def test_env(self):
            env = self.api.get("/env").json()
            assert env["DATABASE_URL"].startswith("postgresql://postgres:")
            assert env["DATABASE_URL"].endswith("/" + type(self).engine.url.database)
            assert env["REDIS_URL"] == type(self).redis_url
            assert env["ORDER_EVENTS_TOPIC"] == self.topic("order-events")

        def test_z_crash(self):
            self.api.post("/crash")

    result = run_class(TestApp)
    assert result.testsRun == 2 and not result.failures
    [(_test, crash)] = result.errors
    assert "harness.errors.AppUnreachable: POST http://127.0.0.1:" in crash
    assert re.search(r"The app process \(pid \d+\) exited with code 3; its last output:\n(.*\n)*app: about to crash",
                     crash), crash
    assert "harness: the app crashed during this test." in crash  # unittest's report carries it too


def test_class_topics_are_read_from_each_tests_start():
    class TestOffsets(ServiceIntegrationTest):
        services = ("kafka",)
        topics = ("events",)

        def test_a(self):
            self.produce("events", {"n": "a"})
            assert [message.value for message in self.consume("events")] == [{"n": "a"}]

        def test_b(self):
            self.produce("events", {"n": "b"})
            assert [message.value for message in self.consume("events")] == [{"n": "b"}]  # not test_a's

    result = run_class(TestOffsets)
    assert result.testsRun == 2 and not result.failures and not result.errors, result.failures + result.errors


METADATA = MetaData()
NOTES = Table("service_notes", METADATA, Column("id", Integer, primary_key=True), Column("text", String(40)))


@pytest.mark.parametrize("reset", ["truncate", "capture"])
def test_rows_committed_elsewhere_are_undone_after_each_test(reset):
    seen = []

    class TestReset(ServiceIntegrationTest):
        services = ("postgres",)
        metadata = METADATA
        app_reset = reset

        @classmethod
        def seed_data(cls, session):
            session.execute(insert(NOTES).values(text="seed"))
            session.commit()

        def _app_writes(self, text):
            engine = create_engine(type(self).database_url)  # the app's own connection: commits for real
            with engine.begin() as connection:
                connection.execute(insert(NOTES).values(text=text))
            engine.dispose()

        def test_a(self):
            seen.append(sorted(self.session.scalars(select(NOTES.c.text))))
            self._app_writes("from a")

        def test_b(self):
            seen.append(sorted(self.session.scalars(select(NOTES.c.text))))
            self._app_writes("from b")

    result = run_class(TestReset)
    assert not result.failures and not result.errors, result.failures + result.errors
    assert seen == [["seed"], ["seed"]]  # neither test saw the other's committed row
    from harness.data import schema
    from harness.registry import registry

    endpoint = registry.acquire("postgres")
    database = schema.shared_database(endpoint, metadata=METADATA, migrations=None)
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(NOTES)) == 0  # the class left it empty
    registry.release(endpoint)


FAILING_SUITE = '''
import sys
from harness import AppProcess, ServiceIntegrationTest


class TestReported(ServiceIntegrationTest):
    services = ()
    app = AppProcess([sys.executable, {app!r}, "ok"])

    def test_fails_after_a_request(self):
        self.api.post("/orders-from-this-test")
        assert False, "the order was not accepted"
'''


def test_a_failing_tests_report_carries_the_apps_output_under_pytest(tmp_path):
    write(tmp_path, "test_reported.py", FAILING_SUITE.format(app=APP))
    result = run_pytest(tmp_path, env=clean_env(PYTHONPATH=ROOT))
    assert "1 failed" in result.stdout, result.stdout + result.stderr
    assert "harness: the app's output during this test:\napp: POST /orders-from-this-test" in result.stdout


def test_no_app_process_survives_a_killed_runner(tmp_path):
    token = f"harness-app-{os.getpid()}-{time.monotonic_ns()}"
    write(tmp_path, "test_slow.py", f'''
import sys, time
from harness import AppProcess, ServiceIntegrationTest

class TestSlow(ServiceIntegrationTest):
    services = ()
    app = AppProcess([sys.executable, {APP!r}, "ok", {token!r}])

    def test_waits(self):
        print("READY", flush=True)
        time.sleep(60)
''')
    import subprocess

    runner = subprocess.Popen([sys.executable, "-m", "unittest", "test_slow"], cwd=tmp_path, text=True,
                              env=clean_env(PYTHONPATH=ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert runner.stdout.readline().strip() == "READY"
        assert _processes_with(token)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 15
        while _processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_with(token), "the reaper left the app running"
    finally:
        runner.kill()
        runner.wait()
        runner.stdout.close()


def _processes_with(token, where="cmdline"):
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if token in (proc / where).read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_unittest_runs_the_orders_sample_and_leaves_no_app(tmp_path):
    token = f"HARNESS_TEST_RUN_MARK=orders-{os.getpid()}-{time.monotonic_ns()}"  # inherited by the app it starts
    name, value = token.split("=")
    result = run_python(["-m", "unittest", "samples.test_orders_unittest"], Path(ROOT),
                        env={**clean_env(), name: value})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 22 tests" in result.stderr
    assert not _processes_with(token, where="environ")


def test_api_client_error_when_nothing_listens():
    from harness import APITestClient

    client = APITestClient("http://127.0.0.1:9", app_status=lambda: "The app process is still running (pid 1).")
    with pytest.raises(AppUnreachable) as excinfo:
        client.get("/orders")
    client.close()
    assert str(excinfo.value) == ("GET http://127.0.0.1:9/orders got no answer: connection refused (nothing listens "
                                  "there).\nThe app process is still running (pid 1).")


def test_topics_without_kafka_is_a_config_error():
    class TestNoKafka(ServiceIntegrationTest):
        services = ("postgres",)
        topics = ("events",)

        def test_nothing(self):
            pass

    assert (f"harness.errors.ConfigError: {TestNoKafka.__qualname__}.topics needs 'kafka' in services "
            "(services = ('postgres',)).") in class_setup_error(TestNoKafka)
    with pytest.raises(ConfigError, match="app_reset = 'capturre' is not valid.*Did you mean 'capture'"):
        type("TestTypo", (ServiceIntegrationTest,), {"app_reset": "capturre", "services": ()})._harness_validate()


def _flask_notes_app():
    from flask import Flask, current_app, jsonify

    flask_app = Flask("notes")

    @flask_app.get("/health")
    def health():
        return jsonify(status="ok")

    @flask_app.post("/notes/<text>")
    def add_note(text):
        session = current_app.config["SESSION_FACTORY"]()  # the app's own sessionmaker, or harness's in tests
        try:
            session.execute(insert(NOTES).values(text=text))
            session.commit()
            return jsonify(count=session.scalar(select(func.count()).select_from(NOTES))), 201
        finally:
            session.close()

    return flask_app


def test_a_flask_app_given_the_tests_session_is_rolled_back_after_each_test():
    from harness import WSGIApp

    counts = []

    class TestFlask(ServiceIntegrationTest):
        services = ("postgres",)
        metadata = METADATA
        app = WSGIApp(_flask_notes_app())
        session_config_key = "SESSION_FACTORY"

        def test_a(self):
            counts.append(self.api.post("/notes/a").json()["count"])
            assert self.session.scalar(select(func.count()).select_from(NOTES)) == 1  # the app's row, seen

        def test_b(self):
            counts.append(self.api.post("/notes/b").json()["count"])

    result = run_class(TestFlask)
    assert not result.failures and not result.errors, result.failures + result.errors
    assert counts == [1, 1]  # each test saw only its own row: rolled back, not committed
