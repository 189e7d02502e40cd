import unittest

from sqlalchemy import text


def run_case(cls):
    """Run a TestCase class through unittest's own suite machinery; return the result."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    result = unittest.TestResult()
    suite.run(result)
    # A suite tears the last class down when the next one starts or when the top-level suite ends.
    suite._tearDownPreviousClass(None, result)
    return result


def problems(result):
    return [f"{test}: {trace}" for test, trace in result.failures + result.errors]


def connections_to(engine, database):
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"), {"name": database}
        ).scalar_one()
