"""Per-test reset after an app's committed writes: TruncateReset vs ChangeCaptureReset, same server, same run.

Four tables (customers <- orders <- order_lines -> products) seeded with 1,000
rows (100 + 100 + 300 + 500) by the class's seed function (``executemany`` of
prepared rows, as a factory-made seed would insert them). The "app" is a pooled
engine of its own that commits, per test, either a typical API test's writes
(a POST: an order and its 2 lines, one transaction; a PATCH: one update of that
order) or a test that writes much (500 seeded rows updated, 500 inserted).
Three databases hold the same seed: one reset by TruncateReset; two
``CREATE DATABASE ... TEMPLATE`` copies, one with ChangeCaptureReset installed,
one bare (no triggers; the writes removed by hand, untimed). Timed, in
alternating rounds after an untimed warm-up:

(a) the app's writes: on the bare copy, with the capture triggers (their overhead), and
    right after TruncateReset's TRUNCATE (new, cold tables: part of that strategy's cost);
(b) reset() after those writes: TruncateReset (TRUNCATE + re-seed) vs ChangeCaptureReset (undo);
(c) reset() when nothing changed (a test that only read);
(d) TruncateReset's reset with and without the seed: how much of it is the TRUNCATE.

Every round checks, untimed, that each database is back to the seeded rows.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from _common import parse_args, ratio, summarize
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Numeric, String, Table, create_engine, text
from sqlalchemy.engine import Connection, Engine

from harness.data import schema
from harness.data.reset import ChangeCaptureReset, TruncateReset
from harness.registry import registry

metadata = MetaData()
customers = Table(
    "customers", metadata, Column("id", Integer, primary_key=True), Column("email", String(80), unique=True)
)
products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80)),
    Column("price", Numeric(10, 2)),
    Column("stock", Integer),
)
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", ForeignKey("customers.id"), index=True),
    Column("status", String(20)),
)
order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", ForeignKey("orders.id"), index=True),
    Column("product_id", ForeignKey("products.id"), index=True),
    Column("quantity", Integer),
)
SEED: dict[Table, list[dict[str, object]]] = {
    customers: [{"email": f"customer{i}@example.com"} for i in range(1, 101)],
    products: [{"name": f"product {i}", "price": i * 1.5, "stock": 100} for i in range(1, 101)],
    orders: [{"customer_id": i % 100 + 1, "status": "paid"} for i in range(1, 301)],
    order_lines: [{"order_id": i % 300 + 1, "product_id": i % 100 + 1, "quantity": 1} for i in range(1, 501)],
}


TRUNCATE, CAPTURE, BARE = "TruncateReset", "ChangeCaptureReset", "no triggers"


def seed(connection: Connection) -> None:
    """The class's seed rows, parents first (ids 1..n: the tables are empty, their sequences unused)."""
    for table, rows in SEED.items():
        connection.execute(table.insert(), rows)


def app_writes(app: Engine) -> None:
    """A typical API test: POST /orders (an order and 2 lines), then PATCH /orders/{id} (one update)."""
    with app.begin() as connection:
        order = connection.execute(
            orders.insert().values(customer_id=7, status="new").returning(orders.c.id)
        ).scalar_one()
        connection.execute(
            order_lines.insert(),
            [{"order_id": order, "product_id": 3, "quantity": 2}, {"order_id": order, "product_id": 5, "quantity": 1}],
        )
    with app.begin() as connection:
        connection.execute(orders.update().where(orders.c.id == order).values(status="paid"))


def undo_app_writes(engine: Engine) -> None:
    """Remove exactly what :func:`app_writes` added (the order, its lines, the ids they took), by hand."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM order_lines WHERE id > 500"))
        connection.execute(text("DELETE FROM orders WHERE id > 300"))
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('orders', 'id'), 300), "
                "setval(pg_get_serial_sequence('order_lines', 'id'), 500)"
            )
        )


def bulk_writes(app: Engine) -> None:
    """A test that writes much: every seeded order line updated (500 rows), 500 lines inserted."""
    with app.begin() as connection:
        connection.execute(text("UPDATE order_lines SET quantity = quantity + 1"))
        connection.execute(
            text(
                "INSERT INTO order_lines (order_id, product_id, quantity) "
                "SELECT g % 300 + 1, g % 100 + 1, 1 FROM generate_series(1, 500) g"
            )
        )


def undo_bulk_writes(engine: Engine) -> None:
    """Remove exactly what :func:`bulk_writes` did, by hand."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM order_lines WHERE id > 500"))
        connection.execute(text("UPDATE order_lines SET quantity = quantity - 1"))
        connection.execute(text("SELECT setval(pg_get_serial_sequence('order_lines', 'id'), 500)"))


