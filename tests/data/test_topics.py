"""TopicManager on a real broker: names, produce/consume, matching, errors, and nothing left after cleanup."""

import datetime
import threading
import time

import pytest

from harness.data.topics import TopicManager
from harness.errors import ConfigError, MessagesNotReceived, MessagingError
from harness.services.kafka import kafka_python


@pytest.fixture()
def kafka(kafka_broker):
    with TopicManager(kafka_broker, timeout=5) as manager:
        yield manager


def test_topic_names_are_namespaced_per_run_worker_and_test(kafka_broker, kafka_admin):
    first, second = TopicManager(kafka_broker), TopicManager(kafka_broker)
    try:
        assert first.prefix.startswith("harness.") and first.prefix != second.prefix
        orders_a, orders_b = first.create_topic("orders"), second.create_topic("orders")
        assert orders_a == first.prefix + "orders" and orders_b == second.prefix + "orders"
        assert {orders_a, orders_b} <= set(kafka_admin.list_topics())
        assert first.create_topic() == first.prefix + "topic1"
    finally:
        first.cleanup()
        second.cleanup()


def test_produce_and_consume_round_trip_keys_headers_and_json(kafka):
    topic = kafka.create_topic("events")
    written = kafka.produce(topic, {"id": 1, "name": "Zoë"}, key="user-1", headers={"trace": "t-1"})
    assert (written.topic, written.partition, written.offset) == (topic, 0, 0)
    kafka.produce(topic, b"\x00binary")
    kafka.produce(topic, None, key="user-1")  # a tombstone
    first, second, third = kafka.consume(topic, count=3)
    assert first.value == {"id": 1, "name": "Zoë"} and first.key == "user-1" and first.headers == {"trace": "t-1"}
    assert second.value == b"\x00binary" and second.key is None
    assert third.value is None and third.offset == 2


def test_consume_goes_on_where_the_last_call_stopped(kafka):
    topic = kafka.create_topic()
    for number in range(5):
        kafka.produce(topic, {"n": number})
    assert [message.value["n"] for message in kafka.consume(topic, count=2)] == [0, 1]
    assert [message.value["n"] for message in kafka.consume(topic, count=3)] == [2, 3, 4]


def test_consume_by_assignment_reads_every_partition(kafka):
    topic = kafka.create_topic(partitions=3)
    for number in range(9):
        kafka.produce(topic, {"n": number}, key=f"k{number}")
    messages = kafka.consume(topic, count=9)
    assert sorted(message.value["n"] for message in messages) == list(range(9))
    assert len({message.partition for message in messages}) > 1


def test_too_few_messages_fails_saying_how_many_of_how_many_and_showing_them(kafka):
    topic = kafka.create_topic("slow")
    kafka.produce(topic, {"n": 1}, key="a")
    started = time.monotonic()
    with pytest.raises(MessagesNotReceived) as failure:
        kafka.consume(topic, count=3, timeout=0.5)
    assert time.monotonic() - started < 2
    assert isinstance(failure.value, AssertionError)
    assert str(failure.value) == (
        f"consume({topic!r}): 1 of 3 expected message(s) arrived within 0.5s. Received:\n"
        "  [0] partition 0 offset 0 key='a' value={'n': 1}"
    )


def test_assert_published_finds_a_match_by_subset_or_predicate(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, {"type": "created", "id": 1})
    kafka.produce(topic, {"type": "paid", "id": 1, "amount": {"value": 30, "currency": "EUR"}})
    found = kafka.assert_published(topic, {"type": "paid", "amount": {"currency": "EUR"}})
    assert found.offset == 1
    assert kafka.assert_published(topic, lambda message: message.value["id"] == 1).offset == 0


def test_assert_published_waits_for_a_message_produced_later(kafka):
    topic = kafka.create_topic()
    producer = threading.Timer(0.3, kafka.produce, args=(topic, {"late": True}))
    producer.start()
    try:
        assert kafka.assert_published(topic, {"late": True}, timeout=5).value == {"late": True}
    finally:
        producer.join()


def test_assert_published_timeout_lists_what_the_topic_held(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, {"type": "created"})
    kafka.produce(topic, {"kind": "other"})
    with pytest.raises(MessagesNotReceived) as failure:
        kafka.assert_published(topic, lambda message: message.value["type"] == "paid", timeout=0.3)
    assert str(failure.value) == (
        f"assert_published({topic!r}): no message matching the predicate within 0.3s. The topic held 2 message(s):\n"
        "  [0] partition 0 offset 0 key=None value={'type': 'created'}\n"
        "  [1] partition 0 offset 1 key=None value={'kind': 'other'}\n"
        "  the predicate raised KeyError('type') on 1 of them, first on [1]"
    )
    with pytest.raises(MessagesNotReceived, match=r"no message matching \{'type': 'paid'\} within 0.2s"):
        kafka.assert_published(topic, {"type": "paid"}, timeout=0.2)


def test_a_new_group_gets_its_first_message_fast(kafka, kafka_broker):
    topic = kafka.create_topic()
    kafka.produce(topic, {"n": 1})
    started = time.monotonic()
    [message] = kafka.consume(topic, group_id="billing")
    elapsed = time.monotonic() - started
    assert message.value == {"n": 1}
    # kafka-python's default 45 s session would hold this JoinGroup ~23 s on Tansu.
    assert elapsed < 10, elapsed
    assert kafka.group_id("billing") == kafka.prefix + "billing"


