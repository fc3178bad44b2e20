"""What a rules directory means where it says nothing: the runbook's defaults.

- severities: the runbook's table (SEV-1 15m and SEV-2 1h, paged immediately;
  SEV-3 within the business day, paged in business hours; SEV-4 next sprint,
  never paged);
- business hours: Monday to Friday, 09:00 to 17:00 UTC;
- default severity: SEV-3;
- diagnosis budget (how long probes may hold back the first page): 3s for
  SEV-1, 10s for SEV-2, 30s for SEV-3 and SEV-4.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from rules.durations import ResponseWindow
from rules.schema import BusinessHours, PageMode, Severity, SeverityPolicy

RUNBOOK_SEVERITIES: Mapping[Severity, SeverityPolicy] = MappingProxyType(
    {
        Severity.SEV_1: SeverityPolicy(
            response_time=timedelta(minutes=15), page=PageMode.IMMEDIATELY
        ),
        Severity.SEV_2: SeverityPolicy(response_time=timedelta(hours=1), page=PageMode.IMMEDIATELY),
        Severity.SEV_3: SeverityPolicy(
            response_time=ResponseWindow.BUSINESS_DAY, page=PageMode.BUSINESS_HOURS
        ),
        Severity.SEV_4: SeverityPolicy(
            response_time=ResponseWindow.NEXT_SPRINT, page=PageMode.NEVER
        ),
    }
)

DEFAULT_DIAGNOSIS_BUDGET: Mapping[Severity, timedelta] = MappingProxyType(
    {
        Severity.SEV_1: timedelta(seconds=3),
        Severity.SEV_2: timedelta(seconds=10),
        Severity.SEV_3: timedelta(seconds=30),
        Severity.SEV_4: timedelta(seconds=30),
    }
)

DEFAULT_BUSINESS_HOURS = BusinessHours()

DEFAULT_SEVERITY = Severity.SEV_3


def with_budget(severity: Severity, policy: SeverityPolicy) -> SeverityPolicy:
    """Return ``policy`` with its diagnosis budget set (the default when absent)."""
    if policy.diagnosis_budget is not None:
        return policy
    return policy.model_copy(update={"diagnosis_budget": DEFAULT_DIAGNOSIS_BUDGET[severity]})
