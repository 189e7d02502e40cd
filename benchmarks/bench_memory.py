"""Peak memory (max RSS) and wall time of a 200-test pytest run on DatabaseTestBase.

Generates a temporary test module whose DatabaseTestBase subclass has 200
tests, each inserting a user and three orders and reading them back, and runs
``python -m pytest -q -p no:cacheprovider <file>`` in a child process. For
comparison, the same command on a module of 200 empty test functions (no
harness used; its pytest plugin is installed, so it is loaded in both).

The peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (getrusage of that
one child after it exits). Linux folds in the peaks of the child's own reaped
children (the PostgreSQL server, harness's reaper), so the figure is the
largest of those processes, normally the pytest process itself.

Both commands are run again with ``--assert=plain``. Faker ships a pytest
plugin, so pytest assertion-rewrites every Faker module it imports, including
a huge data module (faker/decode/codes.py): parsing it costs a ~70 MiB
transient peak in both runs. With PYTHONDONTWRITEBYTECODE=1 (set here) the
rewritten module is never cached, so every run pays it, and it hides what
harness adds; ``--assert=plain`` shows that.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import leftovers, parse_args, ratio

TESTS = 200
HERE = Path(__file__).resolve().parent  # for _models in the generated test module

HARNESS_MODULE = """
from sqlalchemy import func, select

from _models import Base, Order, User
from harness import DatabaseTestBase


class TestMemory(DatabaseTestBase):
    metadata = Base.metadata

    def insert_rows(self):
        user = User(name="ada")
        self.session.add(user)
        self.session.flush()
        self.session.add_all([Order(user_id=user.id, total=total) for total in (1, 2, 3)])
        self.session.commit()
        assert self.session.scalar(select(func.count()).select_from(Order)) == 3
"""
HARNESS_TEST = "\n    def test_{number:03d}(self):\n        self.insert_rows()\n"
EMPTY_TEST = "\ndef test_{number:03d}():\n    pass\n"


def run_pytest(source: str, options: tuple[str, ...]) -> tuple[float, int]:
    """Run pytest on ``source`` in a fresh directory; (wall seconds, peak RSS in KiB)."""
    directory = Path(tempfile.mkdtemp(prefix="harness-bench-memory-"))
    try:
        test_file = directory / "test_memory.py"
        test_file.write_text(source)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(test_file)]
        started = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if process.returncode != 0:
        raise SystemExit(f"pytest failed (exit code {process.returncode}):\n{output[-3000:]}")
    print(f"    pytest: {output.strip().splitlines()[-1]}")
    for item in leftovers([process.pid]):
        print(f"    LEFT BEHIND by the pytest run: {item}")
    return elapsed, usage.ru_maxrss  # KiB on Linux


def main() -> None:
    arguments = parse_args(__doc__)
    repetitions = 1 if arguments.quick else 3
    harness_source = HARNESS_MODULE + "".join(HARNESS_TEST.format(number=n) for n in range(TESTS))
    empty_source = "".join(EMPTY_TEST.format(number=n) for n in range(TESTS))
    print(f"Peak memory of a {TESTS}-test pytest run, {repetitions} run(s) each (median shown)")
    for options in ((), ("--assert=plain",)):
        print(f"  pytest -q -p no:cacheprovider {' '.join(options)}".rstrip())
        results = []
        for label, source in (("empty tests, no harness", empty_source), ("DatabaseTestBase", harness_source)):
            runs = [run_pytest(source, options) for _ in range(repetitions)]
            wall = statistics.median(run[0] for run in runs)
            rss = statistics.median(run[1] for run in runs)
            results.append((wall, rss))
            print(f"  {label:<44} peak RSS {rss / 1024:7.1f} MiB   wall {wall:6.2f} s")
        (empty_wall, empty_rss), (harness_wall, harness_rss) = results
        print(f"  extra peak RSS of the harness run: {(harness_rss - empty_rss) / 1024:.1f} MiB")
        ratio("DatabaseTestBase peak RSS", harness_rss, "empty-run peak RSS", empty_rss)
        ratio("DatabaseTestBase wall", harness_wall, "empty-run wall", empty_wall)


if __name__ == "__main__":
    main()
