"""Bad alert posts are refused with a JSON 4xx that says what is wrong, counted in
/metrics, and store nothing; the generic source's documented shape groups as promised."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from receiver.api.app import create_app
from receiver.settings import Settings
from rules import RuleSet
from tests.integration.conftest import body, checkout_payload

JSON = {"Content-Type": "application/json"}


def am(**alert_fields: Any) -> dict[str, Any]:
    """A valid Alertmanager notification whose one alert has these fields replaced."""
    payload = checkout_payload()
    payload["alerts"][0].update(alert_fields)
    return payload


def gen(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"alerts": list(alerts), **extra}


def raw(payload: Any) -> bytes:
    return json.dumps(payload).encode()  # ensure_ascii: "\ud800" travels as an escape


def with_number(token: bytes) -> bytes:
    """A valid notification plus an (ignored) extra key holding ``token``: only the
    number itself is wrong."""
    return b'{"x": ' + token + b", " + body(checkout_payload())[1:]


CHECKOUT = {"alertname": "CheckoutDown", "service": "checkout"}
AM, GEN = "alertmanager", "generic"


def labelled(**labels: Any) -> bytes:
    return raw(am(labels={**CHECKOUT, **labels}))


def top_level(drop: str = "", **fields: Any) -> bytes:
    """A valid notification with these top-level fields replaced and ``drop`` left out."""
    payload = {**checkout_payload(), **fields}
    payload.pop(drop, None)
    return raw(payload)


def generic_labelled(**labels: Any) -> bytes:
    return raw(gen({"labels": labels}))


# case id: (source, body, the field the answer must name)
BAD: dict[str, tuple[str, bytes, str]] = {
    "am-malformed": (AM, b'{"alerts": [', "body"),
    "am-utf8": (AM, body(checkout_payload()).replace(b"is down", b"is \xff"), "body"),
    "am-deep": (AM, b"[" * 100_000, "body"),
    "am-nan": (AM, with_number(b"NaN"), "body"),
    "am-infinity": (AM, with_number(b"-Infinity"), "body"),
    "am-1e400": (AM, with_number(b"1e400"), "body"),
    "am-number-label": (AM, labelled(x=1), "alerts.0.labels.x"),
    "am-null-status": (AM, top_level(status=None), "status"),
    "am-no-group-key": (AM, top_level(drop="groupKey"), "groupKey"),
    "am-version-3": (AM, top_level(version="3"), "version"),
    "am-no-alerts": (AM, top_level(alerts=[]), "alerts"),
    "am-surrogate": (AM, labelled(pod="\ud800"), "alerts.0.labels.pod"),
    "am-surrogate-key": (AM, labelled(**{"\udfff": "x"}), "alerts.0.labels"),
    "am-nul": (AM, labelled(pod="a\u0000b"), "alerts.0.labels.pod"),
    "am-array": (AM, b"[]", "body"),
    "gen-malformed": (GEN, b"{", "body"),
    "gen-utf8": (GEN, b'{"alerts": [{"labels": {"a": "\xc3\x28"}}]}', "body"),
    "gen-deep": (GEN, b"[" * 100_000, "body"),
    "gen-nan": (GEN, b'{"alerts": [{"labels": {"a": NaN}}]}', "body"),
    "gen-number-label": (GEN, generic_labelled(alertname="A", x=1), "alerts.0.labels.x"),
    "gen-no-labels": (GEN, raw(gen({"annotations": {"summary": "s"}})), "alerts.0.labels"),
    "gen-bad-status": (GEN, raw(gen({"labels": CHECKOUT, "status": "up"})), "alerts.0.status"),
    "gen-no-alerts": (GEN, raw(gen()), "alerts"),
    "gen-surrogate": (GEN, generic_labelled(alertname="\ud800"), "alerts.0.labels.alertname"),
    "gen-nul": (GEN, generic_labelled(alertname="A\u0000"), "alerts.0.labels.alertname"),
}


async def metric(client: Any, name: str, **labels: str) -> float:
    """The value of one sample of GET /metrics (0 when absent), parsed as Prometheus text."""
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def accept(client: Any, source: str = "alertmanager", payload: Any = None) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/alerts/{source}", data=raw(payload or checkout_payload()), headers=JSON
    )
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def refused(client: Any, path: str, data: Any, status: int, headers: Any = JSON) -> Any:
    resp = await client.post(path, data=data, headers=headers)
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    answer = json.loads(text)
    assert answer["error"], answer
    return answer


async def only_incident_is(client: Any, incident_id: str) -> None:
    listed = await (await client.get("/api/v1/incidents")).json()
    assert [i["id"] for i in listed["incidents"]] == [incident_id]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["status"] == "open" and len(detail["alerts"]) == 1


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_body_is_400_naming_the_field_counted_and_not_stored(
    client: Any, case: str
) -> None:
    source, data, field = BAD[case]
    before = (await accept(client))["incidents"][0]["id"]
    counted = await metric(client, "triaged_alerts_rejected_total", source=source, reason="invalid")
    answer = await refused(client, f"/api/v1/alerts/{source}", data, 400)
    assert answer["field"] == field, answer
    assert (
        await metric(client, "triaged_alerts_rejected_total", source=source, reason="invalid")
        == counted + 1
    )
    await only_incident_is(client, before)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e400"])
async def test_non_finite_number_is_named_in_the_error(client: Any, token: str) -> None:
    answer = await refused(client, "/api/v1/alerts/alertmanager", with_number(token.encode()), 400)
    assert token in answer["error"]


@pytest.mark.parametrize("source", ["alertmanager", "generic"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_other_content_type_is_415(client: Any, source: str, content_type: str) -> None:
    before = (await accept(client))["incidents"][0]["id"]
    valid = raw(checkout_payload() if source == "alertmanager" else gen({"labels": CHECKOUT}))
    labels = {"source": source, "reason": "content_type"}
    counted = await metric(client, "triaged_alerts_rejected_total", **labels)
    await refused(
        client, f"/api/v1/alerts/{source}", valid, 415, headers={"Content-Type": content_type}
    )
    assert await metric(client, "triaged_alerts_rejected_total", **labels) == counted + 1
    await only_incident_is(client, before)


async def test_unknown_source_is_404_listing_known_sources(client: Any) -> None:
    before = (await accept(client))["incidents"][0]["id"]
    answer = await refused(client, "/api/v1/alerts/nagios", body(checkout_payload()), 404)
    assert {"alertmanager", "generic"} <= set(answer["known"])
    await only_incident_is(client, before)


@pytest.fixture
async def small(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: Any
) -> AsyncIterator[Any]:
    limited = settings.model_copy(update={"max_body_bytes": 2048})
    yield await aiohttp_client(create_app(limited, ruleset))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("source", ["alertmanager", "generic"])
async def test_body_over_the_limit_is_413(small: Any, source: str, chunked: bool) -> None:
    fits = checkout_payload() if source == "alertmanager" else gen({"labels": CHECKOUT})
    before = (await accept(small, source, fits))["incidents"][0]["id"]
    too_big = raw(fits).replace(b'"CheckoutDown"', b'"CheckoutDown' + b"x" * 4096 + b'"')

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(too_big), 512):
            yield too_big[i : i + 512]

    labels = {"source": source, "reason": "too_large"}
    counted = await metric(small, "triaged_alerts_rejected_total", **labels)
    await refused(small, f"/api/v1/alerts/{source}", stream() if chunked else too_big, 413)
    assert await metric(small, "triaged_alerts_rejected_total", **labels) == counted + 1
    await only_incident_is(small, before)


async def test_generic_groups_by_alertname_and_service(client: Any) -> None:
    a = {"labels": {**CHECKOUT, "instance": "a"}}
    b = {"labels": {**CHECKOUT, "instance": "b"}}
    other = {"labels": {"alertname": "CheckoutDown", "service": "payments"}}
    answer = await accept(client, "generic", gen(a, b, other))
    assert answer["alerts"] == 3
    ids = [g["id"] for g in answer["incidents"]]
    assert len(set(ids)) == 2
    by_service = {}
    for incident_id in ids:
        detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
        by_service[detail["labels"]["service"]] = detail
    assert by_service["checkout"]["labels"] == CHECKOUT
    assert sorted(x["labels"]["instance"] for x in by_service["checkout"]["alerts"]) == ["a", "b"]
    assert len(by_service["payments"]["alerts"]) == 1
    # a later post of the same group joins the same incident
    later = await accept(client, "generic", gen({"labels": {**CHECKOUT, "instance": "c"}}))
    assert later["incidents"] == [{"id": by_service["checkout"]["id"], "result": "updated"}]


async def test_generic_explicit_group_by(client: Any) -> None:
    one = {"labels": {"alertname": "DiskFull", "service": "db"}}
    two = {"labels": {"alertname": "DiskFull", "service": "cache"}}
    answer = await accept(client, "generic", gen(one, two, group_by=["alertname"]))
    [incident] = answer["incidents"]
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert detail["labels"] == {"alertname": "DiskFull"}
    assert len(detail["alerts"]) == 2


async def test_generic_fingerprint_is_the_identity_and_resolves(client: Any) -> None:
    first = {"labels": {**CHECKOUT, "value": "1"}, "fingerprint": "chk-1"}
    incident_id = (await accept(client, "generic", gen(first)))["incidents"][0]["id"]
    relabelled = {"labels": {**CHECKOUT, "value": "2"}, "fingerprint": "chk-1"}
    await accept(client, "generic", gen(relabelled))
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert [a["fingerprint"] for a in detail["alerts"]] == ["chk-1"]
    assert detail["status"] == "open"
    resolved = {**relabelled, "status": "resolved"}
    answer = await accept(client, "generic", gen(resolved))
    assert answer["incidents"] == [{"id": incident_id, "result": "resolved"}]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["status"] == "resolved"
    assert detail["alerts"][0]["status"] == "resolved"
