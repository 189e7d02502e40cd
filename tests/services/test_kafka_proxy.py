"""The proxy in front of Tansu: default-configured consumer groups form fast and stay formed.

The first tests run it against a stand-in broker that records what it receives;
the last ones use the run's real broker (Tansu behind the proxy, as harness
starts it) with kafka-python's defaults, as the guides write consumers.
"""

import json
import os
import socket
import struct
import threading
import time

import pytest

from harness.config import IntegrationTestConfig
from harness.data.topics import TopicManager
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.services.kafka import SERVICE, kafka_python
from harness.services.kafka_proxy import GroupProxy

GROUP_REQUESTS = pytest.importorskip("kafka.protocol.consumer.group")
JoinGroupRequest = GROUP_REQUESTS.JoinGroupRequest
HeartbeatRequest = GROUP_REQUESTS.HeartbeatRequest
LeaveGroupRequest = GROUP_REQUESTS.LeaveGroupRequest


class StandInBroker:
    """A TCP server that keeps every request frame it is sent, and answers Heartbeats with ``heartbeat_error``."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = self.server.getsockname()
        self.frames = []
        self.heartbeat_error = 0
        self.connections = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        try:
            while header := connection.recv(4, socket.MSG_WAITALL):
                frame = connection.recv(struct.unpack(">i", header)[0], socket.MSG_WAITALL)
                self.frames.append(frame)
                api_key, version, correlation = struct.unpack_from(">hhi", frame)
                if api_key == 12:
                    answer = struct.pack(">iih", correlation, 0, self.heartbeat_error)
                    connection.sendall(struct.pack(">i", len(answer)) + answer)
        except OSError:
            pass

    def heartbeats_from_the_proxy(self):
        decoded = []
        for frame in list(self.frames):
            if frame[:4] == struct.pack(">hh", 12, 3):
                request = HeartbeatRequest.decode(frame, version=3, header=True)
                if request.header.client_id == "harness-group-keepalive":
                    decoded.append(request)
        return decoded

    def close(self):
        for sock in (self.server, *self.connections):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
            except OSError:
                pass
            sock.close()
        self.accepting.join()


@pytest.fixture()
def broker():
    stand_in = StandInBroker()
    yield stand_in
    stand_in.close()


@pytest.fixture()
def proxy(broker):
    with GroupProxy(("127.0.0.1", 0), broker=broker.address, session_timeout_ms=400) as running:
        yield running


def framed(request, version, correlation=1):
    request.with_header(correlation_id=correlation, client_id="guide")
    return bytes(request.encode(version=version, header=True, framed=True))


def join(member="m1", session=45000):
    return JoinGroupRequest(
        group_id="orders", session_timeout_ms=session, rebalance_timeout_ms=300000, member_id=member,
        group_instance_id=None, protocol_type="consumer", protocols=[], reason=None,
    )


def wait_for(condition, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.01)


def test_a_long_session_is_shortened_in_every_join_version_and_other_bytes_pass_as_sent(broker, proxy):
    other = struct.pack(">hhi", 3, 1, 9) + b"\x00\x05guide" + struct.pack(">i", -1)  # Metadata v1, all topics
    with socket.create_connection(proxy.address) as client:
        for version, correlation in ((0, 1), (5, 2), (7, 3), (9, 4)):
            client.sendall(framed(join(), version, correlation))
        client.sendall(framed(join(session=300), 7, 5))  # shorter than the proxy's: as sent
        for byte in struct.pack(">i", len(other)) + other:  # one byte at a time
            client.sendall(bytes([byte]))
        wait_for(lambda: len(broker.frames) == 6, "the broker got the six requests")
    joins = [JoinGroupRequest.decode(frame, version=version, header=True)
             for frame, version in zip(broker.frames[:5], (0, 5, 7, 9, 7), strict=True)]
    assert [request.session_timeout_ms for request in joins] == [400, 400, 400, 400, 300]
    assert {(request.group_id, request.member_id) for request in joins} == {("orders", "m1")}
    assert broker.frames[5] == other


def test_the_proxy_heartbeats_for_a_member_whose_session_it_shortened_until_it_leaves(broker, proxy):
    with socket.create_connection(proxy.address) as client:
        client.sendall(framed(join(), 7))
        heartbeat = HeartbeatRequest(group_id="orders", generation_id=3, member_id="m1", group_instance_id=None)
        client.sendall(framed(heartbeat, 4, 2))
        wait_for(lambda: len(broker.heartbeats_from_the_proxy()) >= 3, "three heartbeats from the proxy")
        sent = broker.heartbeats_from_the_proxy()[-1]
        assert (sent.group_id, sent.generation_id, sent.member_id) == ("orders", 3, "m1")

        leave = LeaveGroupRequest(group_id="orders", members=[
            LeaveGroupRequest.MemberIdentity(member_id="m1", group_instance_id=None, reason=None)])
        client.sendall(framed(leave, 5, 3))
        wait_for(lambda: any(frame[:2] == b"\x00\x0d" for frame in broker.frames), "the broker got the LeaveGroup")
        left = len(broker.heartbeats_from_the_proxy())
        time.sleep(0.5)  # five keepalive intervals
        assert len(broker.heartbeats_from_the_proxy()) <= left + 1  # at most one already on its way


def test_a_member_is_kept_alive_for_its_own_session_only(broker, proxy):
    """A client that went silent (crashed) is no longer vouched for once its own session timeout has passed."""
    with socket.create_connection(proxy.address) as client:
        client.sendall(framed(join(session=700), 7))
        wait_for(broker.heartbeats_from_the_proxy, "a heartbeat from the proxy")

        def stopped():
            before = len(broker.heartbeats_from_the_proxy())
            time.sleep(0.3)
            return len(broker.heartbeats_from_the_proxy()) == before

        wait_for(stopped, "the proxy stopped heartbeating for the silent member")


def test_a_member_the_broker_no_longer_knows_is_no_longer_kept_alive(broker, proxy):
    broker.heartbeat_error = 25  # UNKNOWN_MEMBER_ID
    with socket.create_connection(proxy.address) as client:
        client.sendall(framed(join(), 7))
        wait_for(broker.heartbeats_from_the_proxy, "a heartbeat from the proxy")
        time.sleep(0.5)
        assert len(broker.heartbeats_from_the_proxy()) == 1


def test_close_ends_every_connection_and_thread(broker):
    proxy = GroupProxy(("127.0.0.1", 0), broker=broker.address).start()
    client = socket.create_connection(proxy.address)
    client.sendall(framed(join(), 7))
    wait_for(lambda: broker.frames, "the broker got the JoinGroup")
    proxy.close()
    proxy.close()
    assert client.recv(1) == b""  # closed by the proxy
    client.close()
    assert [thread.name for thread in threading.enumerate() if thread.name.startswith("kafka-proxy")] == []


# -- the run's broker, as the guides use it ----------------------------------------------------


@pytest.fixture()
def kafka(kafka_broker):
    with TopicManager(kafka_broker) as manager:
        yield manager


def default_consumer(kafka_broker, *topics, group):
    """A consumer as the guides write it: the client's defaults but for the group and where to start."""
    return kafka_python().KafkaConsumer(
        *topics, bootstrap_servers=kafka_broker.url, group_id=group, auto_offset_reset="earliest"
    )


