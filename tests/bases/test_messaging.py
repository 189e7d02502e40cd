"""MessageQueueTestBase: per-test topics, both runner styles, and nothing left on the broker after a run."""

import time
from pathlib import Path

import pytest

from harness import MessageQueueTestBase, MessagesNotReceived
from harness.providers.rundir import current_run
from harness.services.kafka import kafka_python
from tests.bases.conftest import problems, run_case
from tests.helpers import (
    RUNNER_STYLES,
    assert_nothing_left,
    clean_env,
    interrupt_pytest_mid_test,
    run_one_pass_one_fail,
    run_pytest,
    write,
)


def _leftovers(kafka_admin):
    """Topics and groups of harness runs other than this one (every child run must have removed its own).

    This run's own are left out, whichever xdist worker's tests are still using them.
    """
    mine = f"harness.{current_run().token}."
    topics = [name for name in kafka_admin.list_topics() if name.startswith("harness.") and not name.startswith(mine)]
    groups = [group["group_id"] for group in kafka_admin.list_groups()
              if group["group_id"].startswith("harness.") and not group["group_id"].startswith(mine)]
    found = topics + groups
    if found:  # say whose they are, to tell a leak from a run still going
        from harness.data.shared_broker import owner_of

        def who(pid):
            try:
                return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            except OSError:
                return "gone"

        found = [f"{name} (owner pid {owner.pid}, {'dead' if owner.provably_dead(None) else 'alive'}: "
                 f"{who(owner.pid)})" if (owner := owner_of(name)) else name for name in found]
    return found


def test_two_tests_using_the_same_topic_name_never_see_each_others_messages(kafka_admin):
    seen = {}

    class TestIsolation(MessageQueueTestBase):
        def test_a_publishes(self):
            topic = self.create_topic("events")
            for number in range(3):
                self.produce(topic, {"n": number})
            seen["a"] = topic
            assert len(self.consume(topic, count=3)) == 3

        def test_b_sees_an_empty_topic(self):
            topic = self.create_topic("events")
            seen["b"] = topic
            with self.assertRaises(MessagesNotReceived):
                self.consume(topic, timeout=0.3)

    result = run_case(TestIsolation)
    assert problems(result) == [] and result.testsRun == 2
    assert seen["a"] != seen["b"] and seen["a"].endswith(".events") and seen["b"].endswith(".events")
    remaining = set(kafka_admin.list_topics())
    assert seen["a"] not in remaining and seen["b"] not in remaining


def test_the_class_gets_the_bootstrap_servers_and_forgets_them_after(kafka_broker):
    captured = {}

    class TestBootstrap(MessageQueueTestBase):
        def test_x(self):
            captured["bootstrap"] = self.bootstrap_servers
            captured["producer"] = self.producer
            captured["admin"] = self.kafka.admin

        def test_y(self):
            assert self.kafka.admin is captured["admin"]  # one admin client for the class

    result = run_case(TestBootstrap)
    assert problems(result) == []
    assert captured["bootstrap"] == kafka_broker.url
    assert "bootstrap_servers" not in TestBootstrap.__dict__
    with pytest.raises(Exception, match="closed|Closed"):
        captured["producer"].send("anything", b"x")  # closed after the test
    assert captured["admin"]._closed  # and the class's admin client after the class


SUITE = '''
import pathlib

from harness import MessageQueueTestBase
from harness.bases import MessageQueueTestMixin


class Checks:
    def test_round_trip_and_a_group(self):
        topic = self.create_topic("orders", partitions=2)
        self.produce(topic, {"id": 1}, key="user-1")
        assert self.consume(topic)[0].value == {"id": 1}
        assert self.consume(topic, group_id="billing")[0].key == "user-1"
        pathlib.Path("topics.log").open("a").write(topic + "\\n")

    def test_fails_after_creating_a_topic(self):
        topic = self.create_topic("doomed")
        self.produce(topic, {"id": 2})
        pathlib.Path("topics.log").open("a").write(topic + "\\n")
        assert False, "this test fails on purpose"
'''

UNITTEST_CASE = "class TestStyle(Checks, MessageQueueTestBase):\n    pass\n"
PYTEST_CASE = "class TestStyle(Checks, MessageQueueTestMixin):\n    pass\n"


@pytest.mark.parametrize("style", RUNNER_STYLES)
def test_every_runner_style_removes_every_topic_and_group_whatever_the_outcome(
    tmp_path, style, private_servers, private_kafka_admin
):
    # A broker that outlives the child run, and that only this module's tests use.
    env = clean_env(HARNESS_KAFKA_BOOTSTRAP=private_servers("kafka").url)
    suite = SUITE + (PYTEST_CASE if style == "plain pytest class" else UNITTEST_CASE)
    result, output = run_one_pass_one_fail(tmp_path, style, suite, env)
    assert "this test fails on purpose" in output
    assert "this test's topics and groups: harness." in output
    topics = (tmp_path / "topics.log").read_text().split()
    assert len(topics) == 2 and all(topic.startswith("harness.") for topic in topics)
    assert _leftovers(private_kafka_admin) == []
    assert_nothing_left(result)


