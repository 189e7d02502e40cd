"""The README's runnable examples run as they stand, under pytest and under unittest."""

import json
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


def test_pact_example_passes_under_both_runners(tmp_path):
    pytest.importorskip("pact", minversion="4", reason="the Pact example needs pact-python 4 (harness[pact])")
    (tmp_path / "test_provider.py").write_text(_first_python_block("Consumer-driven contracts (Pact)\n" + "=" * 32))
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "web-users.json").write_text(json.dumps({
        "consumer": {"name": "web"},
        "provider": {"name": "users"},
        "interactions": [
            {"description": "a request for user 7",
             "providerStates": [{"name": "a user exists", "params": {"id": 7, "name": "Ada"}}],
             "request": {"method": "GET", "path": "/users/7"},
             "response": {"status": 200, "body": {"id": 7, "name": "Grace"},
                          "matchingRules": {"body": {"$.name": {"matchers": [{"match": "type"}]}}}}},
            {"description": "a request for a user who does not exist",
             "request": {"method": "GET", "path": "/users/99"}, "response": {"status": 404}},
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }))
    result = run_pytest(tmp_path, "test_provider.py")
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", "test_provider"], tmp_path)
    assert "Ran 1 test" in result.stderr and result.stderr.rstrip().endswith("OK"), result.stderr
    assert_nothing_left(result)
