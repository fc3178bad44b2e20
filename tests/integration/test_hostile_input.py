"""The hostile-input table of issue 4: each body gets a clear 4xx naming the problem,
or is stored as the literal text it is; never a 500, and the receiver keeps serving.
Through the real app, Redis and (for the page) a real worker and page receiver."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from tests.integration.conftest import checkout_payload, drained
from tests.integration.test_bad_input import am, raw
from tests.support.page_receiver import PageReceiver

JSON = {"Content-Type": "application/json"}
CHECKOUT = {"alertname": "CheckoutDown", "service": "checkout"}


async def post(
    client: Any, data: bytes, headers: dict[str, str] | None = None, source: str = "alertmanager"
) -> tuple[int, Any]:
    resp = await client.post(f"/api/v1/alerts/{source}", data=data, headers=headers or JSON)
    text = await resp.text()
    assert resp.content_type == "application/json", text
    return resp.status, json.loads(text)


async def still_serving(client: Any) -> None:
    status, answer = await post(client, raw(checkout_payload()))
    assert status == 202, answer


# case: (body, headers, expected status, the field the answer names)
REFUSED: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    "gzip-bomb": (
        gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9),
        {**JSON, "Content-Encoding": "gzip"},
        413,
        "body",
    ),
    "10-mib-body": (b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}', JSON, 413, "body"),
    "10000-labels": (
        raw(am(labels={**CHECKOUT, **{f"l{i}": "v" for i in range(10_000)}})),
        JSON,
        400,
        "alerts.0.labels",
    ),
    "nul-in-label-name": (
        raw(am(labels={**CHECKOUT, "a\u0000b": "v"})),
        JSON,
        400,
        "alerts.0.labels",
    ),
    "number-as-label-value": (
        raw(am(labels={**CHECKOUT, "port": 443})),
        JSON,
        400,
        "alerts.0.labels.port",
    ),
    "unknown-version": (raw({**checkout_payload(), "version": "5"}), JSON, 400, "version"),
    "wrong-media-type": (
        raw(checkout_payload()),
        {"Content-Type": "text/html"},
        415,
        "Content-Type",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_hostile_bodies_are_refused_naming_the_problem(client: Any, case: str) -> None:
    data, headers, status, field = REFUSED[case]
    got, answer = await post(client, data, headers)
    assert got == status, answer
    assert answer["error"] and answer["field"] == field, answer
    await still_serving(client)


async def test_gzip_body_within_the_limit_is_accepted(client: Any) -> None:
    status, answer = await post(
        client, gzip.compress(raw(checkout_payload())), {**JSON, "Content-Encoding": "gzip"}
    )
    assert status == 202, answer


STORED_LITERALLY = {
    "crlf": "line one\r\n2026-11-26 ERROR forged log line",
    "rtl-mark": "gnp.exe\u202etxt",
    "jinja": "{{ 7*7 }} {% for x in y %}{{ x }}{% endfor %}",
    "format": "%s %(secret)s {0} ${HOME}",
}


@pytest.mark.parametrize("case", sorted(STORED_LITERALLY))
async def test_odd_text_is_stored_and_paged_as_the_literal_text_it_is(
    client: Any,
    work: Any,
    pages: PageReceiver,
    redis_client: Any,
    case: str,
) -> None:
    text = STORED_LITERALLY[case]
    payload = am(labels={**CHECKOUT, "note": text}, annotations={"summary": text})
    status, answer = await post(client, raw(payload))
    assert status == 202, answer
    incident_id = answer["incidents"][0]["id"]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["alerts"][0]["labels"]["note"] == text
    assert detail["summary"] == text
    await drained(redis_client)
    work()
    [page] = pages.requests("/primary")
    assert page.json["summary"] == text  # the page carries the group's labels, not "note"
    assert "49" not in page.json["summary"]


async def test_duplicate_keys_and_unknown_fields(client: Any) -> None:
    # duplicate keys: the last one counts (as in JSON parsers generally); stored safely
    dup = raw(checkout_payload()).replace(b'"labels": {', b'"labels": {"service": "decoy", ', 1)
    status, answer = await post(client, dup)
    assert status == 202, answer
    detail = await (await client.get(f"/api/v1/incidents/{answer['incidents'][0]['id']}")).json()
    assert detail["alerts"][0]["labels"]["service"] == "checkout"
    # Alertmanager adds fields between versions: ignored; generic is triaged's own: refused
    status, answer = await post(client, raw({**checkout_payload(), "newField": {"a": 1}}))
    assert status == 202, answer
    body = raw({"alerts": [{"labels": CHECKOUT}], "extra": 1})
    status, answer = await post(client, body, source="generic")
    assert status == 400 and answer["field"] == "extra", answer


async def test_alerts_alertmanager_left_out_are_recorded_and_counted(client: Any) -> None:
    payload = {**checkout_payload(), "truncatedAlerts": 7}
    status, answer = await post(client, raw(payload))
    assert status == 202, answer
    incident_id = answer["incidents"][0]["id"]
    again, _ = await post(client, raw(payload))  # Alertmanager's repeat: nothing new
    assert again == 202
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    notes = [e["detail"] for e in detail["timeline"] if e["kind"] == "alerts_truncated"]
    assert notes == [
        "the sender left 7 alerts out of this notification (its max_alerts); they are not stored"
    ]
    text = await (await client.get("/metrics")).text()
    assert 'triaged_alerts_truncated_total{source="alertmanager"} 7.0' in text
