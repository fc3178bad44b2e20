"""AWS CloudWatch alarms, delivered by an Amazon SNS HTTP/HTTPS subscription.

Two body shapes are accepted at ``POST /api/v1/alerts/cloudwatch``:

- the SNS envelope (the default delivery): ``Type`` is ``Notification``,
  ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation``. A notification's
  ``Message`` is the CloudWatch alarm, as a JSON *string*. Confirmations carry no
  alert: ``to_alerts`` returns ``[]``; the receiver does the handshake
  (``sns_message`` gives it what ``receiver.sns`` needs: type, topic, SubscribeURL and
  the fields the signature covers);
- raw message delivery (``RawMessageDelivery=true``): the body *is* the alarm JSON
  (no ``Type``), with the header ``x-amz-sns-rawdelivery: true``. Such a body has no
  signature, so it cannot be verified: ``sns_message`` returns None for it.

SNS posts with ``Content-Type: text/plain; charset=UTF-8`` unless the subscription's
delivery policy sets ``headerContentType``.

Identity: ``AlarmArn`` (else ``AWSAccountId`` + ``Region`` + ``AlarmName``), so an
alarm's ALARM, INSUFFICIENT_DATA and OK notifications are one alert.

Status: ``NewStateValue`` ``ALARM`` is firing, ``OK`` is resolved. ``INSUFFICIENT_DATA``
is *firing* with ``state="insufficient_data"``: an alarm whose metric stopped
reporting is a silent sensor, not a healthy one (the agent or the resource may be
gone). Rules grade it, e.g. ``state="insufficient_data"`` -> a low severity.

Labels: ``alertname`` (AlarmName), ``state`` (alarm / ok / insufficient_data),
``region`` (the code from AlarmArn, e.g. ``eu-west-1``; the message's own ``Region`` is
a display name such as "EU (Ireland)", kept as the ``region_name`` annotation and used
as ``region`` only when there is no ARN), ``account``, ``namespace`` and ``metric`` (the
alarm's metric; for a metric-math alarm, the first metric it reads; none for a
composite alarm), then the metric's dimensions, names in snake case
(``InstanceId`` -> ``instance_id``, ``DBInstanceIdentifier`` ->
``db_instance_identifier``), merged last so they never overwrite the labels above.
CloudWatch has no severity or priority: rules match the alarm's name or what it
watches, e.g. ``alertname=~"prod-.*"``, ``namespace="AWS/RDS"``,
``db_instance_identifier="orders"``. There is no ``service`` notion either.

Annotations: ``summary`` ("ALARM: <name> in <Region>"), ``description``
(AlarmDescription), ``reason`` (NewStateReason), ``alarm_arn``, ``old_state``,
``threshold`` (comparison and threshold), ``alarm_rule`` (composite alarms),
``region_name``, ``topic_arn`` and ``sns_message_id`` (enveloped only).
``generator_url`` is the CloudWatch console page of the alarm (commercial
partition only). ``starts_at`` is StateChangeTime for ALARM / INSUFFICIENT_DATA,
``ends_at`` for OK.

Grouping: ``alertname`` + ``region`` + ``account``: one incident per alarm name per
region and account, whatever dimensions it has.

Documentation used:
- https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html
- https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
- https://docs.aws.amazon.com/sns/latest/dg/http-unsubscribe-confirmation-json.html
- https://docs.aws.amazon.com/sns/latest/dg/http-header.html
- https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html
- https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
- the alarm JSON as AWS's own samples show it: aws/aws-lambda-go
  ``events/sns.go`` (CloudWatchAlarmSNSPayload) and
  ``events/testdata/cloudwatch-alarm-sns-payload-{single,multiple}-metric(s).json``
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ModelWrapValidatorHandler,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from receiver.model import Alert, AlertStatus
from receiver.sources.common import group, label_value, labels_from, merge, stable_id

SOURCE = "cloudwatch"
GROUP_BY = ("alertname", "region", "account")

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_STATE = {"ALARM": "alarm", "OK": "ok", "INSUFFICIENT_DATA": "insufficient_data"}
_ENVELOPE_FIELDS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "SubscribeURL",
    "UnsubscribeURL",
    "Token",
)
_REGION_CODE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_CAMEL_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Dimension(_Model):
    name: StrictStr = Field(max_length=255)
    value: StrictStr = Field(max_length=1024)


class MetricRef(_Model):
    MetricName: StrictStr | None = Field(default=None, max_length=255)
    Namespace: StrictStr | None = Field(default=None, max_length=255)
    Dimensions: list[Dimension] = Field(default_factory=list, max_length=30)


class MetricStatRef(_Model):
    Metric: MetricRef | None = None


class MetricQuery(_Model):
    """One entry of a metric-math alarm's ``Metrics`` (an expression has no MetricStat)."""

    MetricStat: MetricStatRef | None = None


