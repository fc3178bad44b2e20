"""Alertmanager webhook bodies (version "4"), made fast enough for a load generator.

A body is built once, as Alertmanager 0.25 serializes it (compact JSON, Go's key
order, newline-terminated), with two fixed-width placeholders; each request then
only substitutes them (``bytes.replace``: about a microsecond):

- ``GROUP`` (14 chars) in ``groupKey``, ``groupLabels`` and each alert's ``service``:
  which Alertmanager group (so which incident) the body belongs to;
- ``ALERT`` (14 chars) in each alert's ``instance`` label and ``fingerprint``: which
  alerts these are.

The fingerprint is the alert token plus the alert's index (16 hex digits, like
Alertmanager's); triaged computes its own from the labels, which are distinct too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

GROUP = "gggggggggggggg"
ALERT = "qqqqqqqqqqqqqq"
TOKEN_LEN = len(GROUP)
STARTS_AT = "2026-11-26T10:00:00.000Z"
ZERO_TIME = "0001-01-01T00:00:00Z"


def token(salt: int, n: int) -> str:
    """A 14-hex-digit token: 4 digits of salt (run, process), 10 of counter."""
    return f"{salt & 0xFFFF:04x}{n & 0xFFFFFFFFFF:010x}"


def _alert(kind: str, index: int, severity: str) -> dict[str, Any]:
    labels = {
        "alertname": "BenchAlert",
        "bench": kind,
        "instance": f"i-{ALERT}-{index:02d}",
        "job": "node",
        "namespace": "prod",
        "service": f"svc-{GROUP}",
        "severity": severity,
    }
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "description": f"BenchAlert on instance {index} of the group is firing",
            "summary": f"bench {kind} alert",
        },
        "startsAt": STARTS_AT,
        "endsAt": ZERO_TIME,
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "fingerprint": f"{ALERT}{index:02x}",
    }


def template(kind: str, alerts: int, severity: str = "critical") -> bytes:
    """The body with placeholders: ``alerts`` alerts labelled ``bench=<kind>``."""
    if not 1 <= alerts <= 255:
        raise ValueError("1 to 255 alerts per body")
    rendered = [_alert(kind, i, severity) for i in range(alerts)]
    group_labels = {"alertname": "BenchAlert", "service": f"svc-{GROUP}"}
    common = {k: v for k, v in rendered[0]["labels"].items() if k != "instance"}
    if alerts == 1:
        common = dict(rendered[0]["labels"])
    body = {
        "receiver": "triaged",
        "status": "firing",
        "alerts": rendered,
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": {"summary": f"bench {kind} alert"}
        if alerts > 1
        else dict(rendered[0]["annotations"]),
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": '{}:{alertname="BenchAlert", service="svc-' + GROUP + '"}',
        "truncatedAlerts": 0,
    }
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class BodySpec:
    """How a load generator makes its bodies (picklable, for worker processes).

    Attributes:
        kind: the ``bench`` label (the rules classify on it).
        alerts: alerts per body.
        mode: ``new`` (every body a new group of new alerts), ``repeat`` (one body,
            byte-identical every time), ``groups`` (new alerts, spread round-robin
            over ``groups`` groups).
        groups: number of groups for ``groups`` mode.
        salt: keeps the tokens of different runs and processes apart.
        group_salt: the groups of ``groups`` mode (the same in every process, so
            that all processes spread their alerts over the same groups).
    """

    kind: str
    alerts: int
    mode: str = "new"
    groups: int = 100
    salt: int = 0
    group_salt: int = 0


class BodyMaker:
    """Makes the n-th body of a ``BodySpec``."""

    def __init__(self, spec: BodySpec) -> None:
        if spec.mode not in ("new", "repeat", "groups"):
            raise ValueError(f"unknown mode {spec.mode!r}")
        self.spec = spec
        self._template = template(spec.kind, spec.alerts)
        self._group = GROUP.encode()
        self._alert = ALERT.encode()
        self._fixed = self._fill(token(spec.salt, 0), token(spec.salt, 0))

    def _fill(self, group: str, alert: str) -> bytes:
        return self._template.replace(self._group, group.encode()).replace(
            self._alert, alert.encode()
        )

    def body(self, n: int) -> bytes:
        spec = self.spec
        if spec.mode == "repeat":
            return self._fixed
        if spec.mode == "new":
            t = token(spec.salt, n)
            return self._fill(t, t)
        return self._fill(token(spec.group_salt, n % spec.groups), token(spec.salt, n))
