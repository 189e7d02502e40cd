"""What the pytest plugin adds to a pytest run that uses no harness fixture or base.

Every user who installs harness gets its plugin in every pytest run (the ``pytest11``
entry point), unit tests included. Timed, alternating, in a fresh directory holding one
trivial test: ``python -m pytest -q -p no:cacheprovider test_trivial.py`` (a) as installed,
with harness's plugin, and (b) with ``-p no:harness``; per run its wall time and its CPU
time (user + system, of the child). The difference of the medians is the plugin's cost
(target: under 20 ms). A whole run takes over a second here, and other work on the machine
moves it by tens of ms, so the plugin's own share is also timed alone: in a fresh
interpreter that has imported pytest, the import of ``harness.pytest_plugin`` (its hooks
then cost microseconds: no registry, no config unless the run gives harness settings).
Also printed: what that import loads beyond what pytest already has (sqlalchemy,
factory-boy, Faker, kafka-python, redis-py must be none of it).

The children cache bytecode (in a temporary PYTHONPYCACHEPREFIX, warmed first), as an
installed harness has it: where PYTHONDONTWRITEBYTECODE is set, an editable checkout
would otherwise compile harness's modules in every run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import parse_args, summarize

HEAVY = ("sqlalchemy", "factory", "faker", "kafka", "redis", "psycopg", "harness.config", "harness.registry")

LOAD_PROBE = (
    "import sys, time, pytest; before = set(sys.modules); started = time.perf_counter(); "
    "import harness.pytest_plugin; print(time.perf_counter() - started); "
    "print(' '.join(sorted(set(sys.modules) - before)))"
)


def child_env(cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def run_pytest(directory: Path, env: dict[str, str], *extra: str) -> tuple[float, float]:
    """One run's wall time and CPU time (user + system), in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_trivial.py"],
        cwd=directory,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def plugin_load(env: dict[str, str]) -> tuple[float, list[str]]:
    """The import of the plugin in a fresh interpreter that has pytest: seconds, and the modules it loaded."""
    output = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE], env=env, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    return float(output[0]), output[1].split() if len(output) > 1 else []


def heavy(modules: list[str]) -> list[str]:
    found = {name if name.startswith("harness.") else name.split(".")[0] for name in modules}
    return sorted(name for name in found if name in HEAVY)


def main() -> None:
    args = parse_args(__doc__)
    rounds = 5 if args.quick else 20
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as name:
        directory = Path(name)
        env = child_env(directory / "pycache")
        (directory / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
        run_pytest(directory, env)  # bytecode written, caches warm
        run_pytest(directory, env, "-p", "no:harness")
        with_plugin, without_plugin = [], []
        for _ in range(rounds):
            with_plugin.append(run_pytest(directory, env))
            without_plugin.append(run_pytest(directory, env, "-p", "no:harness"))
        loads = [plugin_load(env) for _ in range(rounds)]
    print("pytest on one trivial test (the whole run):")
    slow = summarize("(a) with harness's plugin, wall", [wall for wall, _ in with_plugin])
    fast = summarize("(b) -p no:harness, wall", [wall for wall, _ in without_plugin])
    slow_cpu = summarize("(a) with harness's plugin, CPU", [cpu for _, cpu in with_plugin])
    fast_cpu = summarize("(b) -p no:harness, CPU", [cpu for _, cpu in without_plugin])
    print(
        f"  the plugin's cost: {(slow - fast) * 1000:+.1f} ms wall, {(slow_cpu - fast_cpu) * 1000:+.1f} ms CPU "
        "(target: under 20 ms; the whole run's noise is of that order)"
    )
    print("the plugin alone (fresh interpreter, pytest imported):")
    summarize("import harness.pytest_plugin", [seconds for seconds, _ in loads])
    loaded = loads[-1][1]
    ours = [name for name in loaded if name.split(".")[0] == "harness"]
    print(f"  modules it loads: {len(loaded)}, of harness's: {', '.join(ours) or 'none'}")
    print(f"  heavy modules among them: {', '.join(heavy(loaded)) or 'none'}")


if __name__ == "__main__":
    main()
