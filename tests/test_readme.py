"""The README's first example runs as it stands, under pytest and under unittest."""

import re
from pathlib import Path

from tests.helpers import assert_nothing_left, run_pytest, run_python

README = Path(__file__).resolve().parents[1] / "README.rst"


def _first_python_block():
    text = README.read_text()
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text).group(1)
    return "\n".join(line[4:] for line in block.splitlines()) + "\n"


def test_first_example_passes_under_both_runners(tmp_path):
    (tmp_path / "test_users.py").write_text(_first_python_block())
    result = run_pytest(tmp_path, "test_users.py")
    assert "2 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", "test_users"], tmp_path)
    assert "Ran 2 tests" in result.stderr and result.stderr.rstrip().endswith("OK"), result.stderr
