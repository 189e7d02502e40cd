"""Runs left running (``harness up``, ``--harness-keep``), each belonging to the project it was started in.

A project is the directory holding setup.cfg, tox.ini or pyproject.toml, looked
for from the working directory upwards (the working directory itself if none does).
``harness down`` stops the current project's kept runs and no one else's, unless
asked for ``--all``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.providers.rundir import KEPT_FILE, Run, harness_tmp_roots, reap_run_dir, recorded_process_alive
from harness.redaction import write_private
from harness.services.base import Endpoint

__all__ = ["KeptRun", "keep_run", "kept_runs", "kept_server_state", "project_root", "stop_kept"]

PROJECT_FILES = ("setup.cfg", "tox.ini", "pyproject.toml")


def project_root(start: Path | None = None) -> Path:
    """The project ``start`` (default: the working directory) belongs to."""
    start = (start if start is not None else Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if any((directory / name).is_file() for name in PROJECT_FILES):
            return directory
    return start


@dataclass(frozen=True)
class KeptRun:
    """A run directory whose servers were left running, the project it belongs to, and its endpoints."""

    directory: Path
    project: Path | None
    """None for a run kept by an older harness, which did not record it (only ``--all`` stops it)."""
    endpoints: tuple[Endpoint, ...]


def keep_run(run: Run, endpoints: list[Endpoint], *, project: Path | None = None) -> None:
    """Mark ``run`` as kept for the current project (its reaper must already be stopped)."""
    record = {
        "project": str(project if project is not None else project_root()),
        "endpoints": [endpoint.to_record() for endpoint in endpoints],
    }
    write_private(run.directory / KEPT_FILE, json.dumps(record))  # the URLs hold passwords


def _read(directory: Path) -> KeptRun | None:
    try:
        record = json.loads((directory / KEPT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, list):  # written by an older harness: endpoints only
        record = {"project": None, "endpoints": record}
    project = Path(record["project"]) if record.get("project") else None
    return KeptRun(directory, project, tuple(Endpoint.from_record(item) for item in record["endpoints"]))


def kept_runs(project: Path | None = None) -> list[KeptRun]:
    """Kept runs of ``project`` (every project's when None), oldest directory name first."""
    found = []
    for root in harness_tmp_roots():
        for path in sorted(root.glob(f"run-*/{KEPT_FILE}")):
            kept = _read(path.parent)
            if kept is not None and (project is None or kept.project == project):
                found.append(kept)
    return found


def stop_kept(project: Path | None) -> list[KeptRun]:
    """Stop the servers of ``project``'s kept runs (every project's when None); return those stopped."""
    runs = kept_runs(project)
    for kept in runs:
        reap_run_dir(kept.directory)
    return runs


def kept_server_state(endpoint: Endpoint) -> str | None:
    """For a server a kept run left on this machine: ``"running"``, ``"stopped"`` or (a container) ``"kept"``.

    None for any other server. Matched by the whole URL (password included) against what the
    kept run recorded; the state is its process's, looked up here (a container has none: ask it).
    """
    for kept in kept_runs():
        if not any(_same(known, endpoint) for known in kept.endpoints):
            continue
        for path in sorted((kept.directory / "services").glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if _same(Endpoint.from_record(record["endpoint"]), endpoint):
                alive = recorded_process_alive(Path(record.get("workdir") or ""))
                return "kept" if alive is None else "running" if alive else "stopped"
        return "kept"
    return None


def _same(known: Endpoint, endpoint: Endpoint) -> bool:
    return (known.service, known.host, known.port, known.url) == (
        endpoint.service, endpoint.host, endpoint.port, endpoint.url
    )
