"""ProbeResult: what one probe found; ProbeContext: what a probe may use."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from rules.probes import ProbeTargets


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


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may use: the alert's labels (for ``{label}`` placeholders), an
    HTTP client (redirects never followed), where its file lets templated targets
    go, when the alert started, the recorded deploys (``deploys`` probe) and the
    worker's environment (credentials are named by variable, never written)."""

    labels: Mapping[str, str]
    http: httpx.AsyncClient
    targets: ProbeTargets | None = None
    alert_started: datetime | None = None
    deploys: Callable[[str, float, float], Awaitable[list[dict[str, Any]]]] | None = None
    # the worker's environment, for probes that name a variable (url_env, dsn_env)
    environ: Mapping[str, str] = field(default_factory=dict)


def result(name: str, started: float, outcome: Outcome, detail: str) -> ProbeResult:
    """A result timed from ``started`` (``time.perf_counter()``), detail cut to a line."""
    text = " ".join(detail.split())[:300]
    return ProbeResult(
        name=name, outcome=outcome, detail=text, duration_s=time.perf_counter() - started
    )
