"""A decision's verdict: the few fields a person compares when rules change.

``triaged replay`` compares the verdict recorded when an alert came in with the one
a candidate rule set gives; shadow rules (``--shadow-rules``) compare theirs with
the live one's on every alert. Both name the same fields, in this order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from rules.engine import Decision
from rules.schema import PageMode, Severity

FIELDS = ("rule", "severity", "policy", "paged")
"""What a verdict holds, in the order reports show them."""

Paged = Literal["yes", "business_hours", "no"]


class Verdict(BaseModel):
    """What a decision means for the people paged.

    Attributes:
        rule: The rule that matched; None: none did (default_severity).
        severity: The severity.
        policy: The team escalation policy followed; None: the severity's own.
        paged: ``yes``: its escalation pages somebody as soon as it is due;
            ``business_hours``: only within business hours; ``no``: nobody (the
            severity's ``page: never``, or no escalation steps).
        version: The rules version that decided (not compared).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str | None
    severity: Severity
    policy: str | None
    paged: Paged
    version: str = ""

    def differs(self, other: Verdict) -> list[str]:
        """The fields (of ``FIELDS``) whose values differ from ``other``'s."""
        return [f for f in FIELDS if getattr(self, f) != getattr(other, f)]

    def show(self, field: str) -> str:
        """One field as a person reads it (``-`` for none)."""
        value = getattr(self, field)
        return "-" if value is None else str(value)


def verdict(decision: Decision) -> Verdict:
    """The verdict of ``decision``."""
    if not decision.steps or decision.policy.page is PageMode.NEVER:
        paged: Paged = "no"
    elif decision.policy.page is PageMode.BUSINESS_HOURS:
        paged = "business_hours"
    else:
        paged = "yes"
    return Verdict(
        rule=decision.rule,
        severity=decision.severity,
        policy=decision.escalation_policy,
        paged=paged,
        version=decision.rules_version,
    )
