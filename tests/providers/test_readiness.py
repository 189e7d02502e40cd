import time

import pytest

from harness.errors import ServiceUnavailable
from harness.providers.readiness import wait_ready


def test_the_last_error_is_the_last_answer():
    answers = iter(["connection refused", "answered 503", "answered 502"])

    def attempt(seconds):
        raise ServiceUnavailable(next(answers, "answered 502"))

    assert wait_ready(attempt, timeout=0.05, poll=0.001) == "answered 502"


def test_an_attempt_the_deadline_cut_short_does_not_hide_the_answer_before_it():
    calls = []

    def attempt(seconds):
        calls.append(seconds)
        if len(calls) == 1:
            raise ServiceUnavailable("GET /health answered 503 Service Unavailable")
        time.sleep(seconds)  # hangs until its time is up, as a probe of a stuck server does
        raise ServiceUnavailable("GET /health: TimeoutError: timed out")

    assert wait_ready(attempt, timeout=0.2, poll=0.001) == "GET /health answered 503 Service Unavailable"
    assert len(calls) >= 2


def test_a_timeout_is_the_error_when_nothing_answered_before_it():
    def attempt(seconds):
        time.sleep(seconds)
        raise ServiceUnavailable("timed out")

    assert wait_ready(attempt, timeout=0.1) == "timed out"


def test_ready_returns_none():
    assert wait_ready(lambda seconds: None, timeout=1.0) is None


class _Clock:
    """Stands in for the time module inside readiness: sleeping moves the clock, and is recorded."""

    def __init__(self):
        self.now = 0.0
        self.pauses = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append((self.now, seconds))
        self.now += seconds


@pytest.mark.parametrize("first_poll", [0.002, None])
def test_with_a_first_poll_the_first_attempts_come_that_often_then_every_poll(monkeypatch, first_poll):
    from harness.providers import readiness

    clock = _Clock()
    monkeypatch.setattr(readiness, "time", clock)

    def attempt(seconds):
        raise ServiceUnavailable("not yet")

    assert wait_ready(attempt, timeout=0.3, poll=0.05, first_poll=first_poll) == "not yet"
    for at, pause in clock.pauses:
        if first_poll is not None and at < readiness.FIRST_POLL_WINDOW:
            assert pause == first_poll, at
        else:
            assert pause == pytest.approx(min(0.05, 0.3 - at)), at
    first = readiness.FIRST_POLL_WINDOW / first_poll if first_poll else 0
    assert len(clock.pauses) >= first + 4
