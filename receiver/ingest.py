"""THE pipeline, in one function: body -> payload -> alerts -> classified -> stored.

Enqueueing happens after, from the outbox (``receiver.jobs.drain_outbox``, run by
the workers' auditors, woken by the ingest script), so the
answer never waits on RQ and a crash between storing and enqueueing loses nothing.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from receiver import stats
from receiver.errors import PayloadError
from receiver.incidents.codec import Classified
from receiver.incidents.store import AsyncIncidentStore, IngestResult
from receiver.model import Alert
from receiver.repeats import RepeatCache, Seen
from receiver.sources import Source
from rules import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome:
    alerts: int
    groups: list[IngestResult]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# Text no store can keep: NUL, and lone surrogates (JSON's "\ud800" escape decodes to
# a str that cannot be encoded as UTF-8: left in, it fails later, as a 500).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _refuse_bad_text(data: Any) -> None:
    """Raise PayloadError naming the first field (in document order) with bad text."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            found = _BAD_TEXT.search(node) if isinstance(node, str) else None
            if found:
                what = "a NUL character" if found.group() == "\x00" else "a lone surrogate"
                field = path or "body"
                raise PayloadError(f"{field}: text contains {what}", field=field)
            continue
        for key, value in reversed(children):
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _BAD_TEXT.search(key):
                raise PayloadError(
                    f"{path or 'body'}: a key contains a NUL character or a lone surrogate",
                    field=path or "body",
                )
            stack.append((child, value))


def parse_json(body: bytes) -> Any:
    """Decode a request body as strict JSON; every failure is a PayloadError (400).

    Strings holding NUL or lone surrogates are refused here, naming the field. The
    fast path is orjson (which refuses NaN, infinities, lone surrogates, a BOM and
    nesting past 1,024); anything it refuses is parsed again by the standard library
    for a precise message."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_json_slowly(body)
    if b"\\u0000" in body:  # the only way a NUL can reach a string that orjson accepted
        _refuse_bad_text(data)
    return data


def _parse_json_slowly(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})", field="body") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise PayloadError("JSON is nested too deeply", field="body") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from exc
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}", field="body") from exc
    _refuse_bad_text(data)
    return data


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field": "alerts.0.labels", "error": "..."}``, no input echo."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "error": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)[:20]
    ]


def invalid_body(what: str, exc: ValidationError) -> PayloadError:
    """A body the model refused, as the 400 answer: ``invalid <what>: <field>: <why>``
    naming the first field, with every error listed."""
    errors = validation_errors(exc)
    first = errors[0]["field"] if errors else "body"
    return PayloadError(
        f"invalid {what}: {first}: {errors[0]['error'] if errors else ''}",
        field=first,
        errors=errors,
    )


def to_payload(source: Source, body: bytes) -> Any:
    """Parse and validate a body into the source's payload model."""
    data = parse_json(body)
    try:
        return source.payload.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(f"{source.name} payload", exc) from exc
    except RecursionError as exc:
        raise PayloadError("payload is nested too deeply", field="body") from exc


async def ingest(
    source: Source,
    body: bytes,
    *,
    ruleset: RuleSet,
    store: AsyncIncidentStore,
    now: datetime,
    repeats: RepeatCache | None = None,
    shadow: RuleSet | None = None,
) -> IngestOutcome:
    """Normalize, classify and durably store one POST; return what happened.

    A body this process stored moments ago, byte for byte, is answered from
    ``repeats`` (see receiver.repeats) after counting it in Redis. ``shadow``:
    rules that classify every alert too, recorded where they differ, never acted on."""
    key = RepeatCache.digest(source.name, body) if repeats is not None else b""
    seen = repeats.get(key) if repeats is not None else None
    if seen is not None:
        await store.add_stats(
            stats.count("triaged_alerts_received_total", seen.alerts, source=source.name),
            required=True,
        )
        return IngestOutcome(
            alerts=seen.alerts,
            groups=[IngestResult(i, "duplicate", 0, 0, g) for i, g in seen.incidents],
        )
    outcome = await _ingest(source, body, ruleset=ruleset, store=store, now=now, shadow=shadow)
    # remembered only when a repeat would report every group as a duplicate of its
    # incident (a group that resolved its incident, or had none, repeats as nothing)
    if repeats is not None and all(g.result in _REPEATS_AS_DUPLICATE for g in outcome.groups):
        ids = tuple((g.incident_id, g.generation) for g in outcome.groups)
        repeats.put(key, Seen(outcome.alerts, ids))
    return outcome


_REPEATS_AS_DUPLICATE = frozenset({"created", "updated", "raised", "duplicate"})


def normalize(source: Source, body: bytes) -> list[Alert]:
    """A body as the source's alerts; every way it can be wrong is a PayloadError."""
    return _to_alerts(source, to_payload(source, body))


def _to_alerts(source: Source, payload: Any) -> list[Alert]:
    try:
        return source.to_alerts(payload)
    except ValidationError as exc:
        errors = validation_errors(exc) or [{"field": "body", "error": "invalid"}]
        raise PayloadError(
            f"invalid alert: {errors[0]['field']}: {errors[0]['error']}",
            field=errors[0]["field"],
            errors=errors,
        ) from exc
    except Exception as exc:
        # an adapter bug on a body it validated: the sender cannot fix it by
        # retrying, and the receiver keeps serving; the traceback is for us
        log.exception("the %s adapter failed on a body it had validated", source.name)
        raise PayloadError(
            f"the {source.name} adapter could not read this body", field="body"
        ) from exc


async def _ingest(
    source: Source,
    body: bytes,
    *,
    ruleset: RuleSet,
    store: AsyncIncidentStore,
    now: datetime,
    shadow: RuleSet | None,
) -> IngestOutcome:
    payload = to_payload(source, body)
    alerts = _to_alerts(source, payload)
    truncated = source.truncated(payload) if source.truncated is not None else 0
    items = [
        Classified(
            alert,
            ruleset.classify(alert.labels),
            None if shadow is None else shadow.classify(alert.labels),
        )
        for alert in alerts
    ]
    groups = await store.ingest(items, source.name, now, truncated=truncated)
    return IngestOutcome(alerts=len(items), groups=groups)
