"""The README's runnable examples run as they stand, under pytest and under unittest."""

import re
from pathlib import Path

import pytest

from tests.helpers import assert_nothing_left, run_pytest, run_python

README = Path(__file__).resolve().parents[1] / "README.rst"


def _first_python_block(after: str = "") -> str:
    """The first python code block of the README after the line ``after``."""
    text = README.read_text()
    text = text[text.index(after + "\n"):] if after else text
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text).group(1)
    return "\n".join(line[4:] for line in block.splitlines()) + "\n"


@pytest.mark.parametrize(
    ("module", "after"),
    [("test_users", ""), ("test_logins", "Redis\n====="), ("test_signups", "Kafka\n====="),
     ("test_visits", "The application under test\n=========================="),
     ("test_payments", "HTTP stubs\n=========="),
     ("test_contract", "Contracts\n========="),
     ("test_events", "Your own hooks and clients\n==========================")],
)
def test_example_passes_under_both_runners(tmp_path, module, after):
    (tmp_path / f"{module}.py").write_text(_first_python_block(after))
    result = run_pytest(tmp_path, f"{module}.py")
    assert "2 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", module], tmp_path)
    assert "Ran 2 tests" in result.stderr and result.stderr.rstrip().endswith("OK"), result.stderr
    assert_nothing_left(result)
