"""The prometheus probe: label values escaped into PromQL strings (never able to
close one), and the probe against a local aiohttp server that emulates the
Prometheus HTTP API (``/api/v1/query``: success / error envelopes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from rules.probes import PrometheusProbe
from workers.probes import prometheus
from workers.probes.base import Outcome, ProbeContext, ProbeResult
from workers.probes.prometheus import QueryRefused, escape, fill_query
from workers.probes.targets import MissingLabel

ERRORS_5XX = 'rate(http_requests_total{service="{service}",code=~"5.."}[5m])'


def lex_string(text: str, start: int) -> tuple[str, int]:
    """Read a PromQL quoted string at ``text[start]`` as the PromQL lexer does
    (Go escapes): (its value, the index just past its closing quote)."""
    quote, i, out = text[start], start + 1, []
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while text[i] != quote:
        assert text[i] != "\n", "a raw newline ends a PromQL string: the query would not parse"
        if text[i] == "\\":
            code = text[i + 1]
            if code == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            assert code in simple and (code not in "\"'" or code == quote), f"bad escape \\{code}"
            out.append(simple[code])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


@given(st.text(), st.sampled_from(['"', "'"]))
def test_an_escaped_value_stays_inside_its_string_and_reads_back_the_same(
    value: str, quote: str
) -> None:
    query = f"up{{service={quote}{escape(value, quote)}{quote}}} == 0"
    read, end = lex_string(query, len("up{service="))
    assert read == value
    assert query[end:] == "} == 0"


def test_placeholders_are_filled_escaped_and_only_inside_quoted_strings() -> None:
    labels = {"service": "checkout", "evil": '"} or vector(1) #', "path": "C:\\tmp\nx"}
    assert fill_query(ERRORS_5XX, labels) == (
        'rate(http_requests_total{service="checkout",code=~"5.."}[5m])'
    )
    assert fill_query('up{service="{evil}"}', labels) == r'up{service="\"} or vector(1) #"}'
    assert fill_query("up{path='{path}'}", labels) == r"up{path='C:\\tmp\nx'}"
    # the SRE's own escapes are kept, and a quote inside them does not end the string
    assert fill_query(r'up{a="x\"{service}"}', labels) == r'up{a="x\"checkout"}'
    # PromQL braces and regex repetitions are not placeholders
    assert fill_query('up{job=~"a{2}"} # {3}', labels) == 'up{job=~"a{2}"} # {3}'
    commented = 'up # a # "\nor up{a="{service}"}'
    assert fill_query(commented, labels) == 'up # a # "\nor up{a="checkout"}'
    for bare in ("up{service}", "up{a=`{service}`}", 'up{a="x"} # {service}', "{service}"):
        with pytest.raises(QueryRefused, match="not inside a quoted PromQL string"):
            fill_query(bare, labels)
    with pytest.raises(MissingLabel, match="no region label"):
        fill_query('up{region="{region}"}', labels)
    with pytest.raises(QueryRefused, match="not valid UTF-8"):
        fill_query('up{service="{service}"}', {"service": "a\ud800b"})


@dataclass
class Emulator:
    """``/api/v1/query`` of a Prometheus: answers ``reply`` and records each query."""

    port: int = 0
    reply: tuple[int, Any] = (200, {"status": "success", "data": {}})
    queries: list[dict[str, str]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def vector(self, *series: tuple[dict[str, str], str]) -> None:
        result = [{"metric": m, "value": [1767225600.123, v]} for m, v in series]
        data = {"resultType": "vector", "result": result}
        self.reply = (200, {"status": "success", "data": data})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def prom(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]],
) -> AsyncIterator[Emulator]:
    found = Emulator()

    async def query(request: web.Request) -> web.StreamResponse:
        found.queries.append(dict(request.query))
        found.hosts.append(request.headers["Host"])
        if found.hang:
            await found.release.wait()  # until the test ends: a Prometheus that never answers
        status, body = found.reply
        if isinstance(body, bytes | str):
            return web.Response(status=status, body=body, content_type="text/plain")
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    server = await aiohttp_server(app)
    found.port = server.port
    yield found
    found.release.set()


def spec(url: str, query: str = ERRORS_5XX, **fields: Any) -> PrometheusProbe:
    fields = {"url": url, "query": query, "failed_if": {"op": ">", "value": 0.05}, **fields}
    return PrometheusProbe.model_validate(fields)


async def probe(probe_spec: PrometheusProbe, **labels: str) -> ProbeResult:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        ctx = ProbeContext(labels=labels, http=client)
        return await prometheus.run("checkout-5xx", probe_spec, ctx)


async def test_healthy_series_are_ok_and_the_query_arrives_exactly(prom: Emulator) -> None:
    prom.vector(
        ({"service": "checkout", "code": "500"}, "0.01"),
        ({"service": "checkout", "code": "503"}, "0.004"),
    )
    result = await probe(spec(prom.url + "/"), service="checkout")
    assert (result.outcome, result.detail) == (Outcome.OK, "0 of 2 series > 0.05; max 0.01")
    assert prom.queries == [
        {
            "query": 'rate(http_requests_total{service="checkout",code=~"5.."}[5m])',
            "timeout": "3000ms",
        }
    ]
    assert prom.hosts == [f"127.0.0.1:{prom.port}"]


async def test_a_label_value_cannot_close_the_string_and_add_promql(prom: Emulator) -> None:
    prom.vector()
    evil = '"} or vector(1) #'
    result = await probe(spec(prom.url, 'up{service="{service}"} == 0'), service=evil)
    assert (result.outcome, result.detail) == (Outcome.OK, "no series")
    [sent] = prom.queries
    assert sent["query"] == r'up{service="\"} or vector(1) #"} == 0'
    value, end = lex_string(sent["query"], len("up{service="))
    assert value == evil and sent["query"][end:] == "} == 0"


async def test_samples_over_the_threshold_fail_naming_the_worst(prom: Emulator) -> None:
    job = {"__name__": "job:errors:ratio", "job": "api"}
    prom.vector(({**job, "service": "checkout"}, "0.31"), ({**job, "service": "cart"}, "0.01"))
    one = await probe(spec(prom.url), service="checkout")
    assert one.outcome is Outcome.FAILED
    assert one.detail == "service=checkout: 0.31 > 0.05 (1 of 2 series)"
    prom.vector(*[({"pod": f"api-{n}"}, str(n / 10)) for n in range(1, 7)])
    many = await probe(spec(prom.url), service="checkout")
    assert many.detail == (
        "pod=api-6: 0.6 > 0.05; pod=api-5: 0.5 > 0.05; pod=api-4: 0.4 > 0.05; "
        "and 3 more (6 of 6 series)"
    )
    prom.reply = (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [1767225600.1, "3"]}},
    )
    below = await probe(spec(prom.url, "scalar(up)", failed_if={"op": "<", "value": 4}))
    assert (below.outcome, below.detail) == (Outcome.FAILED, "value: 3 < 4 (1 of 1 series)")


async def test_prometheus_errors_are_errors_and_5xx_are_failures(prom: Emulator) -> None:
    bad = {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query"'}
    prom.reply = (400, bad)
    rejected = await probe(spec(prom.url), service="checkout")
    assert (rejected.outcome, rejected.detail) == (
        Outcome.ERROR,
        'query rejected: bad_data: invalid parameter "query"',
    )
    timeout = {"status": "error", "errorType": "timeout", "error": "query timed out"}
    prom.reply = (503, timeout)
    busy = await probe(spec(prom.url), service="checkout")
    assert (busy.outcome, busy.detail) == (Outcome.FAILED, "HTTP 503: timeout: query timed out")
    prom.reply = (502, "Bad Gateway")
    proxy = await probe(spec(prom.url), service="checkout")
    assert (proxy.outcome, proxy.detail) == (Outcome.FAILED, "HTTP 502: Bad Gateway")
    prom.reply = (200, "<html>Grafana</html>")
    other = await probe(spec(prom.url), service="checkout")
    assert other.outcome is Outcome.FAILED and other.detail.startswith("not a Prometheus API")
    matrix = {"resultType": "matrix", "result": []}
    prom.reply = (200, {"status": "success", "data": matrix})
    ranged = await probe(spec(prom.url, "up[5m]"))
    assert ranged.outcome is Outcome.ERROR and ranged.detail.startswith("a matrix result")


async def test_a_query_that_cannot_be_filled_safely_is_never_sent(prom: Emulator) -> None:
    missing = await probe(spec(prom.url), instance="10.0.0.7:9100")
    assert (missing.outcome, missing.detail) == (
        Outcome.ERROR,
        "not probed: the alert has no service label",
    )
    bare = await probe(spec(prom.url, "up{service}"), service="checkout")
    assert bare.outcome is Outcome.ERROR and "not inside a quoted PromQL string" in bare.detail
    assert prom.queries == []


async def test_a_prometheus_that_hangs_times_out_within_the_timeout(prom: Emulator) -> None:
    prom.hang = True
    started = time.perf_counter()
    result = await probe(spec(prom.url, timeout="300ms"), service="checkout")
    assert (result.outcome, result.detail) == (Outcome.TIMEOUT, "no answer within 0.3s")
    assert time.perf_counter() - started < 1.5
    assert prom.queries[0]["timeout"] == "300ms"


async def test_unreachable_or_metadata_prometheus(unused_tcp_port: int) -> None:
    closed = await probe(spec(f"http://127.0.0.1:{unused_tcp_port}"), service="checkout")
    assert closed.outcome is Outcome.FAILED and closed.detail.startswith("ConnectError")
    metadata = await probe(spec("http://169.254.169.254:9090"), service="checkout")
    assert metadata.outcome is Outcome.ERROR and "refused" in metadata.detail
