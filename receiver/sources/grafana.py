"""Grafana unified alerting: the webhook contact point (payload ``version`` "1").

Documented at
https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
(body and alert fields) and
https://grafana.com/docs/grafana/latest/alerting/fundamentals/alert-rule-evaluation/nodata-and-error-states/
(``DatasourceNoData`` / ``DatasourceError`` alerts, the ``grafana_state_reason`` annotation).

Identity: Grafana's per-alert ``fingerprint`` (a hash of the alert's labels, equal
for the firing and the resolved notification) together with ``orgId``; an alert
without one falls back to its sorted label set.

Resolved: the alert's own ``status`` is ``resolved`` (one body may carry firing and
resolved alerts: each alert counts, not the body's ``status``). Everything else
fires. No Data and Error are firing alerts with a ``state`` label:

- ``state="nodata"``: alertname ``DatasourceNoData``, or a ``grafana_state_reason``
  annotation (or ``grafana_state`` label) starting with ``NoData`` / ``No Data``;
- ``state="error"``: alertname ``DatasourceError``, or a reason starting with ``Error``;
- ``state="alerting"`` for other firing alerts, ``state="normal"`` once resolved.

Labels: the alert's own labels (names normalized), with ``alertname`` (always),
``severity`` and ``priority`` lowercased when the rule sets them, and ``state``
put first so an alert label cannot override them. ``service`` is the rule's own
``service`` label when it has one.

Annotations: Grafana's annotations (``summary``, ``description``, ``runbook_url``,
``grafana_state_reason``...) plus ``silence_url``, ``dashboard_url``, ``panel_url``,
``image_url`` when set; a missing ``summary`` is written from the rule name and
state. ``generator_url`` is the alert rule's page.

Grouping: Grafana's ``groupKey`` (its notification policy's group, like
Alertmanager's), shown with ``groupLabels`` (else ``commonLabels``); a body without
a ``groupKey`` groups by ``alertname`` + ``service``.

Times: ``startsAt`` / ``endsAt`` as Grafana sends them (RFC 3339); the unset
``endsAt`` of a firing alert (``0001-01-01T00:00:00Z``) becomes ``None``.

Grafana's "Test" button sends an ordinary firing alert (``alertname="TestAlert"``,
``instance="Grafana"``): it is stored like any other, so a rule can route it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    label_value,
    labels_from,
    lower,
    merge,
    stable_id,
)

SOURCE = "grafana"

_UNSET_TIME = "0001-01-01T00:00:00Z"

Key = Annotated[StrictStr, Field(max_length=1024)]
LabelText = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Url = Annotated[StrictStr, Field(max_length=8192)]
Time = Annotated[StrictStr, Field(max_length=64)]
Labels = Annotated[dict[Key, LabelText], Field(max_length=MAX_LABELS)]
Annotations = Annotated[dict[Key, Text], Field(max_length=MAX_LABELS)]


class GrafanaAlert(BaseModel):
    """One alert of the notification (Grafana's "Alert" table)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: Time | None = None  # noqa: N815
    endsAt: Time | None = None  # noqa: N815
    generatorURL: Url | None = None  # noqa: N815
    fingerprint: Annotated[StrictStr, Field(max_length=128)] | None = None
    silenceURL: Url | None = None  # noqa: N815
    dashboardURL: Url | None = None  # noqa: N815
    panelURL: Url | None = None  # noqa: N815
    imageURL: Url | None = None  # noqa: N815


class Payload(BaseModel):
    """Grafana's webhook body (the documented "Body" table)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    receiver: Annotated[StrictStr, Field(max_length=1024)] = ""
    status: Literal["firing", "resolved"]
    orgId: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None  # noqa: N815
    alerts: list[GrafanaAlert] = Field(min_length=1, max_length=10_000)
    groupLabels: Labels = Field(default_factory=dict)  # noqa: N815
    commonLabels: Labels = Field(default_factory=dict)  # noqa: N815
    externalURL: Url = ""  # noqa: N815
    version: Annotated[StrictStr, Field(max_length=16)] = "1"
    groupKey: Annotated[StrictStr, Field(max_length=4096)] | None = None  # noqa: N815
    truncatedAlerts: StrictInt = Field(default=0, ge=0)  # noqa: N815


def _reason(alert: GrafanaAlert) -> str:
    """Grafana's state reason, squashed for comparison (``No Data`` -> ``nodata``)."""
    raw = alert.annotations.get("grafana_state_reason") or alert.labels.get("grafana_state") or ""
    return raw.lower().replace(" ", "").replace("_", "")


def _state(alert: GrafanaAlert) -> str:
    """The ``state`` label: nodata / error / alerting while firing, normal once resolved."""
    if alert.status == "resolved":
        return "normal"
    name = alert.labels.get("alertname", "")
    reason = _reason(alert)
    if name == "DatasourceNoData" or reason.startswith("nodata"):
        return "nodata"
    if name == "DatasourceError" or reason.startswith("error"):
        return "error"
    return "alerting"


def _summary(alert: GrafanaAlert, alertname: str, state: str) -> str:
    """A short line when the rule wrote no ``summary`` annotation."""
    rule = alert.labels.get("rulename") or alertname
    if state == "nodata":
        return f"{rule}: no data"
    if state == "error":
        error = alert.annotations.get("Error") or alert.annotations.get("error")
        return f"{rule}: data source error: {error}" if error else f"{rule}: data source error"
    return alertname


def _identity(payload: Payload, alert: GrafanaAlert) -> str:
    if alert.fingerprint:
        return stable_id(payload.orgId, alert.fingerprint)
    return stable_id(payload.orgId, sorted(alert.labels.items()))


def _one(payload: Payload, alert: GrafanaAlert) -> Alert:
    state = _state(alert)
    alertname = alert.labels.get("alertname") or "GrafanaAlert"
    own = {
        "alertname": alertname,
        "severity": lower(alert.labels.get("severity")),
        "priority": lower(alert.labels.get("priority")),
        "state": state,
    }
    labels = merge(labels_from(own), labels_from(alert.labels))
    links = labels_from(
        {
            "silence_url": alert.silenceURL or None,
            "dashboard_url": alert.dashboardURL or None,
            "panel_url": alert.panelURL or None,
            "image_url": alert.imageURL or None,
        }
    )
    annotations = merge(dict(alert.annotations), links)
    if not annotations.get("summary"):
        annotations["summary"] = label_value(_summary(alert, alertname, state)) or alertname
    if payload.groupKey:
        group_key = payload.groupKey
        group_labels = labels_from(payload.groupLabels or payload.commonLabels)
    else:
        group_key, group_labels = group(labels)
    ends_at = alert.endsAt if alert.endsAt and alert.endsAt != _UNSET_TIME else None
    return Alert(
        source=SOURCE,
        fingerprint=_identity(payload, alert),
        status=AlertStatus(alert.status),
        labels=labels,
        annotations=annotations,
        starts_at=alert.startsAt or None,
        ends_at=ends_at,
        generator_url=alert.generatorURL or None,
        group_key=group_key,
        group_labels=group_labels,
    )


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one notification into alerts, one per alert it carries."""
    return [_one(payload, a) for a in payload.alerts]
