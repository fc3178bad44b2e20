"""RQ entry points (enqueued by dotted name): thin, ids only.

    triage(incident_id, generation)          diagnose, then page step 0 (or defer / skip)
    page(incident_id, generation, cycle, step)  an escalation step, unless acknowledged
    check_deadline(incident_id, generation)  the response deadline: missed -> record, escalate

Every job re-reads the incident and does nothing for an acknowledged or resolved
incident, or for an older escalation generation (the incident was re-graded).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import get_current_job

from receiver import acklink, stats
from receiver.jobs import in_seconds, schedule_deadline, schedule_page
from receiver.model import Incident
from rules import PageMode, is_open, next_open, response_deadline
from rules.engine import ResolvedContact
from workers import escalation
from workers.channels import SENDERS
from workers.context import WorkerContext, current
from workers.delivery import Delivery, deliver
from workers.diagnosis import diagnose
from workers.page import build_page, idempotency_key

log = logging.getLogger(__name__)

# longer than any step budget: a live sender keeps its claim
CLAIM_HOLD_S = 330
# diagnosis budget when a policy has none (the loader always fills one in)
DEFAULT_BUDGET = timedelta(seconds=3)


def _now() -> datetime:
    return datetime.now(UTC)


def triage(incident_id: str, generation: int) -> str:
    """Diagnose a new (or re-graded) incident, then page its first step."""
    ctx = current()
    incident = ctx.store.get(incident_id)
    if incident is None or not incident.is_paging(generation):
        return "skipped"
    d = incident.decision
    budget = d.policy.diagnosis_budget or DEFAULT_BUDGET
    results = diagnose(d.probes, budget.total_seconds())
    rows = [r.model_dump(mode="json") for r in results]
    ctx.store.set_diagnosis(incident_id, rows)
    for r in results:
        ctx.store.record(
            incident_id,
            "probe",
            r.line(),
            _now(),
            stats=stats.observe(
                "triaged_probe_duration_seconds",
                r.duration_s,
                probe=r.name,
                outcome=r.outcome.value,
            ),
            probe=r.name,
            outcome=r.outcome.value,
        )
    deadline = response_deadline(d.policy, d.business_hours, incident.created_at)
    if deadline is not None:
        schedule_deadline(ctx.queue, deadline, incident_id, generation)
    now = _now()
    if d.policy.page is PageMode.NEVER:
        ctx.store.record(
            incident_id,
            "not_paged",
            f"{d.severity.value} pages nobody: recorded for the digest",
            now,
        )
        return "recorded"
    if d.policy.page is PageMode.BUSINESS_HOURS and not is_open(d.business_hours, now):
        at = next_open(d.business_hours, now)
        schedule_page(ctx.queue, at, incident_id, generation, 0, 0)
        ctx.store.record(
            incident_id,
            "page_deferred",
            f"outside business hours; first page at {at.isoformat()}",
            now,
        )
        return "deferred"
    _run_step(ctx, incident, generation, 0, 0, reason="new incident")
    return "paged"


def page(incident_id: str, generation: int, cycle: int, step: int) -> str:
    """Page escalation ``step`` of ``cycle`` if nobody has acknowledged yet."""
    ctx = current()
    incident = ctx.store.get(incident_id)
    if incident is None:
        return "skipped"
    if not incident.is_paging(generation):
        if incident.generation == generation:
            who = f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""
            ctx.store.record(
                incident_id,
                "escalation_stopped",
                f"step {step} not sent: incident {incident.status.value}{who}",
                _now(),
            )
        return "stopped"
    _run_step(ctx, incident, generation, cycle, step, reason=f"escalation step {step}")
    return "paged"


def check_deadline(incident_id: str, generation: int) -> str:
    """At the response deadline: if still unacknowledged, record, count and escalate."""
    ctx = current()
    incident = ctx.store.get(incident_id)
    if incident is None or not incident.is_paging(generation):
        return "met"
    sev = incident.severity.value
    ctx.store.record(
        incident_id,
        "deadline_missed",
        f"{sev} response deadline passed unacknowledged; paging the last escalation step",
        _now(),
        stats=stats.count("triaged_response_deadlines_missed_total", severity=sev),
    )
    steps = incident.decision.steps
    if steps:
        _send_step(
            ctx,
            incident,
            generation,
            "deadline",
            len(steps) - 1,
            reason="response deadline missed",
            budget=120.0,
        )
    return "missed"


def _run_step(
    ctx: WorkerContext, incident: Incident, generation: int, cycle: int, step: int, reason: str
) -> None:
    d = incident.decision
    if not d.steps:
        ctx.store.record(
            incident.id,
            "not_paged",
            f"{d.severity.value} has no escalation steps: nobody to page",
            _now(),
        )
        return
    # Schedule what follows before sending, so a crash mid-send loses no escalation.
    nxt = escalation.next_step(len(d.steps), d.repeat, cycle, step)
    if nxt is not None:
        delay = escalation.delay_before(d.steps, nxt[1])
        at = in_seconds(delay)
        if schedule_page(ctx.queue, at, incident.id, generation, *nxt):
            who = ", ".join(c.name for c in d.steps[nxt[1]].contacts)
            ctx.store.record(
                incident.id,
                "escalation_scheduled",
                f"step {nxt[1]} ({who}) at {at.isoformat(timespec='seconds')} unless acknowledged",
                _now(),
            )
    budget = escalation.step_budget(d.steps, d.repeat, cycle, step)
    _send_step(ctx, incident, generation, cycle, step, reason, budget)


def _send_step(
    ctx: WorkerContext,
    incident: Incident,
    generation: int,
    cycle: int | str,
    step: int,
    reason: str,
    budget: float,
) -> None:
    d = incident.decision
    contacts = d.steps[step].contacts
    sev = incident.severity.value
    ctx.store.record(
        incident.id,
        "escalation_step",
        f"{reason}: paging {', '.join(c.name for c in contacts)}",
        _now(),
        stats=stats.count("triaged_escalation_steps_total", severity=sev),
        step=step,
    )
    diagnosis = ctx.store.diagnosis(incident.id)
    # read here: RQ's current job is per thread, and the pages go out on a pool
    job = get_current_job()
    owner = job.id if job is not None else f"pid-{os.getpid()}"
    targets = [(c, i) for c in contacts for i in range(len(c.channels))]
    with ThreadPoolExecutor(max_workers=min(8, len(targets) or 1)) as pool:
        outcomes: list[Delivery | None] = list(
            pool.map(
                lambda t: _page_one(
                    ctx,
                    owner,
                    incident,
                    diagnosis,
                    generation,
                    cycle,
                    step,
                    t[0],
                    t[1],
                    reason,
                    budget,
                ),
                targets,
            )
        )
    sent = sum(1 for o in outcomes if o is not None and o.sent)
    log.info("incident %s step %s: %d of %d pages sent", incident.id, step, sent, len(targets))


def _page_one(
    ctx: WorkerContext,
    owner: str,
    incident: Incident,
    diagnosis: list[dict[str, Any]],
    generation: int,
    cycle: int | str,
    step: int,
    contact: ResolvedContact,
    index: int,
    reason: str,
    budget: float,
) -> Delivery | None:
    channel = contact.channels[index]
    kind = channel.kind
    key = idempotency_key(incident.id, generation, cycle, step, contact.name, index)
    if not ctx.store.claim_page(key, owner, CLAIM_HOLD_S):
        return None  # sent (or being sent by another job) already: never page twice
    ack_url = acklink.make_url(
        ctx.settings.public_url,
        ctx.settings.ack_key.get_secret_value().encode(),
        incident.id,
        contact.name,
        _now().timestamp(),
    )
    body = build_page(incident, diagnosis, step, contact.name, contact.role, ack_url, reason)
    send = SENDERS[kind]
    result = deliver(lambda: send(channel, body, key, ctx.http), budget, ctx.rng)
    ctx.store.finish_page(key, "sent" if result.sent else "failed")
    if result.sent and ctx.store.mark_first_page(incident.id, _now()):
        waited = _now().timestamp() - ctx.store.created_ts(incident.id)
        ctx.store.add_stats(
            stats.observe(
                "triaged_time_to_first_page_seconds", waited, severity=incident.severity.value
            )
        )
    incs = stats.count("triaged_pages_total", result.retried, channel=kind, outcome="retried")
    if result.sent:
        incs += stats.count("triaged_pages_total", channel=kind, outcome="sent")
        kind_entry, detail = "page_sent", f"{contact.name} via {kind}: {result.detail}"
    else:
        incs += stats.count("triaged_pages_total", channel=kind, outcome="failed")
        if result.permanent:
            incs += stats.count("triaged_pages_misconfigured_total", channel=kind)
        why = "channel refused the page (misconfigured?)" if result.permanent else "retries spent"
        kind_entry, detail = "page_failed", f"{contact.name} via {kind}: {why}: {result.detail}"
    ctx.store.record(
        incident.id,
        kind_entry,
        detail,
        _now(),
        stats=incs,
        contact=contact.name,
        channel=kind,
        attempts=result.attempts,
        step=step,
    )
    return result
