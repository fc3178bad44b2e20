"""Every Redis key triaged uses, one function per key, all under ``triaged:``.

RQ's own keys (``rq:*``) are RQ's business; the queue names are in ``receiver.jobs``.
"""

from __future__ import annotations

import hashlib

PREFIX = "triaged:"


def incident(incident_id: str) -> str:
    """Hash: the incident's fields (status, severity, decision, ...)."""
    return f"{PREFIX}incident:{incident_id}"


def alerts(incident_id: str) -> str:
    """Hash: fingerprint -> stored alert JSON."""
    return f"{PREFIX}incident:{incident_id}:alerts"


def timeline(incident_id: str) -> str:
    """List: timeline entries as JSON, oldest first."""
    return f"{PREFIX}incident:{incident_id}:timeline"


def diagnosis(incident_id: str) -> str:
    """Hash: probe name -> its latest result as JSON."""
    return f"{PREFIX}incident:{incident_id}:diagnosis"


def group(group_id: str) -> str:
    """String: the id of the group's latest incident."""
    return f"{PREFIX}group:{group_id}"


def incident_index() -> str:
    """Sorted set: incident ids scored by creation time."""
    return f"{PREFIX}incidents"


def outbox() -> str:
    """Sorted set: work stored but not yet enqueued (``triage:<id>:<gen>``), scored by time."""
    return f"{PREFIX}outbox"


def wake() -> str:
    """List of at most one token: pushed by ingest when the outbox has new work, so
    an auditor blocked on it drains at once instead of at its next tick."""
    return f"{PREFIX}wake"


def drain_lock() -> str:
    """String with a TTL: one outbox drain at a time."""
    return f"{PREFIX}drain-lock"


def due() -> str:
    """Sorted set: work members (``page:<id>:<gen>:<cycle>:<step>``) by due time
    (Redis time); a member leaves when its job has done the work."""
    return f"{PREFIX}due"


def lease(member: str) -> str:
    """String with a short TTL: a live job is working on ``member`` (heartbeat)."""
    return f"{PREFIX}lease:{member}"


def redrive_guard(member: str) -> str:
    """String with a TTL: ``member`` was re-driven recently; do not pile up more."""
    return f"{PREFIX}redrive:{member}"


def redrive_counts() -> str:
    """Hash: member -> how many times the reconciler re-drove it."""
    return f"{PREFIX}redrives"


def reconciler_lock() -> str:
    """String with a TTL: one reconciler pass at a time across all workers."""
    return f"{PREFIX}reconciler-lock"


def step_started(member: str) -> str:
    """String: set by the first run of an escalation step, so a re-drive of it is
    recorded as a resumption and not counted twice."""
    return f"{PREFIX}started:{member}"


def page_claim(idempotency_key: str) -> str:
    """String: ``sending`` while one worker sends a page, ``sent`` after."""
    return f"{PREFIX}page:{idempotency_key}"


def stats() -> str:
    """Hash: counters and histogram buckets written by every process (see receiver.stats)."""
    return f"{PREFIX}stats"


def ack_key() -> str:
    """String: the generated ack-link signing key when TRIAGED_ACK_KEY is not set."""
    return f"{PREFIX}ack-key"


def deploys(service: str) -> str:
    """ZSET: the deploys of ``service`` (JSON members), scored by deploy time."""
    return f"{PREFIX}deploys:{hashlib.sha256(service.encode()).hexdigest()[:24]}"


def pending_diagnosis(incident_id: str, generation: int) -> str:
    """String, set when a first page went out with probes pending: the diagnosis
    owes its contacts an update (taken once, with GETDEL)."""
    return f"{PREFIX}incident:{incident_id}:pending-diagnosis:{generation}"


def mirrors(incident_id: str) -> str:
    """Set: ``contact|channel index`` of the PagerDuty / Opsgenie channels an
    incident was paged through (they are told when it is acknowledged or resolved)."""
    return f"{PREFIX}incident:{incident_id}:mirrors"


def silences(origin: str) -> str:
    """Hash: silence id -> JSON {"id", "silence", "created_at"}; ``origin`` is "api"
    (created through the API) or "files" (the rule files', rewritten at start)."""
    return f"{PREFIX}silences:{origin}"


def inhibitions() -> str:
    """String: the rule files' inhibition rules (JSON list), rewritten at start."""
    return f"{PREFIX}inhibit"


def digest_config() -> str:
    """String: the SEV-4 digest's settings and contacts (JSON), written at start."""
    return f"{PREFIX}digest:config"


def templates() -> str:
    """Hash: communication template name -> Jinja2 source (the rule files'), written at start."""
    return f"{PREFIX}templates"


def stakeholders() -> str:
    """String: JSON {severities, contacts} of the stakeholder notification, or null."""
    return f"{PREFIX}stakeholders"


def received() -> str:
    """Stream: every alert stored new or changed, with the verdict it was given
    (``receiver.incidents.history``); trimmed to the history's retention."""
    return f"{PREFIX}received"


def shadow() -> str:
    """Stream: alerts on which the shadow rules' verdict differs from the live one's
    (the newest ``history.SHADOW_KEPT``)."""
    return f"{PREFIX}shadow"
