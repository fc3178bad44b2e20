"""Azure Monitor: action-group webhooks with the common alert schema enabled.

Documented at
https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/alerts-common-schema (fields),
https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/alerts-payload-samples (samples
per ``monitoringService``),
https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/alerts-overview ("all activity
log alerts are stateless": their condition is always ``Fired``),
https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/activity-log-alerts-webhook
(activity log ``status`` values: ``Active``, ``Resolved``, ...) and
https://learn.microsoft.com/en-us/azure/service-health/service-health-alert-webhook-guide
(``trackingId``, the Service Health link).

Body: ``{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {...},
"alertContext": {...}, "customProperties": {...}}}``. Only the common schema is read: a
legacy body (``"schemaId": "Microsoft.Insights/activityLogs"``, or the old metric and log
webhooks without ``schemaId``) is refused, naming ``schemaId``. Turn on "Enable the
common alert schema" on the action group's webhook.

Identity: ``essentials.alertId``, which a metric or log search alert keeps from
``Fired`` to ``Resolved``. Activity log alerts are stateless (a new ``alertId`` per
event), so two of them are identified by what stays: a Service Health alert by
``alertRule`` + ``properties.trackingId`` (the Azure incident), a Resource Health alert
by ``alertRule`` + its target resource.

Resolved: ``monitorCondition`` ``Resolved``; for activity log alerts (always ``Fired``)
also ``alertContext.status`` ``Resolved``, a Service Health ``stage`` ``Resolved`` and a
Resource Health ``currentHealthStatus`` ``Available``. Everything else fires; an
administrative activity log event never resolves by itself (resolve it in triaged).

Labels: ``alertname`` (``alertRule``), ``severity`` (``Sev0``..``Sev4`` lowercased:
``sev0``), ``signal_type`` (``Metric``, ``Log``, ``Activity Log``),
``monitoring_service`` (``Platform``, ``Log Alerts V2``, ``ServiceHealth``, ...),
``service`` (``configurationItems[0]``, the resource name when it is a resource id;
for Service Health the Azure service), and from
the first ``alertTargetIDs`` entry ``resource`` (its name), ``resource_type``,
``resource_group``, ``subscription``; ``metric``; activity log ``operation``, ``level``;
Service Health ``tracking_id``, ``incident_type``, ``stage``, ``region``; Resource
Health ``health_status``. Then the metric or log dimensions, then the custom properties
(``customProperties``, and ``alertContext.properties`` of metric and log alerts), never
overriding those (their scalar values: an object or a list is no label).

Annotations: ``summary`` (the Service/Resource Health title, else rule, metric,
operator, threshold and resource), ``description`` (the rule's description, else the
health communication), ``alert_id``, ``metric_value``, ``threshold``, ``search_query``.
``generator_url``: the log search results link, or the Service Health incident link.

Grouping: ``alertname`` + ``service``; a Service Health alert by ``alertname`` +
``tracking_id`` (one incident per Azure incident, whatever services it touches).

Times: ``firedDateTime`` (Service Health: ``impactStartTime``, the same in every
notice of the incident); ``resolvedDateTime`` (Service Health: ``impactMitigationTime``).

A body carries one alert. The schema has no test marker (the portal's test action
sends a real-shaped sample alert), so no valid body returns ``[]``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_LABELS,
    MAX_VALUE,
    group,
    http_url,
    label_value,
    labels_from,
    lower,
    merge,
    stable_id,
)

SOURCE = "azure-monitor"

T = TypeVar("T")

Short = Annotated[StrictStr, Field(max_length=MAX_VALUE)]
Text = Annotated[StrictStr, Field(max_length=65_536)]
Time = Annotated[StrictStr, Field(max_length=64)]
Url = Annotated[StrictStr, Field(max_length=16_384)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=1024)]
Int = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]  # what JSON (and orjson) can write
Scalar = Short | bool | Int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Dimension(_Model):
    name: Short
    value: Scalar | None = None


class Criterion(_Model):
    """One entry of ``condition.allOf`` (metric, webtest and Log Alerts V2 alerts)."""

    metricName: Short | None = None  # noqa: N815
    operator: Short | None = None
    threshold: Scalar | None = None
    metricValue: Scalar | None = None  # noqa: N815
    dimensions: list[Dimension] | None = Field(default=None, max_length=MAX_LABELS)
    searchQuery: Text | None = None  # noqa: N815
    linkToSearchResultsUI: Url | None = None  # noqa: N815
    linkToFilteredSearchResultsUI: Url | None = None  # noqa: N815


class Condition(_Model):
    allOf: list[Criterion] | None = Field(default=None, max_length=64)  # noqa: N815


class AlertContext(_Model):
    """The fields read from ``alertContext``, whose shape depends on the service."""

    properties: dict[StrictStr, Any] | None = Field(default=None, max_length=1024)
    condition: Condition | None = None
    # activity log alerts (ServiceHealth sends level and eventSource as numbers)
    status: Short | Int | None = None
    level: Short | Int | None = None
    operationName: Short | None = None  # noqa: N815
    # log search alerts of monitoringService "Platform" / "Application Insights"
    SearchQuery: Text | None = None
    LinkToSearchResults: Url | None = None
    LinkToFilteredSearchResultsUI: Url | None = None
    Dimensions: list[Dimension] | None = Field(default=None, max_length=MAX_LABELS)


class Essentials(_Model):
    alertId: Name  # noqa: N815
    alertRule: Name  # noqa: N815
    severity: Annotated[StrictStr, Field(max_length=32)]
    signalType: Short | None = None  # noqa: N815
    monitorCondition: Literal["Fired", "Resolved"]  # noqa: N815
    monitoringService: Short | None = None  # noqa: N815
    alertTargetIDs: list[Url] | None = Field(default=None, max_length=MAX_LABELS)  # noqa: N815
    configurationItems: list[Short] | None = Field(default=None, max_length=MAX_LABELS)  # noqa: N815
    firedDateTime: Time | None = None  # noqa: N815
    resolvedDateTime: Time | None = None  # noqa: N815
    description: Text | None = None


class Data(_Model):
    essentials: Essentials
    alertContext: AlertContext | None = None  # noqa: N815
    customProperties: dict[StrictStr, Any] | None = Field(default=None, max_length=MAX_LABELS)  # noqa: N815


class Payload(_Model):
    """An action group's webhook body in the common alert schema."""

    schemaId: Literal["azureMonitorCommonAlertSchema"]  # noqa: N815
    data: Data


