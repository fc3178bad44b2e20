"""Escalation plans, pure: which step comes next and when.

``after`` counts from the step before; the first step goes at once. After the last
step nothing more is sent unless the severity's ``repeat: N`` runs the steps again,
N more times; a repeated cycle starts one last-step gap after the last step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.engine import ResolvedStep

DEFAULT_REPEAT_GAP_S = 300.0


@dataclass(frozen=True)
class PlannedStep:
    offset_s: float  # from the first page
    cycle: int
    step: int


def next_step(n_steps: int, repeat: int, cycle: int, step: int) -> tuple[int, int] | None:
    """Return (cycle, step) after ``step`` of ``cycle``, or None when the policy is done."""
    if step + 1 < n_steps:
        return cycle, step + 1
    if cycle < repeat:
        return cycle + 1, 0
    return None


def delay_before(steps: Sequence[ResolvedStep], step: int) -> float:
    """Seconds to wait before ``step``: its ``after``, or the repeat gap for step 0."""
    if step > 0:
        return steps[step].after_seconds
    gaps = [s.after_seconds for s in steps[1:] if s.after_seconds > 0]
    return gaps[-1] if gaps else DEFAULT_REPEAT_GAP_S


def plan(steps: Sequence[ResolvedStep], repeat: int) -> list[PlannedStep]:
    """The whole schedule, relative to the first page (for explanations and tests)."""
    if not steps:
        return []
    out = [PlannedStep(0.0, 0, 0)]
    nxt = next_step(len(steps), repeat, 0, 0)
    while nxt is not None:
        cycle, step = nxt
        out.append(PlannedStep(out[-1].offset_s + delay_before(steps, step), cycle, step))
        nxt = next_step(len(steps), repeat, cycle, step)
    return out


def step_budget(steps: Sequence[ResolvedStep], repeat: int, cycle: int, step: int) -> float:
    """How long one step may keep retrying a page: until the next step is due,
    at least 10 s and at most 5 min (120 s when nothing follows)."""
    nxt = next_step(len(steps), repeat, cycle, step)
    if nxt is None:
        return 120.0
    return max(10.0, min(300.0, delay_before(steps, nxt[1])))