def test_a_group_consumer_and_its_committed_offsets(kafka):
    topic = kafka.create_topic(partitions=2)
    for number in range(4):
        kafka.produce(topic, {"n": number}, key=str(number))
    consumer = kafka.new_consumer(topic, group_id="workers")
    assert consumer.config["group_id"] == kafka.prefix + "workers"
    assert consumer.config["session_timeout_ms"] == 2000  # a broker harness started allows short sessions
    seen = []
    deadline = time.monotonic() + 10
    while len(seen) < 4 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=100).values():
            seen += [record.offset for record in records]
    assert len(seen) == 4
    consumer.commit()


def test_unknown_topic_is_refused_with_the_name_create_topic_gives(kafka):
    with pytest.raises(MessagingError) as error:
        kafka.produce("orders", {"id": 1})
    full = kafka.prefix + "orders"
    assert str(error.value) == (
        f"produce('orders'): topic 'orders' does not exist on the broker at {kafka.endpoint.address}. "
        f"Pass the name create_topic() returned ({full!r} for create_topic('orders'))."
    )
    with pytest.raises(MessagingError, match="does not exist"):
        kafka.consume(kafka.prefix + "never-made", timeout=0.1)


def test_a_topic_name_kafka_refuses_gets_kafkas_reason(kafka, kafka_admin):
    with pytest.raises(MessagingError) as error:
        kafka.create_topic("order events!")
    full = kafka.prefix + "order events!"
    assert str(error.value) == (
        f"create_topic('order events!'): Kafka refuses the topic name {full!r}: Topic name \"{full}\" is illegal, "
        "it contains a character other than ASCII alphanumerics, '.', '_' and '-'. "
        "(harness checks Kafka's naming rules itself, since not every broker does.)"
    )
    with pytest.raises(MessagingError, match="it can't be longer than 249 characters"):
        kafka.create_topic("x" * 250)
    assert not [name for name in kafka_admin.list_topics() if name.startswith(kafka.prefix)]


def test_a_topic_that_exists_already_gets_the_brokers_reason(kafka):
    kafka.create_topic("twice")
    with pytest.raises(MessagingError) as error:
        kafka.create_topic("twice")
    assert str(error.value).startswith(
        f"create_topic('twice'): the broker at {kafka.endpoint.address} refused topic {kafka.prefix + 'twice'!r}: "
    )
    assert "(TopicAlreadyExistsError)" in str(error.value)


def test_bad_arguments(kafka):
    topic = kafka.create_topic()
    with pytest.raises(TypeError, match=r"^value\['at'\] is a datetime.datetime, which is not JSON-serialisable"):
        kafka.produce(topic, {"at": datetime.datetime(2026, 1, 1)})
    with pytest.raises(ConfigError, match="partitions must be a whole number of at least 1, got 0"):
        kafka.create_topic(partitions=0)
    with pytest.raises(ConfigError, match="count must be at least 1"):
        kafka.consume(topic, count=0)


def _kafka_threads():
    return [thread for thread in threading.enumerate() if thread is not threading.main_thread()]


def test_cleanup_deletes_topics_and_groups_and_closes_every_client(kafka_broker, kafka_admin):
    threads_before = _kafka_threads()
    manager = TopicManager(kafka_broker)
    topic = manager.create_topic("audit", partitions=2)
    manager.produce(topic, {"n": 1})
    manager.consume(topic)
    manager.consume(topic, group_id="auditors")
    manager.new_consumer(topic, group_id="second")
    prefix = manager.prefix
    assert topic in kafka_admin.list_topics()
    manager.cleanup()
    manager.cleanup()  # idempotent
    assert not [name for name in kafka_admin.list_topics() if name.startswith(prefix)]
    assert not [group["group_id"] for group in kafka_admin.list_groups() if group["group_id"].startswith(prefix)]
    assert _kafka_threads() == threads_before


def test_cleanup_runs_when_the_block_raises(kafka_broker, kafka_admin):
    with pytest.raises(RuntimeError):
        with TopicManager(kafka_broker) as manager:
            manager.create_topic("doomed")
            raise RuntimeError("the test failed")
    assert not [name for name in kafka_admin.list_topics() if name.startswith(manager.prefix)]


def test_client_config_gives_the_code_under_test_fast_namespaced_groups(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, {"n": 1})
    config = kafka.client_config(group_id="app")
    assert config["group_id"] == kafka.prefix + "app" and config["session_timeout_ms"] == 2000
    assert "group_id" not in kafka.client_config()
    consumer = kafka_python().KafkaConsumer(topic, **config)
    try:
        records = {}
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            records = consumer.poll(timeout_ms=100)
        assert records
    finally:
        consumer.close()
    assert kafka.groups == [kafka.prefix + "app"]  # deleted by cleanup with the others


def test_an_admin_client_passed_in_is_shared_not_closed(kafka_broker, kafka_admin):
    with TopicManager(kafka_broker, admin=kafka_admin) as manager:
        topic = manager.create_topic()
        assert manager.admin is kafka_admin
    assert topic not in kafka_admin.list_topics()  # deleted, and the shared client still works
