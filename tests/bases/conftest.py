import time
import unittest

from sqlalchemy import text


def run_case(cls):
    """Run a TestCase class through unittest's own suite machinery; return the result.

    The suite is the top-level one, so it tears the class down itself when it ends (tearDownClass, class cleanups).
    """
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    result = unittest.TestResult()
    suite.run(result)
    return result


def problems(result):
    return [f"{test}: {trace}" for test, trace in result.failures + result.errors]


def settled_connections_to(engine, database, *, timeout=1.0):
    """connections_to, once the sessions being closed have gone (their server processes exit a moment later)."""
    deadline = time.monotonic() + timeout
    while (count := connections_to(engine, database)) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # more than this count's own: maybe one on its way out
    return count


def connections_to(engine, database):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"), {"name": database}
        ).scalar_one()
