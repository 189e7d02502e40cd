"""The guide-style suite in tests/guide/, run as its user runs it: pytest, then ``python -m unittest``.

tests/guide/ is a small project of its own (its setup.cfg names the schema), written the
way common integration-testing guides write such tests; only the guide's base classes
are replaced by ``from harness import ...``. Every test of it must pass under both runners,
and neither run may leave a server or a run directory behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import assert_nothing_left, clean_env, run_pytest, run_python

GUIDE = Path(__file__).parent / "guide"

# Every test the suite holds, by runner: the fixture tests are pytest's alone.
PYTEST_TESTS = 18
UNITTEST_TESTS = 15


@pytest.mark.parametrize("runner", ["pytest", "unittest"])
def test_guide_suite_passes_as_written(runner):
    env = clean_env()
    if runner == "pytest":
        result = run_pytest(GUIDE, "-p", "no:randomly", env=env, timeout=300)
        report = result.stdout + result.stderr
        assert result.returncode == 0, report
        assert re.search(rf"\b{PYTEST_TESTS} passed\b", result.stdout), report
    else:
        result = run_python(["-m", "unittest", "discover", "-v"], GUIDE, env=env, timeout=300)
        report = result.stdout + result.stderr
        assert result.returncode == 0, report
        assert f"Ran {UNITTEST_TESTS} tests" in result.stderr and "\nOK" in result.stderr, report
    assert_nothing_left(result)