def contents(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return [connection.execute(table.select().order_by(table.c.id)).all() for table in metadata.sorted_tables]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(
    variants: dict[str, tuple[Engine, Callable[[], object]]],
    writes: Callable[[Engine], None],
    rounds: int,
    expected: list[object],
) -> dict[str, list[float]]:
    """Per variant, seconds of the app's ``writes``, of the reset after them, and of a reset with nothing changed."""
    figures: dict[str, list[float]] = {}
    for round_number in range(rounds + 1):  # round 0 warms up, untimed
        for name, (app, reset) in variants.items():
            samples = {f"writes, {name}": timed(functools.partial(writes, app)), f"reset, {name}": timed(reset)}
            if name != BARE:
                samples[f"nothing changed, {name}"] = timed(reset)
            if contents(app) != expected:
                raise SystemExit(f"{name}: the seeded rows did not come back (round {round_number})")
            for label, seconds in samples.items():
                if round_number:
                    figures.setdefault(label, []).append(seconds)
    del figures[f"reset, {BARE}"]  # the hand-written cleanup of the bare copy: not a strategy
    return figures


def main() -> None:
    arguments = parse_args(__doc__)
    rounds = 20 if arguments.quick else 200
    seeded_rows = sum(len(rows) for rows in SEED.values())
    print(f"Reset after an app's committed writes, {seeded_rows:,} seeded rows in 4 tables")
    endpoint = registry.acquire("postgres")
    clones: list[schema.TestDatabase] = []
    try:
        truncated = schema.shared_database(endpoint, metadata=metadata)
        with truncated.engine.begin() as connection:
            seed(connection)
        captured = schema.fresh_clone(truncated, suffix="capture")
        clones.append(captured)
        bare = schema.fresh_clone(truncated, suffix="bare")
        clones.append(bare)
        truncate = TruncateReset(truncated.engine, metadata, seed=seed).install()
        capture = ChangeCaptureReset(captured.engine, metadata).install()
        expected = contents(truncated.engine)
        # Each app has its own engine, its pool kept warm as a running app's.
        apps = {
            TRUNCATE: create_engine(truncated.url),
            CAPTURE: create_engine(captured.url),
            BARE: create_engine(bare.url),
        }
        for title, writes, undo, count in (
            (
                "a typical API test: 4 rows written (order + 2 lines inserted, order updated)",
                app_writes,
                undo_app_writes,
                rounds,
            ),
            (
                "a test that writes much: 1,000 rows written (500 updated, 500 inserted)",
                bulk_writes,
                undo_bulk_writes,
                max(rounds // 4, 5),
            ),
        ):
            print(f"\n {title}, {count} rounds")
            variants: dict[str, tuple[Engine, Callable[[], object]]] = {
                TRUNCATE: (apps[TRUNCATE], truncate.reset),
                CAPTURE: (apps[CAPTURE], capture.reset),
                BARE: (apps[BARE], functools.partial(undo, bare.engine)),
            }
            report(measure(variants, writes, count, expected))
        capture.remove()
        for app in apps.values():
            app.dispose()
        print(f"\n where TruncateReset's time goes, {rounds} rounds")
        no_seed = TruncateReset(truncated.engine, metadata)  # a class with no seed rows
        alone = [timed(no_seed.reset) for _ in range(rounds)]
        truncate_only = summarize(f"reset, {TRUNCATE}, no seed (TRUNCATE alone)", alone)
        ratio(f"{TRUNCATE} with the seed", median_reset(truncate, rounds), "TRUNCATE alone", truncate_only)
    finally:
        for clone in clones:
            schema.drop(clone)
        schema.drop_shared_databases()
        registry.shutdown()


def median_reset(strategy: TruncateReset, rounds: int) -> float:
    """Median seconds of ``strategy.reset()`` (TRUNCATE and the seed), nothing changed."""
    return summarize(f"reset, {TRUNCATE}, TRUNCATE + seed", [timed(strategy.reset) for _ in range(rounds)])


def report(figures: dict[str, list[float]]) -> None:
    """Print the medians, the ratios, and which strategy the figures make the default."""
    median = {label: summarize(label, figures[label]) for label in sorted(figures)}
    plain, captured = median[f"writes, {BARE}"], median[f"writes, {CAPTURE}"]
    print(f"  capture overhead on the writes: {(captured - plain) * 1000:+.2f} ms a test")
    ratio("writes with triggers", captured, "writes without", plain)
    ratio(f"{TRUNCATE} reset", median[f"reset, {TRUNCATE}"], f"{CAPTURE} reset", median[f"reset, {CAPTURE}"])
    ratio(
        f"{TRUNCATE} nothing changed",
        median[f"nothing changed, {TRUNCATE}"],
        f"{CAPTURE} nothing changed",
        median[f"nothing changed, {CAPTURE}"],
    )
    # The writes count too: after a TRUNCATE the app's next writes meet new, cold tables.
    per_test = {name: median[f"writes, {name}"] + median[f"reset, {name}"] for name in (TRUNCATE, CAPTURE)}
    print(
        f"  per test, writes + reset: {TRUNCATE} {per_test[TRUNCATE] * 1000:.2f} ms, "
        f"{CAPTURE} {per_test[CAPTURE] * 1000:.2f} ms"
    )
    ratio(f"{TRUNCATE} per test", per_test[TRUNCATE], f"{CAPTURE} per test", per_test[CAPTURE])
    default = min(per_test, key=per_test.__getitem__)
    print(f"  default by these figures: {default} (cheaper per test, the app's writes and the reset together)")


if __name__ == "__main__":
    main()
