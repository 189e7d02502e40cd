"""The test that is running now: its session, its TestDataManager and its seed.

Set by the bases (and the ``db_session`` fixture) for the duration of one test,
so that factories bind to the current test's session without any class state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from harness.data.manager import TestDataManager
from harness.data.seeding import seed_test, test_seed
from harness.errors import HarnessError

__all__ = ["CurrentTest", "current_test", "current_test_or_none", "running_test"]


@dataclass(frozen=True)
class CurrentTest:
    """What a factory needs from the running test."""

    test_id: str
    session: Session
    data: TestDataManager
    seed: int
    missing_tables: list[str] = field(default_factory=list)
    """Tables a statement of this test found missing (harness's engines note them, for the failure report)."""


_stack: list[CurrentTest] = []


@contextmanager
def running_test(test_id: str, session: Session, *, run_seed: int) -> Iterator[CurrentTest]:
    """Seed Faker and factories for ``test_id`` and make it the current test while the block runs."""
    seed = test_seed(run_seed, test_id)
    seed_test(seed)
    current = CurrentTest(test_id=test_id, session=session, data=TestDataManager(session), seed=seed)
    _stack.append(current)
    try:
        yield current
    finally:
        _stack.remove(current)


def current_test() -> CurrentTest:
    """The running harness test; raises :class:`HarnessError` outside one."""
    if not _stack:
        raise HarnessError(
            "No harness test is running, so there is no session to create rows in. Use factories inside a "
            "test of a DatabaseTestBase subclass or one that uses the db_session fixture, or pass "
            "session=... to Factory.create()."
        )
    return _stack[-1]


def current_test_or_none() -> CurrentTest | None:
    """The running harness test, or ``None``."""
    return _stack[-1] if _stack else None