def _first(items: list[T] | None) -> T | None:
    return items[0] if items else None


def _scalar(value: Any) -> Any:
    """A free-form value as label_value takes it: integers as text (whatever their size),
    objects and lists (not label material) as absent."""
    if isinstance(value, bool | float | str) or value is None:
        return value
    return str(value) if isinstance(value, int) else None


def _text(value: Any) -> str | None:
    text = label_value(_scalar(value))
    return text.strip() or None if text is not None else None


def _scalars(pairs: dict[str, Any] | None) -> dict[str, str]:
    return labels_from((k, _scalar(v)) for k, v in (pairs or {}).items())


def _squash(value: Any) -> str:
    """``"Resource Health"`` and ``"ResourceHealth"`` alike: ``resourcehealth``."""
    return "".join(ch for ch in (_text(value) or "").lower() if ch.isalnum())


def _kind(e: Essentials) -> str:
    service = _squash(e.monitoringService)
    if service in ("servicehealth", "resourcehealth"):
        return service
    return "activitylog" if _squash(e.signalType) == "activitylog" else "stateful"


def _arm(resource_id: str | None) -> dict[str, str | None]:
    """Subscription, resource group, type and name of an Azure Resource Manager id."""
    parts = [p for p in (resource_id or "").split("/") if p]
    low = [p.lower() for p in parts]

    def after(key: str) -> str | None:
        i = low.index(key) if key in low else -1
        return parts[i + 1] if 0 <= i < len(parts) - 1 else None

    out: dict[str, str | None] = {
        "subscription": after("subscriptions"),
        "resource_group": after("resourcegroups"),
    }
    if "providers" in low:
        i = low.index("providers")
        out["resource"] = parts[-1] if len(parts) > i + 2 else None
        out["resource_type"] = "/".join(parts[i + 1 : -1]) or None if len(parts) > i + 2 else None
    return out


def _item_name(item: str | None) -> str | None:
    """A configuration item as a name: an Azure Resource Manager id gives its last part."""
    if item and item.startswith("/"):
        parts = [p for p in item.split("/") if p]
        return _arm(item).get("resource") or (parts[-1] if parts else None)
    return _text(item)


def _resolved(kind: str, e: Essentials, ctx: AlertContext, props: dict[str, Any]) -> bool:
    if e.monitorCondition == "Resolved":
        return True
    if kind == "stateful":
        return False
    if _squash(ctx.status) == "resolved":
        return True
    if kind == "servicehealth":
        return _squash(props.get("stage")) == "resolved"
    return kind == "resourcehealth" and _squash(props.get("currentHealthStatus")) == "available"


def _identity(kind: str, e: Essentials, props: dict[str, Any], target: str | None) -> str:
    tracking = _text(props.get("trackingId"))
    if kind == "servicehealth" and tracking:
        return stable_id("service-health", e.alertRule, tracking)
    if kind == "resourcehealth" and target:
        return stable_id("resource-health", e.alertRule, target.lower())
    return stable_id("alert", e.alertId)