class AlarmTrigger(_Model):
    """What the alarm watches: one metric (``MetricName`` ...) or metric math (``Metrics``)."""

    MetricName: StrictStr | None = Field(default=None, max_length=255)
    Namespace: StrictStr | None = Field(default=None, max_length=255)
    Dimensions: list[Dimension] = Field(default_factory=list, max_length=30)
    Metrics: list[MetricQuery] = Field(default_factory=list, max_length=100)
    ComparisonOperator: StrictStr | None = Field(default=None, max_length=64)
    Threshold: FiniteFloat | None = None

    def metric(self) -> MetricRef:
        """The metric the alarm reads: its own, else the first one of its metric math."""
        if self.MetricName or self.Namespace:
            return MetricRef(
                MetricName=self.MetricName, Namespace=self.Namespace, Dimensions=self.Dimensions
            )
        for query in self.Metrics:
            if query.MetricStat is not None and query.MetricStat.Metric is not None:
                return query.MetricStat.Metric
        return MetricRef()


class Alarm(_Model):
    """The CloudWatch alarm state change (SNS ``Message``, or the raw body)."""

    AlarmName: StrictStr = Field(min_length=1, max_length=255)
    AlarmDescription: StrictStr | None = Field(default=None, max_length=1024)
    AWSAccountId: StrictStr | None = Field(default=None, max_length=32)
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    NewStateReason: StrictStr | None = Field(default=None, max_length=16_384)
    StateChangeTime: StrictStr | None = Field(default=None, max_length=64)
    Region: StrictStr | None = Field(default=None, max_length=128)
    AlarmArn: StrictStr | None = Field(default=None, max_length=2048)
    OldStateValue: StrictStr | None = Field(default=None, max_length=32)
    AlarmRule: StrictStr | None = Field(default=None, max_length=10_240)
    Trigger: AlarmTrigger | None = None


class _Envelope(_Model):
    MessageId: StrictStr = Field(min_length=1, max_length=128)
    TopicArn: StrictStr = Field(min_length=1, max_length=1024)
    Message: StrictStr = Field(max_length=262_144)
    Timestamp: StrictStr = Field(min_length=1, max_length=64)
    SignatureVersion: StrictStr | None = Field(default=None, max_length=8)
    Signature: StrictStr | None = Field(default=None, max_length=4096)
    SigningCertURL: StrictStr | None = Field(default=None, max_length=2048)


class Notification(_Envelope):
    Type: Literal["Notification"]
    Subject: StrictStr | None = Field(default=None, max_length=256)
    UnsubscribeURL: StrictStr | None = Field(default=None, max_length=4096)


class Confirmation(_Envelope):
    Type: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"]
    Token: StrictStr = Field(min_length=1, max_length=4096)
    SubscribeURL: StrictStr = Field(min_length=1, max_length=4096)


class _Kind(_Model):
    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]


class Payload(_Model):
    """An SNS envelope (``envelope`` set; ``alarm`` set for a notification) or, for
    raw message delivery, the alarm itself (``envelope`` None).

    Built from the body by the validator below; error locations name the body's own
    fields (``MessageId``, ``Message``, ``Message.NewStateValue``, ``AlarmName``).
    """

    envelope: Notification | Confirmation | None = None
    alarm: Alarm | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _from_body(cls, data: Any, handler: ModelWrapValidatorHandler[Payload]) -> Payload:
        if not isinstance(data, dict):
            return handler(data)
        if "Type" not in data:
            return handler({"alarm": Alarm.model_validate(data)})
        kind = _Kind.model_validate(data).Type
        if kind != NOTIFICATION:
            return handler({"envelope": Confirmation.model_validate(data)})
        envelope = Notification.model_validate(data)
        return handler({"envelope": envelope, "alarm": _alarm_in(envelope.Message)})


def _message_error(message: str, reason: str) -> ValidationError:
    error = PydanticCustomError(
        "cloudwatch_message", "Message is not a CloudWatch alarm: {reason}", {"reason": reason}
    )
    return ValidationError.from_exception_data(
        "Payload", [InitErrorDetails(type=error, loc=("Message",), input=message[:80])]
    )


def _has_bad_text(data: Any) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _BAD_TEXT.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _at_message(err: ErrorDetails) -> InitErrorDetails:
    """An error of the alarm model, located under ``Message``."""
    moved = InitErrorDetails(type=err["type"], loc=("Message", *err["loc"]), input=err["input"])
    if "ctx" in err:
        moved["ctx"] = err["ctx"]
    return moved


def _alarm_in(message: str) -> Alarm:
    """Parse a notification's ``Message``; every failure is a ValidationError at ``Message``."""
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        raise _message_error(message, "not JSON") from None
    if not isinstance(data, dict):
        raise _message_error(message, "not a JSON object")
    if _has_bad_text(data):
        raise _message_error(message, "text contains a NUL character or a lone surrogate")
    try:
        return Alarm.model_validate(data)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            "Payload",
            [_at_message(err) for err in exc.errors(include_url=False)],
        ) from None


