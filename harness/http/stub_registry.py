"""An HTTPStub's state: its mappings (routes), scenario states and request journal, behind one lock.

Which mapping answers: among those whose request pattern matches (and whose
scenario, if any, is in the required state), the lowest ``priority`` (default 5,
as WireMock), then the most recently added. A request nothing matches is
recorded with its closest mappings (WireMock's near misses).

>>> registry = Registry()
>>> registry.journal
[]
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.http.stub_matching import RecordedRequest, RequestPattern

__all__ = ["DEFAULT_PRIORITY", "Mapping", "Registry", "ResponseDef", "STARTED"]

DEFAULT_PRIORITY = 5
"""WireMock's priority for a mapping that gives none (lower numbers win)."""
STARTED = "Started"
"""The state every WireMock scenario begins in."""
NEAR_MISSES = 3
"""How many closest mappings an unmatched request names."""


@dataclass(frozen=True)
class ResponseDef:
    """What a mapping answers: status, reason, headers, body bytes, a delay, or a fault instead."""

    status: int = 200
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay_seconds: float = 0.0
    fault: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mapping:
    """A request pattern and its responses (the last repeats once the others are used), with WireMock's JSON."""

    pattern: RequestPattern
    responses: list[ResponseDef]
    source: dict[str, Any]
    priority: int = DEFAULT_PRIORITY
    scenario: str | None = None
    required_state: str | None = None
    new_state: str | None = None
    default: bool = False  # loaded from files: POST /__admin/reset keeps it, as WireMock keeps its file mappings
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    served: int = 0
    order: int = 0

    def describe(self) -> str:
        checks = "; ".join(check.describe() for check in self.pattern.checks) or "any request"
        name = self.source.get("name")
        return f"{name!r} ({checks})" if name else checks


class Registry:
    """Mappings, scenario states and the journal of an HTTPStub; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mappings: list[Mapping] = []
        self._defaults: list[Mapping] = []  # loaded from files: what a reset comes back to, deleted ones too
        self._states: dict[str, str] = {}
        self._added = 0
        self.journal: list[RecordedRequest] = []

    def add(self, mapping: Mapping) -> Mapping:
        with self._lock:
            self._added += 1
            mapping.order = self._added
            self._mappings = [m for m in self._mappings if m.id != mapping.id] + [mapping]
            if mapping.default:
                self._defaults = [m for m in self._defaults if m.id != mapping.id] + [mapping]
        return mapping

    def mappings(self) -> list[Mapping]:
        """Every mapping, the one that would win first (as GET /__admin/mappings lists them)."""
        with self._lock:
            return sorted(self._mappings, key=lambda m: (m.priority, -m.order))

    def remove(self, mapping_id: str) -> bool:
        with self._lock:
            kept = [m for m in self._mappings if m.id != mapping_id]
            found, self._mappings = len(kept) != len(self._mappings), kept
        return found

    def clear(self, *, keep_defaults: bool = False, journal: bool = True) -> None:
        """Forget the mappings (all, or back to those loaded from files, as WireMock: even ones deleted since),
        scenario states and (if asked) the journal."""
        with self._lock:
            self._mappings = list(self._defaults) if keep_defaults else []
            if not keep_defaults:
                self._defaults = []
            for mapping in self._mappings:
                mapping.served = 0
            self._states.clear()
            if journal:
                self.journal.clear()

    def clear_journal(self) -> None:
        with self._lock:
            self.journal.clear()

    def reset_scenarios(self) -> None:
        with self._lock:
            self._states.clear()

    def serve(self, request: RecordedRequest) -> tuple[Mapping | None, ResponseDef | None]:
        """Record ``request`` and pick the mapping and response that answer it (None, None when none matches)."""
        with self._lock:
            request.id = str(uuid.uuid4())
            self.journal.append(request)
            for mapping in sorted(self._mappings, key=lambda m: (m.priority, -m.order)):
                if self._in_state(mapping) and mapping.pattern.matches(request):
                    response = mapping.responses[min(mapping.served, len(mapping.responses) - 1)]
                    mapping.served += 1
                    if mapping.scenario is not None and mapping.new_state is not None:
                        self._states[mapping.scenario] = mapping.new_state
                    request.matched = True
                    request.mapping_source = mapping.source
                    request.response_source = {"status": response.status, **response.source}
                    return mapping, response
            request.closest = [m.describe() + _differences(m, request) for m in self._closest(request)]
            return None, None

    def _in_state(self, mapping: Mapping) -> bool:
        if mapping.scenario is None or mapping.required_state is None:
            return True
        return self._states.get(mapping.scenario, STARTED) == mapping.required_state

    def _closest(self, request: RecordedRequest) -> list[Mapping]:
        ranked = sorted(self._mappings, key=lambda m: (m.pattern.distance(request), m.priority, -m.order))
        return ranked[:NEAR_MISSES]


def _differences(mapping: Mapping, request: RecordedRequest) -> str:
    failed = mapping.pattern.failures(request)
    if not failed:  # the request matches; the scenario's state is what kept this mapping out
        return f"\n      differs: scenario {mapping.scenario!r} is not in state {mapping.required_state!r}"
    return "".join(f"\n      differs: {check.difference(request)}" for check in failed)
