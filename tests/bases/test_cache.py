"""CacheTestBase: a database per class, emptied after every test, both runner styles, nothing left behind."""

import pytest

from harness import CacheTestBase, NamespaceUnavailable
from harness.bases import CacheTestMixin
from harness.data.leases import DatabaseLease
from harness.services.redis import redis_py
from tests.bases.conftest import problems, run_case
from tests.conftest import redis_dbs_in_use
from tests.helpers import (
    RUNNER_STYLES,
    assert_nothing_left,
    clean_env,
    interrupt_pytest_mid_test,
    run_one_pass_one_fail,
    run_pytest,
    write,
)


@pytest.fixture(scope="module", autouse=True)
def redis_server(private_servers):
    """This module's own Redis, which its classes and child runs use instead of the run's.

    Its tests check that no key and no lease is left anywhere on the server; the run's own
    server also holds what tests on other xdist workers are doing right now.
    """
    from harness.config import set_cli_options
    from harness.services.redis import SERVICE

    url = str(private_servers("redis").url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_REDIS_URL", url)
        set_cli_options({})  # forget the run's config: the classes below read the variable
        try:
            yield SERVICE.external_endpoint(url)
        finally:
            patch.delenv("HARNESS_REDIS_URL")
            set_cli_options({})


def test_two_tests_writing_the_same_key_never_see_each_other(redis_server):
    class TestIsolation(CacheTestBase):
        def test_a_writes(self):
            assert self.redis.set("user:1", "Ada", nx=True)
            self.assert_key("user:1", "Ada")

        def test_b_writes_the_same_key(self):
            assert self.keys() == []  # would hold test_a's key if the database were not emptied
            assert self.redis.set("user:1", "Bob", nx=True)

    result = run_case(TestIsolation)
    assert problems(result) == [] and result.testsRun == 2
    assert redis_dbs_in_use(redis_server) == ({}, [])  # emptied and given back


def test_classes_running_at_the_same_time_get_different_databases(redis_server):
    class First(CacheTestMixin):
        pass

    class Second(CacheTestMixin):
        pass

    First._harness_enter_class()
    try:
        Second._harness_enter_class()
        try:
            assert First.redis_database != Second.redis_database
            assert First.redis_url.endswith(f"/{First.redis_database}")
            redis = redis_py().Redis
            with redis.from_url(First.redis_url) as first, redis.from_url(Second.redis_url) as second:
                first.set("shared-name", "first")
                assert second.get("shared-name") is None
            assert len(redis_dbs_in_use(redis_server)[1]) == 2  # two leases held
        finally:
            Second._harness_exit_class()
    finally:
        First._harness_exit_class()
    assert redis_dbs_in_use(redis_server) == ({}, [])
    assert "redis_url" not in First.__dict__


def test_a_class_that_finds_no_free_database_fails_clearly_and_starts_nothing_else():
    class TestCrowded(CacheTestBase):
        # A server of its own (local, whatever HARNESS_REDIS_URL says): one usable database.
        config_overrides = {"redis_databases": 2, "redis_provider": "local"}

        def test_x(self):
            pass

    TestCrowded._harness_enter_class()  # takes the only database
    try:
        class TestLate(TestCrowded):
            pass

        with pytest.raises(NamespaceUnavailable, match=r"is taken: 1 usable \(database 0 holds harness's leases\)"):
            TestLate._harness_enter_class()
        assert "redis_url" not in TestLate.__dict__
    finally:
        TestCrowded._harness_exit_class()


def test_the_lease_of_a_class_is_released_even_when_a_test_fails(redis_server):
    class TestFails(CacheTestBase):
        def test_fails_after_writing(self):
            self.redis.set("left", "behind?")
            self.fail("on purpose")

    result = run_case(TestFails)
    assert len(result.failures) == 1
    assert "harness: this class's Redis database: redis://:***@127.0.0.1:" in result.failures[0][1]
    assert redis_dbs_in_use(redis_server) == ({}, [])


SUITE = '''
import pathlib

from harness import CacheTestBase
from harness.bases import CacheTestMixin


class Checks:
    def test_sets_a_session(self):
        self.redis.set("session:1", "ada", ex=60)
        self.assert_key("session:1", "ada", ttl_between=(50, 60))
        pathlib.Path("dbs.log").open("a").write(f"{self.redis_database}\\n")

    def test_fails_after_writing(self):
        self.redis.set("session:2", "bob")
        assert self.keys("session:*") == ["session:2"]
        assert False, "this test fails on purpose"
'''

UNITTEST_CASE = "class TestStyle(Checks, CacheTestBase):\n    pass\n"
PYTEST_CASE = "class TestStyle(Checks, CacheTestMixin):\n    pass\n"


@pytest.mark.parametrize("style", RUNNER_STYLES)
def test_every_runner_style_leaves_no_key_and_no_lease(tmp_path, style, redis_server):
    env = clean_env(HARNESS_REDIS_URL=redis_server.url)  # a server that outlives the child run
    suite = SUITE + (PYTEST_CASE if style == "plain pytest class" else UNITTEST_CASE)
    result, output = run_one_pass_one_fail(tmp_path, style, suite, env)
    assert "this test fails on purpose" in output
    assert "this class's Redis database: redis://:***@127.0.0.1:" in output
    assert redis_server.url.split("@")[0] not in output  # the password never shows
    assert redis_dbs_in_use(redis_server) == ({}, [])
    assert_nothing_left(result)


def test_an_unreachable_url_fails_the_class_naming_the_address_without_the_password(tmp_path):
    write(tmp_path, "test_down.py", '''
from harness import CacheTestBase

class TestDown(CacheTestBase):
    def test_x(self):
        pass
''')
    result = run_pytest(tmp_path, "test_down.py", env=clean_env(
        HARNESS_REDIS_URL="redis://:hunter2@127.0.0.1:1/0", HARNESS_CONNECT_TIMEOUT="2"))
    assert "ServiceUnavailable: redis at 127.0.0.1:1 (redis://:***@127.0.0.1:1/0) did not answer within 2s" \
        in result.stdout, result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert result.returncode == 1
    assert_nothing_left(result)


def test_a_lease_held_elsewhere_is_never_used(redis_server):
    other = DatabaseLease(redis_server, owner="another run")
    taken = other.acquire()
    try:
        class TestNext(CacheTestBase):
            def test_x(self):
                assert self.redis_database != taken

        result = run_case(TestNext)
        assert problems(result) == []
    finally:
        other.release()


def test_a_run_interrupted_mid_test_empties_and_gives_back_its_database(tmp_path, redis_server):
    write(tmp_path, "test_slow.py", '''
import pathlib, time
from harness import CacheTestBase

class TestSlow(CacheTestBase):
    def test_waits(self):
        self.redis.set("half-done", "1")
        pathlib.Path("ready").write_text("1")
        time.sleep(120)
''')
    def one_database_in_use():
        used, leases = redis_dbs_in_use(redis_server)
        assert list(used.values()) == [1] and len(leases) == 1

    env = clean_env(HARNESS_REDIS_URL=redis_server.url)
    interrupt_pytest_mid_test(tmp_path, env, while_running=one_database_in_use)
    assert redis_dbs_in_use(redis_server) == ({}, [])


def test_a_client_the_class_or_the_test_sets_is_its_redis_and_the_helpers_keep_harness_own(redis_server):
    redis = redis_py()

    class TestClassClient(CacheTestBase):
        @classmethod
        def setup_class(cls):
            super().setup_class()
            cls.redis = redis.Redis.from_url(cls.redis_url)  # answers bytes, as a guide's client does

        @classmethod
        def teardown_class(cls):
            cls.redis.close()
            super().teardown_class()

        def test_class_client(self):
            self.redis.set("greeting", "hello")
            assert self.redis.get("greeting") == b"hello"  # the class's client
            assert self.keys() == ["greeting"]  # harness's: decoded strings
            self.assert_key("greeting", "hello")

    class TestTestClient(CacheTestBase):
        def setup_method(self):
            super().setup_method()
            self.redis = redis.Redis.from_url(self.redis_url)

        def teardown_method(self):
            self.redis.close()
            super().teardown_method()

        def test_a_writes(self):
            self.redis.set("greeting", "hello")
            assert self.redis.get("greeting") == b"hello"
            self.assert_key("greeting", "hello")

        def test_b_sees_nothing(self):
            assert self.keys() == []  # emptied after test_a, whose client was its own

    for case, tests in ((TestClassClient, 1), (TestTestClient, 2)):
        result = run_case(case)
        assert problems(result) == [] and result.testsRun == tests
    assert redis_dbs_in_use(redis_server) == ({}, [])
