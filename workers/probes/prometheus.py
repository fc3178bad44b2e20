"""The prometheus probe: one instant query, failed when any sample meets ``failed_if``.

    checkout-errors:
      prometheus:
        url: http://prometheus:9090
        query: 'sum by (service) (rate(http_requests_total{service="{service}",code=~"5.."}[5m]))'
        failed_if: {op: ">", value: 0.05}

``GET <url>/api/v1/query?query=...`` (Prometheus HTTP API). A ``{label}``
placeholder is filled with the alert's value escaped as the content of the PromQL
string it stands in (``"..."`` or ``'...'``), so a value can never close the
string and add PromQL; a placeholder outside a quoted string is refused (there is
no escaping that would make a value safe there). The URL is the SRE's, written
out in full; it is still checked (``workers.probes.targets.resolve``) and the
request goes to the address that was checked, with the name as Host and TLS SNI.

Outcomes: ok (no sample meets ``failed_if``, or no series at all), failed (some
do; or Prometheus is unreachable, answers 5xx or not with its API's envelope),
timeout, error (Prometheus rejected the query: its ``errorType``/``error``; a
4xx; a result that is not an instant vector or scalar; a missing label; a
refused target).
"""

from __future__ import annotations

import asyncio
import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from rules.probes import Condition, PrometheusProbe
from workers.probes.base import Outcome, ProbeContext, ProbeResult, result
from workers.probes.targets import MissingLabel, TargetRefused, TooLarge, pinned_get

EXCERPT = 120
MAX_BODY = 1024 * 1024
SHOWN = 3  # offending samples named in the detail
VALUE_CHARS = 40  # of a label value, in the detail

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class QueryRefused(Exception):
    """The query template puts a placeholder where no escaping makes a value safe."""


def escape(value: str, quote: str) -> str:
    """``value`` as the content of a PromQL string quoted with ``quote`` (``"`` or
    ``'``): backslash, the quote and control characters escaped (Go escapes, which
    the PromQL lexer reads back to the same text)."""
    out = []
    for char in value:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char == quote:
            out.append("\\" + quote)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _label(labels: Mapping[str, str], name: str) -> str:
    value = labels.get(name)
    if value is None or value == "":
        raise MissingLabel(f"the alert has no {name} label")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate: no PromQL string can hold it
        raise QueryRefused(f"label {name} is not valid UTF-8") from None
    return value


def fill_query(template: str, labels: Mapping[str, str]) -> str:
    """The query with each ``{label}`` replaced by its escaped value.

    Raises MissingLabel, or QueryRefused for a placeholder outside a ``"..."`` /
    ``'...'`` string (bare, in a backtick string or in a ``#`` comment) or a value
    that is not valid UTF-8."""
    out: list[str] = []
    quote = ""  # the string being read: '"', "'", "`", or "#" for a comment
    i = 0
    while i < len(template):
        char = template[i]
        placeholder = _PLACEHOLDER.match(template, i) if char == "{" else None
        if placeholder:
            name = placeholder.group(1)
            if quote not in ('"', "'"):
                raise QueryRefused(
                    f"{{{name}}} is not inside a quoted PromQL string: write it as "
                    f'label="{{{name}}}" so its value is escaped'
                )
            out.append(escape(_label(labels, name), quote))
            i = placeholder.end()
            continue
        if quote in ('"', "'") and char == "\\":
            out.append(template[i : i + 2])  # an escape the SRE wrote, kept as written
            i += 2
            continue
        if not quote and char in "\"'`#":
            quote = char
        elif (quote == "#" and char == "\n") or (quote != "#" and quote == char):
            quote = ""
        out.append(char)
        i += 1
    return "".join(out)


def query_url(base: str) -> str:
    """``<base>/api/v1/query``, whether or not the base URL ends in ``/``."""
    url = httpx.URL(base)
    return str(url.copy_with(path=url.path.rstrip("/") + "/api/v1/query", query=None))


class Envelope(BaseModel):
    """The Prometheus HTTP API's answer (``status``, ``data`` or ``errorType``/``error``)."""

    status: Literal["success", "error"]
    data: Any = None
    error_type: str | None = Field(default=None, alias="errorType")
    error: str | None = None


class _Series(BaseModel):
    metric: dict[str, str] = {}
    value: tuple[float, float] | None = None  # absent for a native histogram sample


class _Vector(BaseModel):
    result: list[_Series]


class _Scalar(BaseModel):
    result: tuple[float, float]


@dataclass(frozen=True)
class Sample:
    """One series' value at the query's instant (``labels``: its metric, with ``__name__``)."""

    labels: dict[str, str]
    value: float


class Unsupported(Exception):
    """A result the probe cannot judge (range vector, string, native histograms)."""


def samples(data: dict[str, Any]) -> list[Sample]:
    """The samples of a ``vector`` or ``scalar`` result.

    Raises Unsupported for any other result, ValidationError for a malformed one."""
    kind = data.get("resultType")
    if kind == "scalar":
        return [Sample(labels={}, value=_Scalar.model_validate(data).result[1])]
    if kind != "vector":
        raise Unsupported(f"a {kind} result: the query must give an instant vector or a scalar")
    found = []
    for series in _Vector.model_validate(data).result:
        if series.value is None:
            raise Unsupported("native histogram samples: query a float (histogram_quantile ...)")
        found.append(Sample(labels=series.metric, value=series.value[1]))
    return found