def poll_values(consumer, count, timeout=10.0):
    """Poll as the guides do, until ``count`` values or ``timeout`` seconds."""
    values, deadline = [], time.monotonic() + timeout
    while len(values) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values += [json.loads(record.value) for record in records]
    return values


def test_a_consumer_with_the_clients_defaults_gets_the_guides_five_messages_within_its_poll_loop(kafka_broker, kafka):
    topic = kafka.create_topic()
    for n in range(5):
        kafka.produce(topic, {"n": n})
    consumer = default_consumer(kafka_broker, topic, group=kafka.group_id("guide"))
    try:
        assert sorted(value["n"] for value in poll_values(consumer, 5)) == [0, 1, 2, 3, 4]
    finally:
        consumer.close()


def test_offsets_a_default_consumer_committed_are_where_the_next_one_of_its_group_starts(kafka_broker, kafka):
    topic, group = kafka.create_topic(), kafka.group_id("resume")
    for n in range(5):
        kafka.produce(topic, {"n": n})
    first = default_consumer(kafka_broker, topic, group=group)
    try:
        assert len(poll_values(first, 5)) == 5
    finally:
        first.close()  # commits, with the client's default auto-commit
    for n in range(5, 8):
        kafka.produce(topic, {"n": n})
    second = default_consumer(kafka_broker, topic, group=group)
    try:
        values = poll_values(second, 3)
        values += poll_values(second, 1, timeout=1.0)  # and nothing more
    finally:
        second.close()
    assert sorted(value["n"] for value in values) == [5, 6, 7]


