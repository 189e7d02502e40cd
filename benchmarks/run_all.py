"""Run every benchmark in sequence (what ``tox -e bench`` calls); ``--quick`` for fewer repetitions.

Each script runs in its own process. After each one, this checks that it left
nothing behind (no server, reaper, run directory or temp directory). The exit
status is 1 when a script failed or left something behind; timings never decide it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from _common import leftovers, parse_args

SCRIPTS = ("bench_plugin_startup.py", "bench_cold_start.py", "bench_class_setup.py", "bench_per_test.py",
           "bench_class_check.py", "bench_cleanup.py", "bench_app_reset.py", "bench_memory.py", "bench_kafka.py",
           "bench_kafka_defaults.py", "bench_redis.py", "bench_security.py", "bench_service.py", "bench_xdist.py",
           "bench_contracts.py", "bench_http_stub.py", "bench_pact.py")


def main() -> int:
    arguments = parse_args(__doc__)
    here = Path(__file__).resolve().parent
    problems = []
    for script in SCRIPTS:
        print(f"\n=== {script}{' --quick' if arguments.quick else ''}", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(here / script), *(["--quick"] if arguments.quick else [])])
        code = process.wait()
        print(f"=== {script}: exit code {code}, {time.perf_counter() - started:.1f} s", flush=True)
        if code != 0:
            problems.append(f"{script} exited with code {code}")
        problems += [f"{script} left {item}" for item in leftovers([process.pid])]
    print()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("all benchmarks ran; nothing left behind" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
