"""ProbeResult: what one probe found."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the target answered, wrongly (status, body, refused)
    TIMEOUT = "timeout"  # no answer within the probe's timeout or the diagnosis budget
    ERROR = "error"  # the probe itself could not run (bad spec, crash)
    PENDING = "pending"  # not finished when the page went out


class ProbeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    detail: str
    duration_s: float

    def line(self) -> str:
        """One line for the page: name, outcome, detail, duration."""
        ms = self.duration_s * 1000
        return f"{self.name}: {self.outcome.value} - {self.detail} ({ms:.0f} ms)"
