"""Metrics kept in Redis, so that no process (receiver, worker, forked job) loses them.

Every process adds to one Redis hash (``keys.stats()``); ``receiver.metrics`` reads it
at scrape time and exposes it. A field is the JSON ``[name, {label: value}]`` of one
sample: a counter value, or a histogram's ``_bucket`` / ``_sum`` / ``_count``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


_PAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
_PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "triaged_alerts_received_total",
            Kind.COUNTER,
            "Alerts accepted (answered 202), by source.",
            ("source",),
        ),
        MetricDef(
            "triaged_alerts_truncated_total",
            Kind.COUNTER,
            "Alerts a sender left out of its posts (Alertmanager/Grafana max_alerts), by source.",
            ("source",),
        ),
        MetricDef(
            "triaged_templates_failed_total",
            Kind.COUNTER,
            "Communication templates that failed to render (the built-in text went instead).",
            ("template",),
        ),
        MetricDef(
            "triaged_alerts_rejected_total",
            Kind.COUNTER,
            "Alert posts refused, by source and reason.",
            ("source", "reason"),
        ),
        MetricDef(
            "triaged_shadow_alerts_total",
            Kind.COUNTER,
            "Alerts (stored new or changed) the shadow rules also classified.",
            (),
        ),
        MetricDef(
            "triaged_shadow_disagreements_total",
            Kind.COUNTER,
            "Alerts whose shadow verdict differs from the live one, by field "
            "(rule, severity, policy, paged).",
            ("field",),
        ),
        MetricDef(
            "triaged_incidents_total", Kind.COUNTER, "Incidents opened, by severity.", ("severity",)
        ),
        MetricDef(
            "triaged_pages_total",
            Kind.COUNTER,
            "Page delivery attempts, by channel and outcome (sent, retried, failed).",
            ("channel", "outcome"),
        ),
        MetricDef(
            "triaged_time_to_first_page_seconds",
            Kind.HISTOGRAM,
            "From the first alert received to the incident's first page sent.",
            ("severity",),
            _PAGE_BUCKETS,
        ),
        MetricDef(
            "triaged_probe_duration_seconds",
            Kind.HISTOGRAM,
            "Diagnosis probe run time, by probe and outcome.",
            ("probe", "outcome"),
            _PROBE_BUCKETS,
        ),
        MetricDef(
            "triaged_escalation_steps_total",
            Kind.COUNTER,
            "Escalation steps executed (each step that paged), by severity.",
            ("severity",),
        ),
        MetricDef(
            "triaged_response_deadlines_missed_total",
            Kind.COUNTER,
            "Response deadlines that passed unacknowledged, by severity.",
            ("severity",),
        ),
        MetricDef(
            "triaged_escalations_redriven_total",
            Kind.COUNTER,
            "Overdue work the reconciler had to re-drive (scheduler late or worker died).",
            ("kind",),
        ),
        MetricDef(
            "triaged_pages_misconfigured_total",
            Kind.COUNTER,
            "Pages a channel refused with a 4xx (not retried), by channel.",
            ("channel",),
        ),
    )
}


def field(name: str, **labels: str) -> str:
    """Return the hash field of one sample (labels sorted by name)."""
    return _field(name, tuple(sorted(labels.items())))


@functools.lru_cache(maxsize=4096)
def _field(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    # label values are few (sources, severities, outcomes): computed once each
    return json.dumps([name, dict(labels)], separators=(",", ":"))


def count(name: str, amount: float = 1, **labels: str) -> list[tuple[str, float]]:
    """Return the increments that add ``amount`` to a counter."""
    _check(name, Kind.COUNTER, labels)
    return [(field(name, **labels), amount)]


def observe(name: str, value: float, **labels: str) -> list[tuple[str, float]]:
    """Return the increments that record one histogram observation."""
    metric = _check(name, Kind.HISTOGRAM, labels)
    incs = [
        (field(f"{name}_bucket", **labels, le=_le(b)), 1.0) for b in metric.buckets if value <= b
    ]
    incs.append((field(f"{name}_bucket", **labels, le="+Inf"), 1.0))
    incs.append((field(f"{name}_sum", **labels), value))
    incs.append((field(f"{name}_count", **labels), 1.0))
    return incs


def parse(raw_field: str) -> tuple[str, dict[str, str]]:
    """Split a hash field back into sample name and labels."""
    name, labels = json.loads(raw_field)
    return str(name), {str(k): str(v) for k, v in labels.items()}


def _le(bound: float) -> str:
    return repr(float(bound))


def _check(name: str, kind: Kind, labels: dict[str, str]) -> MetricDef:
    metric = METRICS[name]
    if metric.kind is not kind or set(labels) != set(metric.labels):
        raise ValueError(f"{name}: expected a {metric.kind} with labels {metric.labels}")
    return metric
