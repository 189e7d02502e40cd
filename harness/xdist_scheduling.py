"""Under pytest-xdist, each harness test class runs whole on one worker.

pytest-xdist's default (``--dist load``) hands tests out in chunks cut without regard to
classes, so a class is often split between the two workers, and each of them then sets the
class up: its database state, ``seed_data``, its Redis database, its topics. On
benchmarks/bench_xdist.py's suite (20 classes of 20 tests) that was 32 class setups instead of
20. Django's parallel runner hands out whole TestCase classes for the same reason.

:class:`HarnessClassScheduling` is xdist's load scheduling with one change: a chunk that would
end inside a harness class is extended to the class's last test. Other tests are handed out
exactly as before. The plugin uses it only when the run left ``--dist`` to xdist's default.

The controller never imports the tests, so the workers tell it which classes are harness's:
before a worker reports its collection it writes their node ids into the run directory
(:func:`record_harness_classes`); the scheduler reads them when it first hands out tests, which
xdist does only once every worker has reported.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

from harness.providers.rundir import current_run

__all__ = ["CLASSES_DIRECTORY", "HarnessClassScheduling", "class_of", "record_harness_classes"]

CLASSES_DIRECTORY = "xdist-classes"
"""In the run directory: one ``<worker>.json`` per worker, ``{"classes": [class node id, ...]}``."""


def class_of(nodeid: str) -> str:
    """The node id of a test method's class (``path::Class`` of ``path::Class::test[params]``).

    For a test function it is the module's, which is never a harness class's.
    """
    return nodeid.split("[", 1)[0].rsplit("::", 1)[0]


def record_harness_classes(session: pytest.Session) -> None:
    """Worker: write the node ids of the collected harness test classes where the controller reads them."""
    lifecycle = sys.modules.get("harness.bases.lifecycle")  # absent: no test module imported a harness base
    if lifecycle is None:
        return
    classes = sorted(
        {class_of(item.nodeid) for item in session.items if _is_harness_class(getattr(item, "cls", None), lifecycle)}
    )
    if classes:
        run = current_run()
        run.ensure()  # its servers are wanted next; the run directory goes when the controller ends the run
        run.write_json(f"{CLASSES_DIRECTORY}/{run.worker}.json", {"classes": classes})


def _is_harness_class(cls: object, lifecycle: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, lifecycle.HarnessLifecycle)


def read_harness_classes() -> frozenset[str]:
    """Controller: the harness classes its workers recorded (none if no worker collected one)."""
    found: set[str] = set()
    for path in (current_run().directory / CLASSES_DIRECTORY).glob("*.json"):
        try:
            found.update(json.loads(path.read_text())["classes"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: those classes are merely handed out as xdist would
    return frozenset(found)


class HarnessClassScheduling(LoadScheduling):
    """xdist's load scheduling that never splits a harness test class between workers.

    Chosen by the plugin through ``pytest_xdist_make_scheduler``; not meant to be built by hand.
    """

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._harness_classes: frozenset[str] | None = None

    def _send_tests(self, node: Any, num: int) -> None:
        super()._send_tests(node, self._to_class_end(num))

    def _to_class_end(self, num: int) -> int:
        """``num``, grown while the chunk's last test and the next pending one are in the same harness class."""
        if self._harness_classes is None:
            self._harness_classes = read_harness_classes()  # first called by schedule(): every worker has collected
        if not self._harness_classes or self.collection is None:
            return num
        pending, collection = self.pending, self.collection
        while 0 < num < len(pending):
            scope = class_of(collection[pending[num - 1]])
            if scope not in self._harness_classes or class_of(collection[pending[num]]) != scope:
                break
            num += 1
        return num
