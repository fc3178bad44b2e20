"""CloudWatch-through-SNS adapter against the samples in fixtures/payloads/cloudwatch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from receiver.model import Alert, AlertStatus
from receiver.sources import cloudwatch

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads" / "cloudwatch"
ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-api-high-cpu"
GROUP_KEY = '[["alertname","prod-api-high-cpu"],["region","eu-west-1"],["account","123456789012"]]'


def body(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def alerts(data: dict[str, Any]) -> list[Alert]:
    return cloudwatch.to_alerts(cloudwatch.Payload.model_validate(data))


def with_message(case: str, **changes: Any) -> dict[str, Any]:
    """A notification fixture whose alarm JSON (``Message``) has ``changes`` applied."""
    data = body(case)
    message = json.loads(data["Message"])
    message.update(changes)
    data["Message"] = json.dumps(message)
    return data


def fields_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [".".join(str(p) for p in err["loc"]) for err in exc.value.errors()]


def test_alarm_fires() -> None:
    [alert] = alerts(body("notification_alarm"))
    assert alert.source == "cloudwatch"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == cloudwatch.stable_id(ARN)
    assert alert.labels == {
        "alertname": "prod-api-high-cpu",
        "state": "alarm",
        "region": "eu-west-1",
        "account": "123456789012",
        "namespace": "AWS/EC2",
        "metric": "CPUUtilization",
        "instance_id": "i-0abc123def4567890",
    }
    assert "severity" not in alert.labels and "priority" not in alert.labels
    assert alert.summary == "ALARM: prod-api-high-cpu in EU (Ireland)"
    assert alert.annotations["description"].startswith("CPU of the prod API")
    assert alert.annotations["reason"].startswith("Threshold Crossed: 2 out of the last 2")
    assert alert.annotations["threshold"] == "GreaterThanThreshold 80.0"
    assert alert.annotations["region_name"] == "EU (Ireland)"
    assert alert.annotations["topic_arn"] == "arn:aws:sns:eu-west-1:123456789012:cloudwatch-alarms"
    assert alert.starts_at == "2026-03-02T10:15:30.402000+00:00"
    assert alert.ends_at is None
    assert alert.generator_url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/deeplink.js"
        "?region=eu-west-1#alarmsV2:alarm/prod-api-high-cpu"
    )
    assert alert.group_key == GROUP_KEY
    assert alert.group_labels == {
        "alertname": "prod-api-high-cpu",
        "region": "eu-west-1",
        "account": "123456789012",
    }


def test_ok_resolves_the_same_alert() -> None:
    [firing] = alerts(body("notification_alarm"))
    [resolved] = alerts(body("notification_ok"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.labels["state"] == "ok"
    assert resolved.summary == "OK: prod-api-high-cpu in EU (Ireland)"
    assert resolved.ends_at == "2026-03-02T10:45:31.118000+00:00"
    assert resolved.starts_at is None
    assert (resolved.fingerprint, resolved.group_key) == (firing.fingerprint, firing.group_key)


def test_insufficient_data_fires_with_its_state() -> None:
    [firing] = alerts(body("notification_alarm"))
    [silent] = alerts(body("notification_insufficient_data"))
    assert silent.status is AlertStatus.FIRING
    assert silent.labels["state"] == "insufficient_data"
    assert silent.annotations["old_state"] == "ALARM"
    assert (silent.fingerprint, silent.group_key) == (firing.fingerprint, firing.group_key)


def test_raw_message_delivery_is_the_same_alert() -> None:
    payload = cloudwatch.Payload.model_validate(body("raw_alarm"))
    assert payload.envelope is None
    assert cloudwatch.sns_message(payload) is None  # nothing signed to verify
    [raw] = cloudwatch.to_alerts(payload)
    [enveloped] = alerts(body("notification_alarm"))
    assert raw.status is AlertStatus.FIRING
    assert raw.labels == enveloped.labels
    assert (raw.fingerprint, raw.group_key) == (enveloped.fingerprint, enveloped.group_key)
    assert "topic_arn" not in raw.annotations


@pytest.mark.parametrize("case", ["subscription_confirmation", "unsubscribe_confirmation"])
def test_handshakes_store_nothing(case: str) -> None:
    assert alerts(body(case)) == []


def test_sns_message_for_the_handshake() -> None:
    data = body("subscription_confirmation")
    message = cloudwatch.sns_message(cloudwatch.Payload.model_validate(data))
    assert message is not None
    assert message.type == cloudwatch.SUBSCRIPTION_CONFIRMATION
    assert message.topic_arn == "arn:aws:sns:eu-west-1:123456789012:cloudwatch-alarms"
    assert message.subscribe_url == data["SubscribeURL"]
    assert message.message_id == data["MessageId"]
    assert dict(message.fields) == data  # every field, exactly as sent


def test_sns_message_for_a_notification() -> None:
    data = body("notification_alarm")
    message = cloudwatch.sns_message(cloudwatch.Payload.model_validate(data))
    assert message is not None
    assert message.type == cloudwatch.NOTIFICATION
    assert message.subscribe_url is None
    assert dict(message.fields) == data
    assert message.fields["Message"] == data["Message"]  # the JSON string, not re-encoded


def test_metric_math_alarm_reads_its_first_metric() -> None:
    [alert] = alerts(body("notification_metric_math"))
    assert alert.labels["alertname"] == "orders-db-error-rate"
    assert alert.labels["region"] == "us-east-1"
    assert alert.labels["namespace"] == "Custom/Orders"
    assert alert.labels["metric"] == "Errors"
    assert alert.labels["db_instance_identifier"] == "orders"
    assert "description" not in alert.annotations  # AlarmDescription is null


def test_composite_alarm_has_no_metric() -> None:
    [alert] = alerts(body("notification_composite"))
    assert alert.labels == {
        "alertname": "checkout-unhealthy",
        "state": "alarm",
        "region": "us-east-1",
        "account": "210987654321",
    }
    assert (
        alert.annotations["alarm_rule"] == 'ALARM("checkout-latency") OR ALARM("checkout-errors")'
    )


def test_without_arn_identity_is_account_region_name() -> None:
    data = body("raw_alarm")
    del data["AlarmArn"]
    [alert] = alerts(data)
    assert alert.fingerprint == cloudwatch.stable_id(
        "123456789012", "EU (Ireland)", data["AlarmName"]
    )
    assert alert.labels["region"] == "EU (Ireland)"  # no ARN: the display name is all there is
    assert alert.generator_url is None


def test_dimensions_never_overwrite_own_labels() -> None:
    data = body("raw_alarm")
    data["Trigger"]["Dimensions"] = [
        {"name": "AlarmName", "value": "spoofed"},
        {"name": "State", "value": "ok"},
        {"name": "AutoScalingGroupName", "value": "api-asg"},
    ]
    [alert] = alerts(data)
    assert alert.labels["alertname"] == "prod-api-high-cpu"
    assert alert.labels["state"] == "alarm"
    assert alert.labels["auto_scaling_group_name"] == "api-asg"


def test_bad_message_names_message() -> None:
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(body("bad_message"))
    assert fields_of(exc) == ["Message"]
    assert "not a CloudWatch alarm" in exc.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    "message",
    [
        '{"Type": "Notification"}',
        "[1, 2]",
        '"ALARM"',
        '{"AlarmName": "x\\u0000", "NewStateValue": "OK"}',
    ],
)
def test_non_alarm_message_names_message(message: str) -> None:
    data = body("notification_alarm") | {"Message": message}
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(data)
    assert fields_of(exc)[0].startswith("Message")


def test_bad_state_names_the_field_inside_message() -> None:
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(with_message("notification_alarm", NewStateValue="RED"))
    assert fields_of(exc) == ["Message.NewStateValue"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"Type": "Publish", "Message": "{}"}, "Type"),
        ({"NewStateValue": "ALARM"}, "AlarmName"),
        ({"AlarmName": "x", "NewStateValue": "ALARM", "AlarmDescription": 7}, "AlarmDescription"),
    ],
)
def test_invalid_bodies_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(data)
    assert field in fields_of(exc)


def test_envelope_without_message_id_names_it() -> None:
    data = body("notification_alarm")
    del data["MessageId"]
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(data)
    assert fields_of(exc) == ["MessageId"]


def test_confirmation_without_subscribe_url_names_it() -> None:
    data = body("subscription_confirmation")
    del data["SubscribeURL"]
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate(data)
    assert fields_of(exc) == ["SubscribeURL"]


def test_an_envelope_cannot_be_smuggled_in_a_raw_body() -> None:
    with pytest.raises(ValidationError) as exc:
        cloudwatch.Payload.model_validate({"envelope": None, "alarm": {"AlarmName": "x"}})
    assert "AlarmName" in fields_of(exc)


# any text JSON can carry but NUL (refused at the edge, and inside Message too)
_chars = st.characters(codec="utf-8", exclude_characters="\x00")
_text = st.text(_chars, max_size=40)
_alarm = st.fixed_dictionaries(
    {
        "AlarmName": st.text(_chars, min_size=1, max_size=40),
        "NewStateValue": st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]),
    },
    optional={
        "AlarmArn": _text,
        "Region": _text,
        "AWSAccountId": st.text(_chars, max_size=32),  # the model bounds it at 32
        "StateChangeTime": _text,
        "AlarmDescription": st.none() | _text,
        "Trigger": st.fixed_dictionaries(
            {},
            optional={
                "MetricName": _text,
                "Namespace": _text,
                "Threshold": st.floats(allow_nan=False, allow_infinity=False),
                "Dimensions": st.lists(
                    st.fixed_dictionaries({"name": _text, "value": _text}), max_size=4
                ),
            },
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(alarm=_alarm, enveloped=st.booleans())
def test_any_valid_alarm_translates(alarm: dict[str, Any], enveloped: bool) -> None:
    data = body("notification_alarm") | {"Message": json.dumps(alarm)} if enveloped else alarm
    [alert] = alerts(data)
    assert alert.labels["alertname"] == alarm["AlarmName"]
    assert alert.status is (
        AlertStatus.RESOLVED if alarm["NewStateValue"] == "OK" else AlertStatus.FIRING
    )
