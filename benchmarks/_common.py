"""Helpers shared by the benchmark scripts: the ``--quick`` flag, summaries, ratios, leftover checks.

Benchmarks print figures; they never assert on time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["leftovers", "parse_args", "ratio", "summarize"]


def parse_args(description: str | None) -> argparse.Namespace:
    """``--quick``: fewer repetitions, for a smoke run."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, noisier figures)")
    return parser.parse_args()


def summarize(label: str, seconds: Sequence[float], *, unit: str = "ms") -> float:
    """Print median, min and max of ``seconds`` in ``unit`` (ms or s); return the median in seconds."""
    scale = 1000.0 if unit == "ms" else 1.0
    median = statistics.median(seconds)
    print(
        f"  {label:<44} median {median * scale:9.2f} {unit}"
        f"   min {min(seconds) * scale:9.2f}   max {max(seconds) * scale:9.2f}   (n={len(seconds)})"
    )
    return median


def ratio(slow_label: str, slow: float, fast_label: str, fast: float) -> None:
    """Print how many times ``fast`` is quicker than ``slow`` (both medians, same unit)."""
    print(f"  ratio {slow_label} / {fast_label} = {slow / fast:.2f}x")


def leftovers(pids: Sequence[int]) -> list[str]:
    """What the finished processes ``pids`` left behind, described; empty when nothing.

    Looks for their harness run directories, processes (servers, reapers) still
    pointing into those, and the benchmarks' temp directories (``harness-bench-*``).
    """
    from harness.providers.rundir import harness_tmp_root

    marks = [str(path) for pid in pids for path in harness_tmp_root().glob(f"run-{pid}-*")]
    found = [f"run directory {mark}" for mark in marks]
    found += [f"temp directory {path}" for path in Path(tempfile.gettempdir()).glob("harness-bench-*")]
    marks.append("harness-bench-")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in command for mark in marks):
            found.append(f"process {proc.name}: {command.strip()}")
    return found
