"""Pure receiver pieces: signed ack links, stats fields, fingerprints."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from receiver import acklink, stats
from receiver.fingerprint import fingerprint, group_id

KEY = b"k" * 32


def _parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    _, _, incident, contact = split.path.split("/")
    q = parse_qs(split.query)
    return incident, contact, q["exp"][0], q["sig"][0]


def test_ack_link_round_trip_and_refusals() -> None:
    url = acklink.make_url("https://triaged.example/", KEY, "abc123", "primary-oncall", now=1000)
    assert url.startswith("https://triaged.example/ack/abc123/primary-oncall?")
    incident, contact, exp, sig = _parts(url)
    assert acklink.verify(KEY, incident, contact, exp, sig, now=1001) == ""
    assert acklink.verify(KEY, "other", contact, exp, sig, now=1001) == "bad signature"
    assert acklink.verify(KEY, incident, "someone-else", exp, sig, now=1001) == "bad signature"
    assert acklink.verify(b"other-key", incident, contact, exp, sig, now=1001) == "bad signature"
    assert acklink.verify(KEY, incident, contact, str(int(exp) + 1), sig, 1001) == "bad signature"
    assert acklink.verify(KEY, incident, contact, exp, sig, now=int(exp) + 1) == "expired"
    assert acklink.verify(KEY, incident, contact, "soon", sig, now=1001) == "bad signature"


def test_histogram_observation_is_cumulative() -> None:
    incs = dict(stats.observe("triaged_time_to_first_page_seconds", 0.3, severity="SEV-1"))
    buckets = {stats.parse(f)[1]["le"]: v for f, v in incs.items() if "_bucket" in f}
    assert "0.25" not in buckets and buckets["0.5"] == 1 and buckets["+Inf"] == 1
    total = [v for f, v in incs.items() if stats.parse(f)[0].endswith("_sum")]
    assert total == [0.3]


def test_stats_refuse_undeclared_labels() -> None:
    with pytest.raises(ValueError):
        stats.count("triaged_pages_total", channel="webhook")
    with pytest.raises(ValueError):
        stats.observe("triaged_pages_total", 1.0, channel="webhook", outcome="sent")


def test_fingerprint_is_order_independent_and_group_ids_differ_by_source() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "b": ""})
    assert group_id("alertmanager", "k") != group_id("generic", "k")


def test_generic_group_keys_cannot_collide_through_quotes() -> None:
    from receiver.fingerprint import label_group_key

    by = ("alertname", "service")
    a = label_group_key({"alertname": 'x",service="y', "service": ""}, by)
    b = label_group_key({"alertname": "x", "service": 'y",service="'}, by)
    assert a != b
