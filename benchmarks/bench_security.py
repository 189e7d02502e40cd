"""What the hardening costs: SCRAM connections, the cleanup guard, sweeping a shared server, a heartbeat.

Every comparison below is measured in the same run, on servers this script starts
(the local provider: a dedicated unprivileged user, a per-run password). Timed:

1. A new psycopg connection and ``SELECT 1`` over TCP with the run's password, the server
   storing its SCRAM verifier with (a) harness's 256 PBKDF2 iterations and (b) PostgreSQL's
   default 4096 (the verifier is switched with ``ALTER ROLE`` between rounds, which alternate).
2. ``TestDataManager(engine).cleanup()`` of one tracked row (inserted untimed before each round)
   on a pooled engine: (a) guarded, as always (the connection's socket peer is read); (b) with
   ``allow_unsafe_target=True``, which skips the guard. Rounds alternate.
3. What a process pays the first time it uses a server shared with other runs, when nothing
   is left to remove (the common case): ``sweep_databases`` (one query), ``sweep_leases`` (a
   SCAN of database 0) and ``sweep_topics`` (list topics and groups) on endpoints seen as
   external, with this run's own database, lease and topic on them.
4. One heartbeat beat for a database on a shared server (``COMMENT ON DATABASE``, server time).
"""

from __future__ import annotations

import time

from _common import parse_args, ratio, summarize
from sqlalchemy import Column, Integer, MetaData, Table, create_engine

from harness import TestDataManager
from harness.data import databases, schema
from harness.data.leases import close_lease, open_lease, sweep_leases
from harness.data.shared_broker import sweep_topics
from harness.data.topics import TopicManager, new_admin_client
from harness.registry import registry
from harness.services import kafka, postgres, redis
from harness.services.postgres_local import scram_verifier


def connect_once(url: str) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        connection.execute("SELECT 1").fetchone()
    return time.perf_counter() - started


def set_iterations(endpoint: postgres.Endpoint, password: str, iterations: int) -> None:
    from psycopg import sql

    with postgres._connect(endpoint, autocommit=True) as connection:
        connection.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
            sql.Literal(scram_verifier(password, iterations=iterations))))


def main() -> None:
    arguments = parse_args(__doc__)
    rounds = 5 if arguments.quick else 40
    from harness.redaction import url_password

    endpoint = registry.acquire("postgres")
    password = url_password(endpoint.url)
    assert password is not None

    print("1. New connection + SELECT 1 over TCP with the run's password (SCRAM-SHA-256)")
    timings: dict[int, list[float]] = {256: [], 4096: []}
    for _ in range(rounds):
        for iterations in timings:
            set_iterations(endpoint, password, iterations)
            timings[iterations].append(connect_once(endpoint.url))
    set_iterations(endpoint, password, 256)
    fast = summarize("(a) 256 iterations (harness)", timings[256])
    slow = summarize("(b) 4096 iterations (PostgreSQL's default)", timings[4096])
    ratio("4096", slow, "256", fast)

    print("2. TestDataManager.cleanup() of one tracked row")
    table = Table("bench_guard", MetaData(), Column("id", Integer, primary_key=True))
    database = schema.shared_database(endpoint)
    engine = create_engine(database.url)
    table.create(engine)
    guarded: list[float] = []
    unguarded: list[float] = []
    for index in range(rounds * 5):
        for allow, into in ((False, guarded), (True, unguarded)):
            data = TestDataManager(engine, allow_unsafe_target=allow)
            data.create(table, id=index * 2 + allow)
            started = time.perf_counter()
            data.cleanup()
            into.append(time.perf_counter() - started)
    table.drop(engine)
    engine.dispose()
    with_guard = summarize("(a) guarded (socket peer read)", guarded)
    without = summarize("(b) allow_unsafe_target=True (no guard)", unguarded)
    print(f"  the guard adds {(with_guard - without) * 1e6:.0f} us a cleanup")

    print("3. First use of a shared server: removing what dead runs left, when nothing is left")
    shared_pg = postgres.SERVICE.external_endpoint(str(endpoint.url))
    shared_redis = redis.SERVICE.external_endpoint(str(registry.acquire("redis").url))
    shared_kafka = kafka.SERVICE.external_endpoint(str(registry.acquire("kafka").url))
    own_schema = MetaData()
    Table("bench_shared", own_schema, Column("id", Integer, primary_key=True))
    schema.shared_database(shared_pg, metadata=own_schema)  # its own database, watched by the heartbeat
    lease = open_lease(shared_redis, "bench")
    admin = new_admin_client(shared_kafka)
    manager = TopicManager(shared_kafka, admin=admin)
    manager.create_topic("bench")
    sweeps = {"sweep_databases": [], "sweep_leases": [], "sweep_topics": []}
    for _ in range(rounds):
        for name, sweep in (("sweep_databases", lambda: databases.sweep_databases(shared_pg)),
                            ("sweep_leases", lambda: sweep_leases(shared_redis)),
                            ("sweep_topics", lambda: sweep_topics(shared_kafka, admin))):
            started = time.perf_counter()
            assert sweep() == []
            sweeps[name].append(time.perf_counter() - started)
    for name, seconds in sweeps.items():
        summarize(name, seconds)

    print("4. One heartbeat beat for a database on a shared server")
    beats = []
    for _ in range(rounds):
        started = time.perf_counter()
        schema._beat(shared_pg.url)
        beats.append(time.perf_counter() - started)
    summarize("COMMENT ON DATABASE with the server's time", beats)
    manager.cleanup()
    admin.close()
    close_lease(lease)
    registry.shutdown()


if __name__ == "__main__":
    main()
