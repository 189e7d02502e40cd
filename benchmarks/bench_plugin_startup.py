"""What the pytest plugin adds to a pytest run that uses no harness fixture or base.

Every user who installs harness gets its plugin in every pytest run (the ``pytest11``
entry point), unit tests included. Timed, alternating, in a fresh directory holding one
trivial test: the wall time of ``python -m pytest -q -p no:cacheprovider test_trivial.py``
(a) as installed, with harness's plugin, and (b) with ``-p no:harness``. The difference
of the medians is the plugin's cost (target: under 20 ms). Also printed: what
``import harness.pytest_plugin`` imports beyond what pytest already has (sqlalchemy,
factory-boy, Faker, kafka-python, redis-py must be none of it).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import parse_args, summarize

HEAVY = ("sqlalchemy", "factory", "faker", "kafka", "redis", "psycopg", "harness.config", "harness.registry")


def run_pytest(directory: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_trivial.py"],
        cwd=directory, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def heavy_imports() -> list[str]:
    probe = (
        "import sys, pytest; before = set(sys.modules); import harness.pytest_plugin; "
        f"print(' '.join(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {HEAVY!r} "
        f"or m in {HEAVY!r})))"
    )
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return sorted({name if name.startswith("harness.") else name.split(".")[0] for name in output.split()})


def main() -> None:
    args = parse_args(__doc__)
    rounds = 5 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as name:
        directory = Path(name)
        (directory / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
        run_pytest(directory)  # bytecode compiled, caches warm
        with_plugin, without_plugin = [], []
        for _ in range(rounds):
            with_plugin.append(run_pytest(directory))
            without_plugin.append(run_pytest(directory, "-p", "no:harness"))
    print("pytest on one trivial test (wall time of the whole run):")
    slow = summarize("(a) with harness's plugin", with_plugin)
    fast = summarize("(b) -p no:harness", without_plugin)
    print(f"  the plugin's cost: {(slow - fast) * 1000:+.1f} ms (target: under 20 ms)")
    print(f"  heavy modules the plugin imports at load: {', '.join(heavy_imports()) or 'none'}")


if __name__ == "__main__":
    main()
