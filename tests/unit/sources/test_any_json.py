"""Every adapter, thrown random JSON (hypothesis): it gives normalized alerts or a
PayloadError (a 4xx), never another exception. Two kinds of input: any JSON at all,
and each documented fixture with one part replaced by random JSON (which gets past
the top-level checks, where the bugs hide)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.errors import PayloadError
from receiver.ingest import normalize
from receiver.model import Alert
from receiver.sources import SOURCES

FIXTURES = Path(__file__).parents[2] / "fixtures" / "payloads"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "0", "firing", "resolved", "OK", "ALARM", "1", "{{ 7*7 }}", "\u202e"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def fixtures_of(name: str) -> list[Any]:
    folder = FIXTURES / name
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: replaced(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = replaced(copy[head], rest, value)
    return copy


def check(name: str, data: Any) -> None:
    try:
        body = orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON (an integer past 64 bits): nothing a sender could send
    try:
        alerts = normalize(SOURCES[name], body)
    except PayloadError as exc:
        assert exc.status < 500 and exc.message
        return
    assert all(isinstance(a, Alert) and a.source == name for a in alerts)
    for a in alerts:
        assert a.fingerprint and a.labels and a.group_key, a
        if name not in ("alertmanager", "generic"):  # their senders choose the labels
            assert a.labels.get("alertname"), a


ADAPTERS = sorted(SOURCES)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", ADAPTERS)
@SETTINGS
@given(data=json_values)
def test_any_json_is_alerts_or_a_4xx(name: str, data: Any) -> None:
    check(name, data)


@pytest.mark.parametrize("name", ADAPTERS)
@SETTINGS
@given(choice=st.data(), value=json_values)
def test_documented_bodies_with_a_part_replaced(name: str, choice: Any, value: Any) -> None:
    docs = fixtures_of(name)
    if not docs:
        pytest.skip(f"no fixtures for {name}")
    doc = choice.draw(st.sampled_from(docs))
    path = choice.draw(st.sampled_from(paths(doc)))
    check(name, replaced(doc, path, value))


def test_every_adapter_has_fixtures() -> None:
    missing = [n for n in ADAPTERS if not fixtures_of(n)]
    assert not missing, f"adapters without fixtures under {FIXTURES}: {missing}"
