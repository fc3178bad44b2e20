"""Pure parts of paging: retry schedule, escalation plan, page building."""

from __future__ import annotations

import random

import pytest

from rules.engine import ResolvedContact, ResolvedStep
from rules.schema import LogChannel
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.delivery import BACKOFF_CAP_S, backoff, deliver
from workers.escalation import delay_before, next_step, plan, step_budget


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def failing(*errors: Exception, then: str = "HTTP 202"):  # type: ignore[no-untyped-def]
    queue = list(errors)

    def send() -> str:
        if queue:
            raise queue.pop(0)
        return then

    return send


def test_backoff_is_exponential_jittered_and_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(BACKOFF_CAP_S, 0.5 * 2 ** (attempt - 1))
        delay = backoff(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert max(backoff(20, rng) for _ in range(100)) <= BACKOFF_CAP_S


def test_retryable_errors_are_retried_until_sent() -> None:
    clock = FakeClock()
    send = failing(RetryableSendError("HTTP 503"), RetryableSendError("timeout"))
    result = deliver(send, 60, random.Random(1), sleep=clock.sleep, clock=clock)
    assert result.sent and result.attempts == 3 and result.retried == 2
    assert len(clock.sleeps) == 2


def test_permanent_error_stops_at_once() -> None:
    clock = FakeClock()
    result = deliver(
        failing(PermanentSendError("HTTP 400")),
        60,
        random.Random(1),
        sleep=clock.sleep,
        clock=clock,
    )
    assert not result.sent and result.permanent and result.attempts == 1
    assert clock.sleeps == []


def test_retries_stop_when_the_step_budget_is_spent() -> None:
    clock = FakeClock()
    always = failing(*[RetryableSendError("HTTP 500")] * 1000)
    result = deliver(always, 30, random.Random(3), sleep=clock.sleep, clock=clock)
    assert not result.sent and not result.permanent
    assert clock.now < 30 and "gave up" in result.detail
    assert result.attempts > 3


def _steps(*afters: float) -> list[ResolvedStep]:
    contact = ResolvedContact(name="c", role="r", channels=[LogChannel.model_validate({"log": {}})])
    return [ResolvedStep(after_seconds=a, contacts=[contact]) for a in afters]


def test_plan_counts_after_from_the_step_before() -> None:
    steps = _steps(0, 300, 600)
    assert [(p.offset_s, p.step) for p in plan(steps, repeat=0)] == [(0, 0), (300, 1), (900, 2)]


@pytest.mark.parametrize(("repeat", "expected"), [(0, 2), (1, 4), (2, 6)])
def test_repeat_runs_the_steps_again(repeat: int, expected: int) -> None:
    steps = _steps(0, 60)
    planned = plan(steps, repeat=repeat)
    assert len(planned) == expected
    if repeat:
        assert planned[2].offset_s == 120 and planned[2].cycle == 1  # one last-step gap later


def test_no_steps_pages_nobody_and_last_step_ends() -> None:
    assert plan([], repeat=3) == []
    assert next_step(2, 0, 0, 1) is None
    assert delay_before(_steps(0), 0) == 300.0


def test_step_budget_is_bounded_by_the_next_step() -> None:
    assert step_budget(_steps(0, 60), 0, 0, 0) == 60
    assert step_budget(_steps(0, 3), 0, 0, 0) == 10  # at least 10 s of retrying
    assert step_budget(_steps(0, 3600), 0, 0, 0) == 300
    assert step_budget(_steps(0, 60), 0, 0, 1) == 120