@dataclass(frozen=True)
class SnsMessage:
    """What the receiver needs from an SNS envelope to verify it and to answer a
    subscription handshake (see ``receiver.sns``).

    Attributes:
        type: ``Notification``, ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation``.
        topic_arn: the topic that sent it (check it against the configured topics).
        message_id: SNS's id of the message (a retry keeps it).
        subscribe_url: the URL that confirms a subscription (confirmations only).
        fields: every envelope field present, by its SNS name, exactly as sent: what
            ``receiver.sns.SnsVerifier.verify`` builds the string to sign from.
    """

    type: str
    topic_arn: str
    message_id: str
    subscribe_url: str | None
    fields: Mapping[str, str]


def sns_message(payload: Payload) -> SnsMessage | None:
    """The SNS envelope of a validated payload; None for raw message delivery
    (a raw body carries no signature)."""
    env = payload.envelope
    if env is None:
        return None
    fields = {
        name: value
        for name in _ENVELOPE_FIELDS
        if isinstance(value := getattr(env, name, None), str)
    }
    return SnsMessage(
        type=env.Type,
        topic_arn=env.TopicArn,
        message_id=env.MessageId,
        subscribe_url=env.SubscribeURL if isinstance(env, Confirmation) else None,
        fields=fields,
    )


def _snake(name: str) -> str:
    return _CAMEL_BREAK.sub("_", name)


def _iso(text: str | None) -> str | None:
    """StateChangeTime (``2015-06-03T17:43:27.123+0000``) as ISO-8601 with a ``+00:00``
    offset; kept as sent when it does not parse."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return text


def _arn_parts(arn: str | None) -> tuple[str, str, str] | None:
    """``(partition, region, account)`` of an alarm ARN:
    ``arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>``."""
    parts = (arn or "").split(":", 6)
    if len(parts) < 7 or parts[0] != "arn":
        return None
    return parts[1], parts[3], parts[4]


def _console_url(partition: str, region: str, name: str) -> str | None:
    if partition != "aws" or not _REGION_CODE.fullmatch(region):
        return None
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/deeplink.js"
        f"?region={region}#alarmsV2:alarm/{quote(name, safe='', errors='replace')}"
    )


def _annotations(alarm: Alarm, summary: str, envelope: Notification | None) -> dict[str, str]:
    trigger = alarm.Trigger
    threshold = None
    if trigger is not None and trigger.Threshold is not None:
        threshold = f"{trigger.ComparisonOperator or ''} {label_value(trigger.Threshold)}".strip()
    parts: dict[str, str | None] = {
        "summary": summary,
        "description": alarm.AlarmDescription or None,
        "reason": alarm.NewStateReason,
        "alarm_arn": alarm.AlarmArn,
        "old_state": alarm.OldStateValue,
        "threshold": threshold,
        "alarm_rule": alarm.AlarmRule,
        "region_name": alarm.Region,
        "topic_arn": envelope.TopicArn if envelope else None,
        "sns_message_id": envelope.MessageId if envelope else None,
    }
    return {k: v for k, v in parts.items() if v}


def _to_alert(alarm: Alarm, envelope: Notification | None) -> Alert:
    arn = _arn_parts(alarm.AlarmArn)
    region = (arn[1] if arn and arn[1] else None) or alarm.Region
    account = alarm.AWSAccountId or (arn[2] if arn and arn[2] else None)
    metric = alarm.Trigger.metric() if alarm.Trigger is not None else MetricRef()
    own = labels_from(
        {
            "alertname": alarm.AlarmName,
            "state": _STATE[alarm.NewStateValue],
            "region": region,
            "account": account,
            "namespace": metric.Namespace,
            "metric": metric.MetricName,
        }
    )
    dimensions = labels_from((_snake(d.name), d.value) for d in metric.Dimensions)
    labels = merge(own, dimensions)
    where = f" in {alarm.Region}" if alarm.Region else ""
    summary = f"{alarm.NewStateValue}: {alarm.AlarmName}{where}"
    resolved = alarm.NewStateValue == "OK"
    when = _iso(alarm.StateChangeTime)
    if alarm.AlarmArn:
        identity = stable_id(alarm.AlarmArn)
    else:
        identity = stable_id(account, alarm.Region, alarm.AlarmName)
    group_key, group_labels = group(labels, GROUP_BY)
    return Alert(
        source=SOURCE,
        fingerprint=identity,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        labels=labels,
        annotations=_annotations(alarm, summary, envelope),
        starts_at=None if resolved else when,
        ends_at=when if resolved else None,
        generator_url=_console_url(arn[0], arn[1], alarm.AlarmName) if arn else None,
        group_key=group_key,
        group_labels=group_labels,
    )


def to_alerts(payload: Payload) -> list[Alert]:
    """One alert per alarm notification; ``[]`` for subscription handshakes."""
    if payload.alarm is None:
        return []
    envelope = payload.envelope if isinstance(payload.envelope, Notification) else None
    return [_to_alert(payload.alarm, envelope)]
