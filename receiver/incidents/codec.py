"""Records <-> Redis: the ingest request for the Lua script, and hashes back to models."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from receiver import stats
from receiver.fingerprint import group_id
from receiver.model import (
    Alert,
    Incident,
    IncidentStatus,
    StoredAlert,
    TimelineEntry,
)
from rules import Decision
from rules.verdict import verdict


@dataclass(frozen=True)
class Classified:
    """An alert with the decision the rules made for it."""

    alert: Alert
    decision: Decision
    shadow: Decision | None = None  # the shadow rules' decision, when they run


def new_incident_id() -> str:
    """Return a fresh, unguessable incident id (RQ job-id safe: hex only)."""
    return secrets.token_hex(8)


_DECIDED: dict[int, tuple[Decision, dict[str, Any]]] = {}


def _decided(decision: Decision) -> dict[str, Any]:
    """What the ingest script needs of a decision, computed once per decision (the
    rule set holds one decision per rule; keyed by identity, checked)."""
    cached = _DECIDED.get(id(decision))
    if cached is not None and cached[0] is decision:
        return cached[1]
    if len(_DECIDED) > 4096:  # rule sets reloaded many times: start afresh
        _DECIDED.clear()
    budget = decision.policy.diagnosis_budget
    fields = {
        "rank": decision.severity.rank,
        "severity": decision.severity.value,
        "decision": decision.as_json,
        "why": decision.why,
        "verdict": verdict(decision).model_dump_json(),
        # has it probes, and how long its first page waits for them (the budget)
        "probes": bool(decision.probes),
        "first_page_delay": budget.total_seconds() if decision.probes and budget else 0.0,
    }
    _DECIDED[id(decision)] = (decision, fields)
    return fields


def _shadowed(live: Decision, shadow: Decision) -> dict[str, Any]:
    """The shadow fields of an alert entry: the counts to add when the alert is
    stored new or changed (``ss``), and the shadow verdict when it differs (``sv``)."""
    theirs = verdict(shadow)
    differs = verdict(live).differs(theirs)
    out: dict[str, Any] = {
        "ss": stats.count("triaged_shadow_alerts_total")
        + [p for f in differs for p in stats.count("triaged_shadow_disagreements_total", field=f)]
    }
    if differs:
        out["sv"] = theirs.model_dump_json()
    return out


def _new_group(gid: str, a: Alert) -> dict[str, Any]:
    """A group of the request, ready to open an incident (``open`` set by its alerts)."""
    return {
        "gid": gid,
        "group_key": a.group_key,
        "source": a.source,
        "candidate_id": new_incident_id(),
        "labels_json": orjson.dumps(
            a.group_labels or a.labels, option=orjson.OPT_SORT_KEYS
        ).decode(),
        "alerts": [],
        "open": None,
    }


def _alert_entry(
    item: Classified,
    decided: dict[str, Any],
    n: int,
    args: list[str],
    received_at: str,
    history: dict[str, float] | None,
) -> dict[str, Any]:
    """One alert of a group; its blobs (stored JSON, history item) go onto ``args``."""
    a, status = item.alert, item.alert.status.value
    # a StoredAlert, encoded without building the model (the hot path)
    stored = {
        "fingerprint": a.fingerprint,
        "status": status,
        "labels": a.labels,
        "annotations": a.annotations,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "severity": decided["severity"],
        "rule": item.decision.rule,
        "received_at": received_at,
    }
    args.append(orjson.dumps(stored).decode())
    entry = {
        "d": n,
        "fp": a.fingerprint,
        "status": status,
        "starts_at": a.starts_at,
        "summary": f"{status}: {a.summary}",
        "json": len(args),
    }
    if history is not None:  # the received history's item, less incident and verdict
        args.append(orjson.dumps([a.source, a.fingerprint, status, a.labels]).decode()[1:-1])
        entry["h"] = len(args)
    if item.shadow is not None:
        entry.update(_shadowed(item.decision, item.shadow))
    return entry


def ingest_request(
    items: Sequence[Classified],
    source: str,
    now: datetime,
    truncated: int = 0,
    history: dict[str, float] | None = None,
) -> list[str]:
    """Build the arguments of ingest.lua: ARGV[1] the request (JSON: alerts grouped,
    each group ready to open), then the blobs the script stores as they are.

    Each distinct decision is sent once, in ``decisions``; alerts and a group's
    ``open`` name theirs by its 1-based index ``d``. A decision's JSON and each
    alert's stored JSON are ARGV entries of their own, named by index (``decision``,
    ``json``): the script stores them without decoding (they are most of the bytes).

    ``history`` (``History.request()``): keep each alert stored new or changed in
    the received stream; None: keep none. An item with a ``shadow`` decision carries
    the shadow counts, and the shadow verdict where it differs."""
    groups: dict[str, dict[str, Any]] = {}
    decisions: list[dict[str, Any]] = []
    index: dict[int, int] = {}
    args = [""]
    received_at = now.isoformat()
    for item in items:
        a, d = item.alert, item.decision
        decided = _decided(d)
        n = index.get(id(decided))
        if n is None:
            args.append(decided["decision"])
            decisions.append({**decided, "decision": len(args)})
            n = index[id(decided)] = len(decisions)
        status = a.status.value
        gid = group_id(a.source, a.group_key)
        g = groups.get(gid)
        if g is None:
            g = groups[gid] = _new_group(gid, a)
        g["alerts"].append(_alert_entry(item, decided, n, args, received_at, history))
        if status == "firing" and (g["open"] is None or decided["rank"] < g["open"]["rank"]):
            g["open"] = {
                "d": n,
                "rank": decided["rank"],
                "summary": a.summary,
                "stats": stats.count("triaged_incidents_total", severity=decided["severity"]),
            }
    for g in groups.values():
        if g["open"] is not None:
            del g["open"]["rank"]  # only for choosing here
    request = {
        "now": received_at,
        "now_ts": now.timestamp(),
        "stats": stats.count("triaged_alerts_received_total", len(items), source=source)
        + (
            stats.count("triaged_alerts_truncated_total", truncated, source=source)
            if truncated
            else []
        ),
        "truncated": truncated,
        "history": history,
        "decisions": decisions,
        "groups": list(groups.values()),
    }
    args[0] = orjson.dumps(request).decode()
    return args


def _opt_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def incident_from_hash(h: dict[str, str]) -> Incident:
    """Rebuild an Incident from its Redis hash (decoded strings)."""
    decision = Decision.model_validate_json(h["decision"])
    return Incident(
        id=h["id"],
        status=IncidentStatus(h["status"]),
        severity=decision.severity,
        summary=h.get("summary", ""),
        labels=json.loads(h.get("labels", "{}")),
        source=h.get("source", ""),
        group_key=h.get("group_key", ""),
        created_at=datetime.fromisoformat(h["created_at"]),
        updated_at=datetime.fromisoformat(h.get("updated_at", h["created_at"])),
        generation=int(h.get("generation", "1")),
        decision=decision,
        acknowledged_by=h.get("acknowledged_by"),
        acknowledged_at=_opt_dt(h.get("acknowledged_at")),
        resolved_at=_opt_dt(h.get("resolved_at")),
        first_page_at=_opt_dt(h.get("first_page_at")),
    )


def timeline_from_list(raw: Sequence[str]) -> list[TimelineEntry]:
    """Rebuild timeline entries from the Redis list."""
    return [TimelineEntry.model_validate_json(item) for item in raw]


def alerts_from_hash(raw: dict[str, str]) -> list[StoredAlert]:
    """Rebuild an incident's alerts, oldest received first."""
    items = [StoredAlert.model_validate_json(v) for v in raw.values()]
    return sorted(items, key=lambda a: (a.received_at, a.fingerprint))


def timeline_entry(kind: str, detail: str, now: datetime, **data: Any) -> str:
    """Encode one timeline entry for RPUSH."""
    return TimelineEntry(at=now, kind=kind, detail=detail, data=data).model_dump_json()