def test_a_run_interrupted_mid_test_still_deletes_its_topics(tmp_path, private_servers, private_kafka_admin):
    kafka_admin = private_kafka_admin
    write(tmp_path, "test_slow.py", '''
import pathlib, time
from harness import MessageQueueTestBase

class TestSlow(MessageQueueTestBase):
    def test_waits(self):
        self.create_topic("interrupted")
        pathlib.Path("ready").write_text("1")
        time.sleep(120)
''')
    def topic_exists():
        assert any(".interrupted" in name for name in kafka_admin.list_topics())

    env = clean_env(HARNESS_KAFKA_BOOTSTRAP=private_servers("kafka").url)
    interrupt_pytest_mid_test(tmp_path, env, while_running=topic_exists)
    assert _leftovers(kafka_admin) == []


def test_an_unreachable_bootstrap_address_fails_the_class_naming_it(tmp_path):
    write(tmp_path, "test_down.py", '''
from harness import MessageQueueTestBase

class TestDown(MessageQueueTestBase):
    def test_x(self):
        pass
''')
    started = time.monotonic()
    result = run_pytest(tmp_path, "test_down.py", env=clean_env(
        HARNESS_KAFKA_BOOTSTRAP="127.0.0.1:1", HARNESS_CONNECT_TIMEOUT="2"))
    assert time.monotonic() - started < 30
    assert "ServiceUnavailable: kafka at 127.0.0.1:1 (127.0.0.1:1) did not answer within 2s (127.0.0.1:1: " \
           "Connection refused). Check" in result.stdout, result.stdout
    assert "HARNESS_KAFKA_BOOTSTRAP" in result.stdout
    assert result.returncode == 1
    assert_nothing_left(result)


def test_a_misspelt_message_timeout_is_named():
    class Case(MessageQueueTestBase):
        mesage_timeout = 3

        def test_x(self):
            pass

    result = run_case(Case)
    assert result.errors[0][1].rstrip().endswith(
        "ConfigError: test_a_misspelt_message_timeout_is_named.<locals>.Case.mesage_timeout is not a harness "
        "setting, so it would be ignored. Did you mean 'message_timeout'?"
    )


def _kafka():
    """kafka-python, and a JSON (de)serializer as the guides' clients have (a lambda there is deprecated)."""
    kafka = kafka_python()
    return kafka, kafka.serializer.JsonSerializer()


def test_clients_the_class_makes_in_setup_class_are_the_tests_and_the_helpers_keep_harness_own(kafka_broker):
    kafka, as_json = _kafka()
    seen = {}

    class TestEvents(MessageQueueTestBase):  # as the guides write it
        @classmethod
        def setup_class(cls):
            super().setup_class()
            cls.producer = kafka.KafkaProducer(bootstrap_servers=cls.bootstrap_servers, value_serializer=as_json)
            cls.consumer = kafka.KafkaConsumer(
                bootstrap_servers=cls.bootstrap_servers, auto_offset_reset="earliest",
                value_deserializer=as_json, consumer_timeout_ms=10_000,
            )

        def test_publish(self):
            topic = self.create_topic("test-topic")
            self.producer.send(topic, {"id": 1})  # the class's producer, through its serializer
            self.producer.flush()
            self.produce(topic, {"id": 2})  # harness's, which encodes the dict once itself
            self.consumer.assign([kafka.TopicPartition(topic, 0)])
            assert [next(self.consumer).value for _ in range(2)] == [{"id": 1}, {"id": 2}]
            assert [message.value for message in self.consume(topic, count=2)] == [{"id": 1}, {"id": 2}]
            seen["producer"] = self.producer

        @classmethod
        def teardown_class(cls):
            seen["bootstrap at teardown_class"] = cls.bootstrap_servers  # harness is still set up here
            cls.producer.close()  # the class's clients are the class's to close
            cls.consumer.close()
            super().teardown_class()

    result = run_case(TestEvents)
    assert problems(result) == []
    assert seen["producer"] is TestEvents.producer
    assert seen["bootstrap at teardown_class"] == kafka_broker.url


def test_a_producer_the_test_makes_in_setup_method_is_its_own():
    kafka, as_json = _kafka()

    class TestInstance(MessageQueueTestBase):
        def setup_method(self):
            super().setup_method()
            self.producer = kafka.KafkaProducer(bootstrap_servers=self.bootstrap_servers, value_serializer=as_json)

        def teardown_method(self):
            self.producer.close()
            super().teardown_method()

        def test_own_producer(self):
            topic = self.create_topic("events")
            self.producer.send(topic, {"id": 3})
            self.producer.flush()
            self.produce(topic, {"id": 4})
            assert [message.value for message in self.consume(topic, count=2)] == [{"id": 3}, {"id": 4}]
            assert self.producer is not self.kafka.producer

    class TestDefault(MessageQueueTestBase):
        def test_harness_producer(self):
            assert self.producer is self.kafka.producer  # when the test sets none

    for case in (TestInstance, TestDefault):
        result = run_case(case)
        assert problems(result) == [] and result.testsRun == 1