def _summary(kind: str, e: Essentials, ctx: AlertContext, crit: Criterion | None) -> str:
    props = ctx.properties or {}
    title = _text(props.get("title"))
    if kind in ("servicehealth", "resourcehealth") and title:
        return title
    if kind == "activitylog" and ctx.operationName:
        return " ".join(t for t in (e.alertRule + ":", ctx.operationName, _text(ctx.status)) if t)
    resource = _arm(_first(e.alertTargetIDs)).get("resource")
    words = [e.alertRule]
    if crit is not None and crit.metricName:
        words = [e.alertRule + ":", crit.metricName]
        words += [t for t in (_text(crit.operator), _text(crit.threshold)) if t]
    return " ".join(words + (["on", resource] if resource else []))


def _link(
    kind: str,
    ctx: AlertContext,
    crit: Criterion | None,
    tracking: str | None,
    subscription: str | None,
) -> str | None:
    if kind == "servicehealth" and tracking and subscription and len(subscription) >= 6:
        # the documented personalized link: trackingId, then the subscription id's
        # first and last three characters
        short = quote(subscription[:3] + subscription[-3:], safe="")
        return f"https://app.azure.com/h/{quote(tracking, safe='')}/{short}"
    links = () if crit is None else (crit.linkToFilteredSearchResultsUI, crit.linkToSearchResultsUI)
    return http_url(*links, ctx.LinkToFilteredSearchResultsUI, ctx.LinkToSearchResults)


def to_alerts(payload: Payload) -> list[Alert]:
    """Translate one notification into its one alert."""
    e = payload.data.essentials
    ctx = payload.data.alertContext or AlertContext()
    props = ctx.properties or {}
    kind = _kind(e)
    target = _first(e.alertTargetIDs)
    arm = _arm(target)
    crit = _first(ctx.condition.allOf) if ctx.condition is not None else None
    health = kind in ("servicehealth", "resourcehealth")
    tracking = _text(props.get("trackingId")) if kind == "servicehealth" else None
    service = _item_name(_first(e.configurationItems)) or (
        _text(props.get("service")) if kind == "servicehealth" else None
    )
    own = labels_from(
        {
            "alertname": e.alertRule,
            "severity": lower(e.severity),
            "signal_type": _text(e.signalType),
            "monitoring_service": _text(e.monitoringService),
            "service": service,
            **arm,
            "metric": crit.metricName if crit is not None else None,
            "operation": _text(ctx.operationName) if kind != "stateful" else None,
            "level": _text(ctx.level) if kind != "stateful" else None,
            "tracking_id": tracking,
            "incident_type": _text(props.get("incidentType")) if tracking else None,
            "stage": _text(props.get("stage")) if tracking else None,
            "region": _text(props.get("region")) if tracking else None,
            "health_status": (
                _text(props.get("currentHealthStatus")) if kind == "resourcehealth" else None
            ),
        }
    )
    dims = (crit.dimensions if crit is not None else None) or ctx.Dimensions or []
    custom = _scalars(payload.data.customProperties)
    if kind == "stateful":  # alertContext.properties: the rule's custom properties
        custom = merge(custom, _scalars(props))
    labels = merge(own, labels_from((d.name, d.value) for d in dims), custom)
    health_text = props.get("communication") or props.get("details") if health else None
    annotations = labels_from(
        {
            "summary": _summary(kind, e, ctx, crit),
            "description": _text(e.description) or _text(health_text),
            "alert_id": e.alertId,
            "metric_value": crit.metricValue if crit is not None else None,
            "threshold": crit.threshold if crit is not None else None,
            "search_query": (crit.searchQuery if crit is not None else None) or ctx.SearchQuery,
        }
    )
    resolved = _resolved(kind, e, ctx, props)
    ended = e.resolvedDateTime or (_text(props.get("impactMitigationTime")) if health else None)
    if kind == "servicehealth" and tracking:
        group_key, group_labels = group(labels, by=("alertname", "tracking_id"))
    else:
        group_key, group_labels = group(labels)
    return [
        Alert(
            source=SOURCE,
            fingerprint=_identity(kind, e, props, target),
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            labels=labels,
            annotations=annotations,
            starts_at=(_text(props.get("impactStartTime")) if health else None) or e.firedDateTime,
            ends_at=(ended or None) if resolved else None,
            generator_url=_link(kind, ctx, crit, tracking, arm.get("subscription")),
            group_key=group_key,
            group_labels=group_labels,
        )
    ]
