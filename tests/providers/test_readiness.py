import time

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
