"""The file-format models: forms the YAML may take, and what they refuse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rules.schema import (
    BusinessHours,
    Contact,
    EscalationStep,
    HttpProbe,
    LogChannel,
    ProbeSpec,
    RuleFile,
    SeverityPolicy,
    WebhookChannel,
)


@pytest.mark.parametrize(
    ("channel", "kind", "cls"),
    [
        ({"log": {}}, "log", LogChannel),
        ({"log": None}, "log", LogChannel),  # "- log:" with nothing after it
        ({"log": {"level": "info"}}, "log", LogChannel),
        ({"webhook": "http://127.0.0.1:9001/page"}, "webhook", WebhookChannel),
        ({"webhook": "https://example.com/p", "timeout": "3s"}, "webhook", WebhookChannel),
    ],
)
def test_channel_forms(channel: dict[str, Any], kind: str, cls: type) -> None:
    contact = Contact.model_validate({"role": "r", "channels": [channel]})
    assert type(contact.channels[0]) is cls
    assert contact.channels[0].kind == kind


def test_channel_defaults() -> None:
    contact = Contact.model_validate(
        {"role": "r", "channels": [{"log": {}}, {"webhook": "http://h/"}]}
    )
    log, hook = contact.channels
    assert isinstance(log, LogChannel) and log.log.level == "warning"
    assert isinstance(hook, WebhookChannel) and hook.timeout == timedelta(seconds=10)


@pytest.mark.parametrize(
    "url", ["ftp://h/p", "http://", "127.0.0.1:9001/page", "mailto:a@b", " http://h/"]
)
def test_webhook_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        WebhookChannel(webhook=url)


def test_log_level_is_checked() -> None:
    with pytest.raises(ValidationError):
        LogChannel.model_validate({"log": {"level": "debug"}})


def test_http_probe_defaults() -> None:
    probe = ProbeSpec.model_validate({"http": {"url": "http://h/health"}}).spec
    assert (probe.method, probe.expect_status, probe.timeout, probe.body_contains) == (
        "GET",
        None,
        timedelta(seconds=2),
        None,
    )
    assert probe.kind == "http"


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "http://h/", "method": "PUT"},
        {"url": "http://h/", "expect_status": 99},
        {"url": "http://h/", "expect_status": "200"},
        {"url": "http://h/", "timeout": "0s"},
        {"url": "file:///etc/passwd"},
    ],
)
def test_http_probe_refuses(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HttpProbe.model_validate(fields)


def test_probe_spec_needs_one_kind() -> None:
    with pytest.raises(ValidationError, match="exactly one of the keys: http"):
        ProbeSpec.model_validate({})
    with pytest.raises(ValidationError, match="Extra inputs"):
        ProbeSpec.model_validate({"smtp": {"host": "h", "port": 25}})
    with pytest.raises(ValidationError, match="exactly one of the keys"):
        ProbeSpec.model_validate({"tcp": {"host": "h", "port": 1}, "dns": {"name": "h"}})


@pytest.mark.parametrize(("after", "expected"), [(0, 0), ("0", 0), ("0s", 0), ("90s", 90)])
def test_escalation_after(after: Any, expected: int) -> None:
    step = EscalationStep.model_validate({"after": after, "notify": ["x"]})
    assert step.after == timedelta(seconds=expected)


def test_escalation_after_defaults_to_zero_and_needs_someone() -> None:
    assert EscalationStep(notify=["x"]).after == timedelta(0)
    with pytest.raises(ValidationError):
        EscalationStep(notify=[])
    with pytest.raises(ValidationError, match="invalid duration"):
        EscalationStep.model_validate({"after": 5, "notify": ["x"]})


def test_severity_policy() -> None:
    policy = SeverityPolicy.model_validate({"response_time": "15m", "page": "immediately"})
    assert policy.response_timedelta == timedelta(minutes=15)
    assert (policy.repeat, policy.diagnosis_budget) == (0, None)
    sprint = SeverityPolicy.model_validate({"response_time": "next_sprint", "page": "never"})
    assert sprint.response_timedelta is None
    with pytest.raises(ValidationError):
        SeverityPolicy.model_validate({"response_time": "1h", "page": "now"})
    with pytest.raises(ValidationError):
        SeverityPolicy.model_validate({"response_time": "1h", "page": "never", "repeat": -1})


@pytest.mark.parametrize(
    "fields",
    [
        {"timezone": "Europe/Londres"},
        {"timezone": ""},
        {"start": 540},  # YAML reads an unquoted 09:00 as 540
        {"start": "9:00"},
        {"end": "24:00"},
        {"days": []},
        {"days": ["monday"]},
        {"start": "18:00", "end": "09:00"},
        {"holidays": ["Christmas"]},
    ],
)
def test_business_hours_refuses(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BusinessHours.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"start": 540},
            'expected a time "HH:MM" in quotes, got 540 '
            "(YAML reads an unquoted 9:00 as a number: quote it)",
        ),
        ({"end": "24:00"}, "'24:00' is not a time of day: hours 00-23, minutes 00-59"),
        ({"start": "9:00"}, "expected a time \"HH:MM\" in quotes, got '9:00'"),
    ],
)
def test_business_hours_time_messages(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        BusinessHours.model_validate(fields)
    assert [e["msg"] for e in info.value.errors()] == [message]


def test_models_are_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        RuleFile.model_validate({"rule": []})
    hours = BusinessHours()
    with pytest.raises(ValidationError):
        hours.start = "08:00"  # type: ignore[misc]


def test_empty_sections_are_allowed() -> None:
    empty = RuleFile.model_validate({"rules": None, "contacts": None, "probes": None})
    assert (empty.rules, empty.contacts, empty.probes) == ([], {}, {})
