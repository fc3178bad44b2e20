"""Google Cloud Monitoring: the webhook notification channel (schema version 1.2).

Documented at https://cloud.google.com/monitoring/support/notification-options#webhooks
(the ``incident`` object, example of schema 1.2 and the test notification) and
https://cloud.google.com/monitoring/alerts/doc-variables (the ``documentation`` object).
Samples checked against public receivers of the same body (target/goalert's GCP
integration, cloudforet-io/plugin-google-monitoring-mon-webhook ``docs/en/SAMPLE_DATA.md``).

Identity: ``incident.incident_id`` (with ``scoping_project_id``): Monitoring sends
the same id when the incident opens and when it closes.

Resolved: ``incident.state`` is ``closed`` (compared case-insensitively). ``open``
fires; any other state (e.g. ``acknowledged``) also fires and is kept as the
``state`` label, so a rule can match it.

A test notification (the channel's "Send test notification") carries
``version: "test"`` and a made-up incident: nothing is stored (``[]``).

Labels: ``alertname`` (the policy's display name, ``policy_name``), ``severity``
(the policy severity, ``Critical`` / ``Error`` / ``Warning``, lowercased; none for
``No severity``, where a ``severity`` policy user label is used instead), ``state``,
``service`` (the policy user label ``service``, else the resource label
``service_name``, else the resource's display name or name), ``project``,
``resource``, ``resource_type``, ``metric``, ``condition``, ``region`` (resource
label ``region`` or ``location``); then, never overriding those, the policy user
labels, the resource labels, the metric labels and the resource metadata user and
system labels.

Annotations: ``summary`` (Monitoring's summary line), ``description`` (the policy
documentation content), ``subject`` (documentation subject), ``incident_id``,
``observed_value``, ``threshold_value``, ``resource_name``, ``apigee_url``.
``generator_url`` is the incident's console URL.

Grouping: alerts with the same ``alertname`` + ``service`` (policy x resource) are
one incident; Monitoring has no group id of its own above the incident.

Times: ``started_at`` / ``ended_at`` (epoch seconds) as ISO-8601 UTC; ``0`` or
``null`` means unset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

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

SOURCE = "gcp-monitoring"

# the largest epoch second datetime can show (9999-12-31T23:59:59Z)
_MAX_EPOCH = 253_402_300_799
_NO_SEVERITY = "no severity"

Key = Annotated[StrictStr, Field(max_length=1024)]
Short = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Url = Annotated[StrictStr, Field(max_length=8192)]
Labels = Annotated[dict[Key, Short], Field(max_length=MAX_LABELS)]
Epoch = Annotated[int, Field(ge=0, le=_MAX_EPOCH)]
# values Monitoring documents as strings but that are sometimes sent as numbers
Number = (
    Annotated[StrictStr, Field(max_length=256)]
    | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    | float
)


class Resource(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Short = ""
    labels: Labels = Field(default_factory=dict)


class Metric(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Short = ""
    displayName: Short = ""  # noqa: N815
    labels: Labels = Field(default_factory=dict)


class Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    # system labels may hold lists and numbers (e.g. GCE metadata)
    system_labels: Annotated[dict[Key, JsonValue], Field(max_length=MAX_LABELS)] = Field(
        default_factory=dict
    )
    user_labels: Labels = Field(default_factory=dict)


class Documentation(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    content: Text = ""
    subject: Short = ""
    mime_type: Short = ""


class Incident(BaseModel):
    """The ``incident`` object of schema 1.2."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    incident_id: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    scoping_project_id: Short | None = None
    scoping_project_number: Number | None = None
    url: Url | None = None
    apigee_url: Url | None = None
    severity: Short | None = None
    started_at: Epoch | None = None
    ended_at: Epoch | None = None
    state: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    summary: Text | None = None
    observed_value: Number | None = None
    threshold_value: Number | None = None
    resource: Resource = Field(default_factory=Resource)
    resource_type_display_name: Short | None = None
    resource_id: Short | None = None
    resource_display_name: Short | None = None
    resource_name: Short | None = None
    metric: Metric = Field(default_factory=Metric)
    metadata: Metadata = Field(default_factory=Metadata)
    policy_name: Short | None = None
    policy_user_labels: Labels = Field(default_factory=dict)
    condition_name: Short | None = None
    # a plain string in older bodies and in the test notification
    documentation: Documentation | Text | None = None


class Payload(BaseModel):
    """Monitoring's webhook body: ``{"version": "1.2", "incident": {...}}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Annotated[StrictStr, Field(min_length=1, max_length=16)]
    incident: Incident


def _iso(epoch: int | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def _severity(incident: Incident) -> str | None:
    severity = lower(incident.severity)
    if severity and severity != _NO_SEVERITY:
        return severity
    return lower(incident.policy_user_labels.get("severity"))


def _service(incident: Incident) -> str | None:
    return (
        incident.policy_user_labels.get("service")
        or incident.resource.labels.get("service_name")
        or incident.resource_display_name
        or incident.resource_name
        or None
    )


def _labels(incident: Incident, state: str) -> dict[str, str]:
    res = incident.resource.labels
    own = {
        "alertname": incident.policy_name or incident.condition_name or "gcp-monitoring",
        "severity": _severity(incident),
        "state": state,
        "service": _service(incident),
        "project": incident.scoping_project_id or res.get("project_id") or None,
        "resource": incident.resource_display_name or incident.resource_name or None,
        "resource_type": incident.resource.type or None,
        "metric": incident.metric.type or None,
        "condition": incident.condition_name or None,
        "region": res.get("region") or res.get("location") or None,
    }
    return merge(
        labels_from(own),
        labels_from(incident.policy_user_labels),
        labels_from(res),
        labels_from(incident.metric.labels),
        labels_from(incident.metadata.user_labels),
        labels_from((k, label_value(v)) for k, v in incident.metadata.system_labels.items()),
    )


def _annotations(incident: Incident) -> dict[str, str]:
    doc = incident.documentation
    content = doc.content if isinstance(doc, Documentation) else doc
    subject = doc.subject if isinstance(doc, Documentation) else None
    summary = incident.summary or subject or incident.policy_name or incident.incident_id
    return labels_from(
        {
            "summary": summary,
            "description": content or None,
            "subject": subject or None,
            "incident_id": incident.incident_id,
            "observed_value": incident.observed_value,
            "threshold_value": incident.threshold_value,
            "resource_name": incident.resource_name or None,
            "apigee_url": incident.apigee_url or None,
        }
    )


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one incident notification into one alert; a test notification into none."""
    if payload.version.strip().lower() == "test":
        return []
    incident = payload.incident
    state = incident.state.strip().lower()
    labels = _labels(incident, state)
    group_key, group_labels = group(labels)
    return [
        Alert(
            source=SOURCE,
            fingerprint=stable_id(incident.scoping_project_id, incident.incident_id),
            status=AlertStatus.RESOLVED if state == "closed" else AlertStatus.FIRING,
            labels=labels,
            annotations=_annotations(incident),
            starts_at=_iso(incident.started_at),
            ends_at=_iso(incident.ended_at),
            generator_url=label_value(incident.url) or None,
            group_key=group_key,
            group_labels=group_labels,
        )
    ]