def _number(value: float) -> str:
    return f"{value:.4g}"


def _describe(found: list[Sample]) -> Callable[[Sample], str]:
    """Name a sample by the labels that tell the series apart (for a single series:
    all of them but ``__name__``)."""
    if len(found) > 1:
        keys = {k for s in found for k in s.labels}
        shown = {k for k in keys if len({s.labels.get(k) for s in found}) > 1}
    else:
        shown = set(found[0].labels) - {"__name__"} or set(found[0].labels)

    def name(sample: Sample) -> str:
        pairs = [f"{k}={v[:VALUE_CHARS]}" for k, v in sorted(sample.labels.items()) if k in shown]
        return ",".join(pairs) or "value"

    return name


def judge(found: list[Sample], condition: Condition) -> tuple[Outcome, str]:
    """Failed when any sample meets ``condition``; the detail names up to SHOWN."""
    if not found:
        return Outcome.OK, "no series"
    test, limit, op = _OPS[condition.op], condition.value, condition.op
    offending = [s for s in found if test(s.value, limit)]
    total = len(found)
    if offending:
        if op in (">", ">="):
            offending.sort(key=lambda s: -s.value)
        elif op in ("<", "<="):
            offending.sort(key=lambda s: s.value)
        name = _describe(found)
        shown = [f"{name(s)}: {_number(s.value)} {op} {limit:g}" for s in offending[:SHOWN]]
        more = len(offending) - SHOWN
        tail = f"; and {more} more" if more > 0 else ""
        return Outcome.FAILED, f"{'; '.join(shown)}{tail} ({len(offending)} of {total} series)"
    values = [s.value for s in found if not math.isnan(s.value)]
    if not values:
        summary = "all NaN"
    elif op in ("<", "<="):
        summary = f"min {_number(min(values))}"
    else:
        summary = f"max {_number(max(values))}"
    return Outcome.OK, f"0 of {total} series {op} {limit:g}; {summary}"


def _envelope(status: int, body: bytes) -> Envelope | tuple[Outcome, str]:
    """The envelope of a usable answer, or the outcome and detail of any other."""
    excerpt = body[:EXCERPT].decode("utf-8", "replace")
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError:
        envelope = None
    said = (
        f"{envelope.error_type or 'error'}: {envelope.error or 'no message'}"
        if envelope is not None and envelope.status == "error"
        else excerpt
    )
    if status >= 500:
        return Outcome.FAILED, f"HTTP {status}: {said}"
    if envelope is not None and envelope.status == "error":
        return Outcome.ERROR, f"query rejected: {said}"
    if not 200 <= status < 300:
        return Outcome.ERROR, f"HTTP {status}: {excerpt}"
    if envelope is None:
        return Outcome.FAILED, f"not a Prometheus API answer: {excerpt}"
    return envelope


async def run(name: str, spec: PrometheusProbe, ctx: ProbeContext) -> ProbeResult:
    """Run the query once, bounded by ``spec.timeout``; never raises for Prometheus."""
    started = time.perf_counter()
    timeout = spec.timeout.total_seconds()
    try:
        query = fill_query(spec.query, ctx.labels)
    except (MissingLabel, QueryRefused) as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    # Prometheus gives up on the query when the probe does (``timeout`` parameter)
    params = {"query": query, "timeout": f"{round(timeout * 1000)}ms"}
    try:
        async with asyncio.timeout(timeout):
            status, body = await pinned_get(
                ctx.http, query_url(spec.url), ctx.targets, timeout, MAX_BODY, params
            )
    except TargetRefused as exc:
        return result(name, started, Outcome.ERROR, f"not probed: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return result(name, started, Outcome.TIMEOUT, f"no answer within {timeout:g}s")
    except TooLarge:
        detail = f"answer over {MAX_BODY} bytes: aggregate the query (sum by ...)"
        return result(name, started, Outcome.ERROR, detail)
    except httpx.HTTPError as exc:
        reason = str(exc)[:EXCERPT] or "unreachable"
        return result(name, started, Outcome.FAILED, f"{type(exc).__name__}: {reason}")
    answer = _envelope(status, body)
    if not isinstance(answer, Envelope):
        return result(name, started, *answer)
    if not isinstance(answer.data, dict) or "resultType" not in answer.data:
        detail = "not a Prometheus API answer: no data.resultType"
        return result(name, started, Outcome.FAILED, detail)
    try:
        found = samples(answer.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        detail = f"not a Prometheus API answer: data.{where}: {first['msg'].lower()}"
        return result(name, started, Outcome.FAILED, detail)
    except Unsupported as exc:
        return result(name, started, Outcome.ERROR, str(exc))
    outcome, detail = judge(found, spec.failed_if)
    return result(name, started, outcome, detail)
