"""Sender authentication, rate limits, safe log lines and field mappings: the pure parts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from receiver.auth import Authenticator, Credentials, SecretUnavailable
from receiver.logsafe import SafeFormatter, escape
from receiver.ratelimit import TokenBucket
from receiver.sources.mapped import MappedSource
from rules.sources import FieldMapping, SourceAuth

NOW = 1_790_000_000.0
ENV = {"OLD": "old-secret", "NEW": "new-secret"}


def auth(config: dict[str, object], environ: dict[str, str] = ENV) -> Authenticator:
    return Authenticator.load(SourceAuth.model_validate(config), environ)


def offer(
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes = b"{}",
    now: float = NOW,
) -> Credentials:
    return Credentials(headers or {}, query or {}, body, now)


BEARER = {"bearer": {"tokens": [{"env": "OLD"}, {"env": "NEW"}]}}


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer old-secret", True),  # rotation: the old token still passes...
        ("Bearer new-secret", True),  # ...beside the new one
        ("bearer new-secret", True),
        ("Bearer wrong", False),
        ("Bearer ", False),
        ("Basic new-secret", False),
        ("new-secret", False),
        ("Bearer new-secret-and-more", False),
        ("Bearer \udcff", False),  # non-UTF-8 bytes as aiohttp hands them over: no crash
    ],
)
def test_bearer(header: str, ok: bool) -> None:
    assert auth(BEARER).check(offer({"Authorization": header})) is ok


def test_missing_header_fails() -> None:
    assert not auth(BEARER).check(offer())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (_basic("sns", "old-secret"), True),
        (_basic("sns", "new-secret"), True),
        (_basic("other", "new-secret"), False),
        (_basic("sns", "wrong"), False),
        ("Basic !!!not-base64", False),
        ("Bearer new-secret", False),
    ],
)
def test_basic(header: str, ok: bool) -> None:
    config = {"basic": {"username": "sns", "passwords": [{"env": "OLD"}, {"env": "NEW"}]}}
    assert auth(config).check(offer({"Authorization": header})) is ok


def test_query_token_with_rotation() -> None:
    a = auth({"query_token": {"param": "key", "tokens": [{"env": "OLD"}, {"env": "NEW"}]}})
    assert a.check(offer(query={"key": "old-secret"}))
    assert a.check(offer(query={"key": "new-secret"}))
    assert not a.check(offer(query={"key": "nope"}))
    assert not a.check(offer(query={"token": "new-secret"}))  # another parameter
    assert not a.check(offer())


def _sign(secret: str, body: bytes, stamp: str | None = None) -> str:
    signed = body if stamp is None else stamp.encode() + b":" + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


HMAC_TS = {
    "hmac": {
        "secrets": [{"env": "OLD"}, {"env": "NEW"}],
        "timestamp_header": "X-Grafana-Alerting-Timestamp",
    }
}
SIG, TS = "X-Grafana-Alerting-Signature", "X-Grafana-Alerting-Timestamp"


def test_grafana_hmac_with_timestamp() -> None:
    a = auth(HMAC_TS)
    body = b'{"status":"firing"}'
    stamp = str(int(NOW) - 60)
    assert a.check(offer({SIG: _sign("new-secret", body, stamp), TS: stamp}, body=body))
    assert a.check(offer({SIG: _sign("old-secret", body, stamp), TS: stamp}, body=body))
    # another body, another secret, no signature
    assert not a.check(offer({SIG: _sign("new-secret", body, stamp), TS: stamp}, body=b"{}"))
    assert not a.check(offer({SIG: _sign("other", body, stamp), TS: stamp}, body=body))
    assert not a.check(offer({TS: stamp}, body=body))
    # the timestamp is part of what is signed: another one fails
    later = str(int(NOW) - 59)
    assert not a.check(offer({SIG: _sign("new-secret", body, stamp), TS: later}, body=body))


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_grafana_hmac_refuses_timestamps_over_five_minutes_off(offset: int) -> None:
    body = b"{}"
    stamp = str(int(NOW) + offset)
    signed = offer({SIG: _sign("new-secret", body, stamp), TS: stamp}, body=body)
    assert not auth(HMAC_TS).check(signed)


@pytest.mark.parametrize("stamp", ["", "abc", "١٢٣", "99999999999999", "-5"])
def test_grafana_hmac_refuses_bad_timestamps(stamp: str) -> None:
    body = b"{}"
    signed = offer({SIG: _sign("new-secret", body, stamp), TS: stamp}, body=body)
    assert not auth(HMAC_TS).check(signed)


def test_grafana_hmac_without_timestamp_signs_the_body() -> None:
    a = auth({"hmac": {"secrets": [{"env": "NEW"}]}})
    assert a.check(offer({SIG: _sign("new-secret", b"{}")}))
    assert a.check(offer({SIG: _sign("new-secret", b"{}").upper()}))
    assert not a.check(offer({SIG: _sign("new-secret", b"{ }")}))


def test_secrets_come_from_files_and_missing_ones_are_named(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    a = auth({"bearer": {"tokens": [{"file": str(secret)}]}}, {})
    assert a.check(offer({"Authorization": "Bearer from-a-file"}))
    with pytest.raises(SecretUnavailable, match="environment variable MISSING"):
        auth({"bearer": {"tokens": [{"env": "MISSING"}]}}, {})
    with pytest.raises(SecretUnavailable, match="empty"):
        auth({"bearer": {"tokens": [{"env": "EMPTY"}]}}, {"EMPTY": ""})
    with pytest.raises(SecretUnavailable, match="nope"):
        auth({"bearer": {"tokens": [{"file": str(tmp_path / "nope")}]}}, {})


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)  # the next token in half a second
    now[0] = 0.5
    assert bucket.take() == 0.0
    now[0] = 100.0  # saved up: never more than the burst
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]


def test_log_lines_cannot_be_forged() -> None:
    assert escape("db\r\n2026-01-01 ERROR forged") == "db\\r\\n2026-01-01 ERROR forged"
    assert escape("a\u202eb\u2028c\x1b[31m") == "a\\u202eb\\u2028c\\u001b[31m"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "label %s", ("x\ny",), None)
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO label x\\ny"


MAPPING = FieldMapping.model_validate(
    {
        "alerts": "events",
        "labels": {"alertname": "name", "service": "tags.service", "severity": "level"},
        "label_objects": ["tags"],
        "annotations": {"summary": "message"},
        "status": {"path": "state", "resolved": ["OK", "closed"]},
        "fingerprint": ["id"],
        "starts_at": "created",
    }
)


def test_mapping_turns_any_json_into_alerts() -> None:
    source = MappedSource("my-tool", MAPPING)
    body = {
        "events": [
            {
                "id": 7,
                "name": "QueueBacklog",
                "level": "High",
                "state": "alerting",
                "message": "{{ 7*7 }} jobs waiting",
                "created": "2026-11-26T10:00:00Z",
                "tags": {"service": "billing", "Team Name": "core", "alertname": "spoof"},
            },
            {"id": 7, "name": "QueueBacklog", "state": "ok", "tags": {"service": "billing"}},
        ]
    }
    firing, resolved = source.to_alerts(source.payload.model_validate(body))
    assert firing.labels == {
        "alertname": "QueueBacklog",
        "service": "billing",
        "severity": "High",
        "team_name": "core",
    }
    assert firing.annotations["summary"] == "{{ 7*7 }} jobs waiting"  # literal text
    assert (firing.status.value, resolved.status.value) == ("firing", "resolved")
    assert firing.fingerprint == resolved.fingerprint
    assert firing.group_key == resolved.group_key
    assert firing.starts_at == "2026-11-26T10:00:00Z"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"other": []}, ("events",)),
        ({"events": []}, ("events",)),
        ({"events": ["text"]}, ("events", 0)),
        ({"events": [{"id": 1}]}, ("events", 0, "name")),
    ],
)
def test_mapping_refuses_bodies_naming_where(body: object, where: tuple[object, ...]) -> None:
    source = MappedSource("my-tool", MAPPING)
    with pytest.raises(ValidationError) as info:
        source.to_alerts(source.payload.model_validate(body))
    assert info.value.errors()[0]["loc"] == where


def test_access_log_lines_lose_their_query_string() -> None:
    from receiver.logsafe import RedactQuery

    line = '127.0.0.1 "POST /api/v1/alerts/azure-monitor?token=s3cret&x=1 HTTP/1.1" 202'
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, "%s", (line,), None)
    assert RedactQuery().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "/api/v1/alerts/azure-monitor?(query not logged) HTTP/1.1" in record.getMessage()