def test_two_default_consumers_share_the_partitions_and_keep_them(kafka_broker, kafka):
    """A second member rebalances the group; then neither is evicted between its 3 s heartbeats."""
    kafka_module = kafka_python()
    topic, group = kafka.create_topic(partitions=4), kafka.group_id("pair")
    revoked = []

    class Listener(kafka_module.ConsumerRebalanceListener):
        def __init__(self, name):
            self.name = name

        def on_partitions_revoked(self, partitions):
            revoked.append((self.name, sorted(partition.partition for partition in partitions)))

        def on_partitions_assigned(self, partitions):
            pass

    stop = threading.Event()
    consumers = []

    def run(consumer):  # each in a thread of its own, polling as an application does
        while not stop.is_set():
            consumer.poll(timeout_ms=100)

    threads = []
    try:
        for name in ("first", "second"):
            consumer = default_consumer(kafka_broker, group=group)
            consumer.subscribe([topic], listener=Listener(name))
            consumers.append(consumer)
            threads.append(threading.Thread(target=run, args=(consumer,)))
            threads[-1].start()
            wait_for(consumer.assignment, f"the {name} consumer got partitions", timeout=10)
        shared = lambda: all(len(consumer.assignment()) == 2 for consumer in consumers)  # noqa: E731
        wait_for(shared, "two partitions each", timeout=15)
        assert sorted(partition.partition for consumer in consumers for partition in consumer.assignment()) == [
            0, 1, 2, 3]
        settled = list(revoked)
        time.sleep(7)  # more than two heartbeat intervals of each
        assert revoked == settled, "a member was evicted and the group rebalanced"
        assert all(len(consumer.assignment()) == 2 for consumer in consumers)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for consumer in consumers:
            consumer.close()


def test_the_broker_is_private_behind_the_proxy_and_both_go_when_it_stops():
    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    endpoint = provider.start()
    try:
        command = provider.launch.command
        broker_port = int(command[command.index("--broker") + 1].rsplit(":", 1)[1])
        assert command[command.index("--advertised-listener-url") + 1] == f"tcp://127.0.0.1:{endpoint.port}"
        assert command[command.index("--listener-url") + 1] == f"tcp://127.0.0.1:{broker_port}"
        leader = provider.process.pid
        group = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _running_in_group(pid, leader)]
        assert len(group) == 2  # the proxy and its broker, killed together
        if os.geteuid() == 0:  # both run as the unprivileged server user
            assert all(os.stat(f"/proc/{pid}").st_uid != 0 for pid in group)
    finally:
        provider.stop()
    wait_for(lambda: not any(_running_in_group(pid, leader) for pid in group), "both processes gone")


def _running_in_group(pid, group):
    """Whether process ``pid`` runs (a zombie does not) in process group ``group``."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state, _parent, process_group = stat.read().rsplit(")", 1)[1].split()[:3]
    except OSError:
        return False
    return state != "Z" and int(process_group) == group
