"""RQ entry points (enqueued by dotted name): thin, ids only.

    diagnose(incident_id, generation)        (probes queue) run the probes; send the
                                             first page when they are done in time
    page(incident_id, generation, cycle, step)  an escalation step, unless acknowledged;
                                             step 0 also applies the severity's paging
                                             mode and schedules the response deadline
    check_deadline(incident_id, generation)  the deadline: missed -> record, escalate

Every job re-reads the incident and does nothing for an acknowledged or resolved
incident, or for an older escalation generation (the incident was re-graded). Due
times are Redis's (``receiver.jobs``): a job that RQ starts early waits or leaves the
work to the reconciler; it never pages early.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from receiver import acklink, stats, updates
from receiver.incidents import keys
from receiver.jobs import Kind, Work, done, due_at, redis_time, reschedule, schedule
from receiver.model import Incident, StoredAlert
from rules import PageMode, is_open, next_open, response_deadline
from rules.calendar import next_digest, previous_digest
from rules.engine import ResolvedContact, ResolvedStep
from rules.schema import Digest
from rules.silences import Inhibition, Silence, silence_matches, window_at
from workers import escalation
from workers.channels import MIRRORED, SENDERS
from workers.channels.base import PermanentSendError, RetryableSendError
from workers.context import WorkerContext, current
from workers.delivery import Delivery, deliver
from workers.diagnosis import Setting, pending
from workers.diagnosis import diagnose as run_probes
from workers.lease import lease
from workers.page import Page, build_page, idempotency_key
from workers.probes.base import ProbeResult
from workers.probes.deploys import recorded_deploys

log = logging.getLogger(__name__)

# longer than any step budget: a live sender keeps its claim
CLAIM_HOLD_S = 330
# diagnosis budget when a policy has none (the loader always fills one in)
DEFAULT_BUDGET = timedelta(seconds=3)
# A job that starts this little before its due time waits; earlier than that (a
# clock running fast) it leaves the work to the reconciler, which uses Redis time.
EARLY_WAIT_MAX_S = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


def _redis_now(ctx: WorkerContext) -> datetime:
    return datetime.fromtimestamp(redis_time(ctx.redis), UTC)


def _not_due(ctx: WorkerContext, work: Work) -> str | None:
    """None when ``work`` is due now (after waiting out a small head start)."""
    due = due_at(ctx.redis, work)
    if due is None:
        return "done"
    early = due - redis_time(ctx.redis)
    if early > EARLY_WAIT_MAX_S:
        return "early"
    if early > 0:
        time.sleep(early)
    return None


def diagnose(incident_id: str, generation: int) -> str:
    """Run the incident's probes; then page at once instead of at the budget's end."""
    ctx = current()
    incident = ctx.store.get(incident_id)
    if incident is None or incident.generation != generation:
        return "skipped"

    def report(result: ProbeResult) -> None:
        ctx.store.record_probe(incident_id, result.model_dump(mode="json"))
        ctx.store.record(
            incident_id,
            "probe",
            result.line(),
            _now(),
            stats=stats.observe(
                "triaged_probe_duration_seconds",
                result.duration_s,
                probe=result.name,
                outcome=result.outcome.value,
            ),
            probe=result.name,
            outcome=result.outcome.value,
        )

    results = run_probes(incident.decision.probes, report, _setting(ctx, incident))
    first = Work(Kind.PAGE, incident_id, generation, 0, 0)
    paged = due_at(ctx.redis, first) is None
    regraded = _regrade(ctx, incident, results, paged)
    if regraded is not None:
        done(ctx.redis, first)
        first = Work(Kind.PAGE, incident_id, regraded, 0, 0)
        ctx.redis.zadd(keys.due(), {first.member: redis_time(ctx.redis)}, nx=True)
        return f"diagnosed, regraded, {_page_now(ctx, first)}"
    if paged:
        # The probes outran the diagnosis budget: the first page went out with
        # them pending. Now that all are in, the same contacts get the whole picture
        # (once: the mark is taken by whichever run of this job gets it).
        if ctx.redis.getdel(keys.pending_diagnosis(incident_id, generation)):
            return f"diagnosed late, {_diagnosis_update(ctx, incident_id, generation)}"
        return "diagnosed, paged already"
    # Diagnosed within the budget: the first page goes now, from here (one job hop
    # less); its budget-end job on the pages queue then finds it done.
    ctx.redis.zadd(keys.due(), {first.member: redis_time(ctx.redis)}, xx=True)
    return f"diagnosed, {_page_now(ctx, first)}"


def _setting(ctx: WorkerContext, incident: Incident) -> Setting:
    """The labels the probes' placeholders read: the incident's first firing
    alert's, over the group's; when it started; the recorded deploys."""
    alerts = ctx.store.alerts(incident.id)
    first = next((a for a in alerts if a.status.value == "firing"), alerts[0] if alerts else None)
    labels = {**incident.labels, **(first.labels if first else {})}
    started = _parse_time(first.starts_at) if first else None

    async def deploys(service: str, since: float, until: float) -> list[dict[str, Any]]:
        return await asyncio.to_thread(recorded_deploys, ctx.redis, service, since, until)

    return Setting(
        labels=labels,
        alert_started=started or incident.created_at,
        deploys=deploys,
        environ=ctx.environ,
    )


def _parse_time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _regrade(
    ctx: WorkerContext, incident: Incident, results: list[ProbeResult], paged: bool
) -> int | None:
    """The new generation when the rule regrades on what its probes found; None
    when no option holds, the severity stays, or (already paged) it would lower it."""
    outcomes = {r.name: r.outcome.value for r in results}
    option = next((o for o in incident.decision.regrade if o.holds(outcomes)), None)
    if option is None or option.decision.severity == incident.severity:
        return None
    new = option.decision
    old = incident.severity
    if paged and new.severity.rank > old.rank:
        ctx.store.record(
            incident.id,
            "regrade_skipped",
            f"{old} -> {new.severity} not applied: {old} was paged already ({new.why})",
            _now(),
        )
        return None
    detail = f"{old} -> {new.severity}: {new.why}"
    return ctx.store.regrade(
        incident.id,
        incident.generation,
        new.severity.value,
        new.severity.rank,
        new.as_json,
        detail,
        _now(),
    )


def _diagnosis_update(ctx: WorkerContext, incident_id: str, generation: int) -> str:
    incident = ctx.store.get(incident_id)
    if incident is None or not incident.is_paging(generation) or not incident.decision.steps:
        return "no update (not paging)"
    work = Work(Kind.PAGE, incident_id, generation, 0, 0)
    _send_step(ctx, incident, work, "update", 0, reason="diagnosis update", budget=60.0)
    return "update sent"


def page(incident_id: str, generation: int, cycle: int, step: int) -> str:
    """Page escalation ``step`` of ``cycle`` if nobody has acknowledged yet."""
    ctx = current()
    work = Work(Kind.PAGE, incident_id, generation, cycle, step)
    not_due = _not_due(ctx, work)
    if not_due:
        return not_due
    return _page_now(ctx, work)


def _page_now(ctx: WorkerContext, work: Work) -> str:
    return _leased(ctx, work, lambda: _page(ctx, work))


def _leased(ctx: WorkerContext, work: Work, run: Callable[[], str]) -> str:
    """``run`` under ``work``'s lease ("busy" when another job holds it); then the
    work is done, unless ``run`` put it off ("deferred": rescheduled)."""
    with lease(ctx.redis, work.member) as held:
        if not held:
            return "busy"
        outcome = run()
        if outcome != "deferred":
            done(ctx.redis, work)
    return outcome


def _page(ctx: WorkerContext, work: Work) -> str:
    incident = ctx.store.get(work.incident_id)
    if incident is None:
        return "skipped"
    if not incident.is_paging(work.generation):
        if incident.generation == work.generation:
            who = f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""
            ctx.store.record(
                incident.id,
                "escalation_stopped",
                f"step {work.step} not sent: incident {incident.status.value}{who}",
                _now(),
            )
        return "stopped"
    if work.step == 0 and work.cycle == 0:
        held_back = _first_page_rules(ctx, incident, work)
        if held_back:
            return held_back
        reason = "new incident"
    else:
        reason = f"escalation step {work.step}"
    # read once, and only when a silence or an inhibition rule asks for them
    firing = functools.cache(lambda: _firing(ctx, incident))
    holder = _inhibited_by(ctx, incident, firing)
    if holder is not None:
        until = redis_time(ctx.redis) + INHIBIT_RECHECK_S
        detail = f"step {work.step} held: {holder}; checked again in {INHIBIT_RECHECK_S:g}s"
        return _hold(ctx, work, until, "i", "inhibited", detail)
    held = _silenced(ctx, incident, firing)
    if held is not None:
        names, until = held
        at = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
        detail = f"step {work.step} held by silence {names} until {at}; it runs then"
        return _hold(ctx, work, until, "q", "silenced", detail)
    _run_step(ctx, incident, work, work.cycle, work.step, reason=reason)
    if work.step == 0 and work.cycle == 0:
        _notify_stakeholders(ctx, incident, work)
    return "paged"


def _notify_stakeholders(ctx: WorkerContext, incident: Incident, work: Work) -> None:
    """With the first page of a severity the rules name, the stakeholder
    notification (the runbook's template, rendered in the sandbox; the built-in
    text when it fails, recorded and counted) to the stakeholder contacts, once."""
    raw = ctx.redis.get(keys.stakeholders())
    config = json.loads(raw) if raw else None  # type: ignore[arg-type]
    if not config or incident.severity.value not in config["severities"]:
        return
    once = f"{keys.incident(incident.id)}:stakeholders:{work.generation}"
    if not ctx.redis.set(once, "1", nx=True, ex=30 * 24 * 3600):
        return
    source = ctx.redis.hget(keys.templates(), "stakeholder")
    args = (incident, ctx.store.alerts(incident.id), ctx.store.timeline(incident.id), _now())
    try:
        if not source:
            raise updates.TemplateFailed("stakeholder", "no stakeholder template published")
        text = updates.render("stakeholder", str(source), *args)
    except updates.TemplateFailed as exc:
        text = updates.builtin("stakeholder", *args)
        ctx.store.record(
            incident.id,
            "template_failed",
            f"{exc}; the built-in stakeholder notification went instead",
            _now(),
            stats=stats.count("triaged_templates_failed_total", template="stakeholder"),
        )
    contacts = [ResolvedContact.model_validate(c) for c in config["contacts"]]
    run = _Step(
        ctx,
        incident,
        work,
        "stakeholders",
        0,
        "stakeholder notification",
        60.0,
        _diagnosis(ctx, incident),
        text,
    )
    reached = [c.name for c in contacts if _page_contact(run, c)]
    ctx.store.record(
        incident.id,
        "stakeholders_notified",
        f"stakeholder notification to {', '.join(reached) or 'nobody (every channel failed)'}",
        _now(),
    )


INHIBIT_RECHECK_S = 60.0
INHIBIT_SCAN = 500  # the newest incidents looked at for an inhibiting one


def matching_labels(labels: dict[str, str], severity: str) -> dict[str, str]:
    """An incident's labels for inhibition rules, with its severity as
    ``triaged_severity`` (the sender's own ``severity`` label stays as it is)."""
    return {**labels, "triaged_severity": severity}


def _hold(ctx: WorkerContext, work: Work, until: float, tag: str, kind: str, detail: str) -> str:
    """Put the step off until ``until`` (Redis time) and say why on the timeline."""
    reschedule(ctx.raw, work, until, f"{work.job_id}-{tag}{int(until)}")
    ctx.store.record(work.incident_id, kind, detail, _now(), step=work.step)
    return "deferred"


Firing = Callable[[], list[StoredAlert]]


def _firing(ctx: WorkerContext, incident: Incident) -> list[StoredAlert]:
    return [a for a in ctx.store.alerts(incident.id) if a.status.value == "firing"]


def _inhibited_by(ctx: WorkerContext, incident: Incident, firing: Firing) -> str | None:
    """The open (or acknowledged) incident whose inhibition rule holds this one's
    pages, described for the timeline; None when none does."""
    raw = ctx.redis.get(keys.inhibitions())
    rules = [Inhibition.model_validate(r) for r in json.loads(raw)] if raw else []  # type: ignore[arg-type]
    if not rules:
        return None
    first = firing()[:1]
    target = matching_labels(
        {**incident.labels, **(first[0].labels if first else {})}, incident.severity.value
    )
    if not any(r.may_hold(target) for r in rules):
        return None
    ids = [str(i) for i in ctx.redis.zrevrange(keys.incident_index(), 0, INHIBIT_SCAN - 1)]  # type: ignore[union-attr]
    pipe = ctx.redis.pipeline(transaction=False)
    for other in ids:
        pipe.hmget(keys.incident(other), "status", "severity", "labels", "summary")
    live = [
        (other, severity, labels, summary)
        for other, (status, severity, labels, summary) in zip(ids, pipe.execute(), strict=True)
        if other != incident.id and status in ("open", "acknowledged") and labels
    ]
    pipe = ctx.redis.pipeline(transaction=False)
    for other, *_ in live:
        pipe.hvals(keys.alerts(other))
    for (other, severity, labels, summary), alerts in zip(live, pipe.execute(), strict=True):
        # the group's labels, and its first firing alert's (the sender's own labels)
        first = next((a for a in map(json.loads, alerts) if a.get("status") == "firing"), {})
        merged = {**json.loads(labels), **first.get("labels", {})}
        source = matching_labels(merged, str(severity))
        if any(r.inhibits(source, target) for r in rules):
            return f"inhibited by {severity} incident {other} ({summary})"
    return None


def _silenced(ctx: WorkerContext, incident: Incident, firing: Firing) -> tuple[str, float] | None:
    """When every firing alert of the incident is matched by a silence active now:
    the silences' names and when the first of those alerts comes out of silence."""
    raw = [
        v
        for origin in ("files", "api")
        for v in ctx.redis.hvals(keys.silences(origin))  # type: ignore[union-attr]
    ]
    if not raw:
        return None
    now = _now()
    active = []
    for item in raw:
        try:
            silence = Silence.model_validate(json.loads(item)["silence"])
        except (ValueError, KeyError):
            continue
        window = window_at(silence, now)
        if window is not None:
            active.append((silence, window[1].timestamp()))
    if not active or not firing():
        return None
    names: set[str] = set()
    ends = []
    for alert in firing():
        labels = {**incident.labels, **alert.labels}
        holding = [(s, end) for s, end in active if silence_matches(s, labels)]
        if not holding:
            return None
        names.update(s.name for s, _ in holding)
        ends.append(max(end for _, end in holding))
    return ", ".join(sorted(names)), min(ends)


def _first_page_rules(ctx: WorkerContext, incident: Incident, work: Work) -> str | None:
    """Schedule the response deadline; apply the severity's paging mode (never,
    business hours). None when the first page goes out now."""
    d = incident.decision
    created = datetime.fromtimestamp(ctx.store.created_ts(incident.id), UTC)
    deadline = response_deadline(d.policy, d.business_hours, created)
    if deadline is not None:
        schedule(ctx.raw, Work(Kind.DEADLINE, incident.id, work.generation), deadline.timestamp())
    now = _redis_now(ctx)
    if d.policy.page is PageMode.NEVER:
        ctx.store.record(
            incident.id,
            "not_paged",
            f"{d.severity.value} pages nobody: recorded for the digest",
            now,
        )
        return "recorded"
    if d.policy.page is PageMode.BUSINESS_HOURS and not is_open(d.business_hours, now):
        at = next_open(d.business_hours, now)
        reschedule(ctx.raw, work, at.timestamp(), f"{work.job_id}-open")
        ctx.store.record(
            incident.id,
            "page_deferred",
            f"outside business hours; first page at {at.isoformat()}",
            now,
        )
        return "deferred"
    return None


def check_deadline(incident_id: str, generation: int) -> str:
    """At the response deadline: if still unacknowledged, record, count and escalate."""
    ctx = current()
    work = Work(Kind.DEADLINE, incident_id, generation)
    not_due = _not_due(ctx, work)
    if not_due:
        return not_due
    return _leased(ctx, work, lambda: _check_deadline(ctx, work))


def _check_deadline(ctx: WorkerContext, work: Work) -> str:
    incident = ctx.store.get(work.incident_id)
    if incident is None or not incident.is_paging(work.generation):
        return "met"
    sev = incident.severity.value
    held = _silenced(ctx, incident, lambda: _firing(ctx, incident))
    if held is not None:
        ctx.store.record(
            incident.id,
            "deadline_missed",
            f"{sev} response deadline passed unacknowledged while silenced ({held[0]}): "
            "nobody paged",
            _now(),
            stats=stats.count("triaged_response_deadlines_missed_total", severity=sev),
        )
        return "silenced"
    ctx.store.record(
        incident.id,
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
            work,
            "deadline",
            len(steps) - 1,
            reason="response deadline missed",
            budget=120.0,
        )
    return "missed"


def _run_step(
    ctx: WorkerContext, incident: Incident, work: Work, cycle: int, step: int, reason: str
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
    contacts, empty = d.steps[step].who(_now())
    # Schedule what follows before sending, so a crash mid-send loses no escalation.
    # A step with nobody to page (its rotations have nobody on call) does not wait
    # out the next step's delay: the next step is due at once.
    nxt = escalation.next_step(len(d.steps), d.repeat, cycle, step)
    if nxt is not None:
        delay = escalation.delay_before(d.steps, nxt[1]) if contacts else 0.0
        due = redis_time(ctx.redis) + delay
        following = Work(Kind.PAGE, incident.id, work.generation, *nxt)
        if schedule(ctx.raw, following, due):
            at = datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds")
            ctx.store.record(
                incident.id,
                "escalation_scheduled",
                f"step {nxt[1]} ({_who(d.steps[nxt[1]])}) at {at} unless acknowledged",
                _now(),
                due=due,
            )
    if not contacts:
        then = f"falling through to step {nxt[1]} at once" if nxt else "no step follows"
        ctx.store.record(
            incident.id,
            "step_fell_through",
            f"step {step}: nobody on call in {', '.join(empty)}; {then}",
            _now(),
            step=step,
        )
        return
    budget = escalation.step_budget(d.steps, d.repeat, cycle, step)
    _send_step(ctx, incident, work, cycle, step, reason, budget)


def _who(step: ResolvedStep) -> str:
    """A step's contacts and rotations, for the timeline."""
    names = [c.name for c in step.contacts] + [f"on call in {r.name}" for r in step.rotations]
    return ", ".join(names)


def _diagnosis(ctx: WorkerContext, incident: Incident) -> list[dict[str, Any]]:
    """One row per probe of the decision, in order; 'pending' for unfinished ones."""
    done_rows = ctx.store.diagnosis(incident.id)
    budget = (incident.decision.policy.diagnosis_budget or DEFAULT_BUDGET).total_seconds()
    return [
        done_rows.get(p.name) or pending(p, budget).model_dump(mode="json")
        for p in incident.decision.probes
    ]


@dataclass(frozen=True)
class _Step:
    """One escalation step being sent: everything each page of it needs."""

    ctx: WorkerContext
    incident: Incident
    work: Work
    cycle: int | str
    step: int
    reason: str
    budget: float
    diagnosis: list[dict[str, Any]]
    message: str | None = None


def _send_step(
    ctx: WorkerContext,
    incident: Incident,
    work: Work,
    cycle: int | str,
    step: int,
    reason: str,
    budget: float,
) -> None:
    contacts, _ = incident.decision.steps[step].who(_now())
    who = ", ".join(c.name for c in contacts) or "nobody on call"
    marker = keys.step_started(f"{work.member}:{cycle}")
    if cycle == "update":
        ctx.store.record(
            incident.id, "diagnosis_update", f"every probe is in: updating {who}", _now()
        )
    elif ctx.redis.set(marker, "1", nx=True, ex=30 * 24 * 3600):
        ctx.store.record(
            incident.id,
            "escalation_step",
            f"{reason}: paging {who}",
            _now(),
            stats=stats.count("triaged_escalation_steps_total", severity=incident.severity.value),
            step=step,
        )
    else:
        ctx.store.record(
            incident.id,
            "escalation_step_resumed",
            f"{reason}: resuming (pages already sent are not sent again): {who}",
            _now(),
            step=step,
        )
    run = _Step(ctx, incident, work, cycle, step, reason, budget, _diagnosis(ctx, incident))
    if (cycle, step) == (0, 0) and any(d.get("outcome") == "pending" for d in run.diagnosis):
        pending_mark = keys.pending_diagnosis(incident.id, work.generation)
        ctx.redis.set(pending_mark, "1", ex=7 * 24 * 3600)
    with ThreadPoolExecutor(max_workers=min(8, len(contacts) or 1)) as pool:
        reached = list(pool.map(lambda c: _page_contact(run, c), contacts))
    log.info(
        "incident %s step %s: %d of %d contacts reached",
        incident.id,
        step,
        sum(reached),
        len(contacts),
    )


def _page_contact(run: _Step, contact: ResolvedContact) -> bool:
    """Page one contact: every ``log`` channel writes (a record, not a delivery);
    the other channels are tried in their order, each with an equal share of what
    is left of the step's time, until one delivers. A channel that refuses the page
    (4xx) or is still failing when its share ends hands the page to the next one.
    True when a channel delivered (or had delivered already)."""
    kinds = [ch.kind for ch in contact.channels]
    for i, kind in enumerate(kinds):
        if kind == "log":
            _page_one(run, contact, i, run.budget)
    chain = [i for i, kind in enumerate(kinds) if kind != "log"]
    if not chain:
        return bool(kinds)
    started = time.monotonic()
    for pos, index in enumerate(chain):
        left = len(chain) - pos
        share = max((run.budget - (time.monotonic() - started)) / left, 1.0)
        following = kinds[chain[pos + 1]] if pos + 1 < len(chain) else None
        result = _page_one(run, contact, index, share, following)
        if result is None or result.sent:
            return True  # None: sent (or being sent) already by another run
    return False


def _page_one(
    run: _Step,
    contact: ResolvedContact,
    index: int,
    budget: float,
    following: str | None = None,
) -> Delivery | None:
    ctx, incident = run.ctx, run.incident
    channel = contact.channels[index]
    kind = channel.kind
    key = idempotency_key(
        incident.id, run.work.generation, run.cycle, run.step, contact.name, index
    )
    # The claim belongs to the work item, so a re-drive of a step whose worker died
    # takes it over at once and sends with the same Idempotency-Key.
    if not ctx.store.claim_page(key, run.work.member, CLAIM_HOLD_S):
        return None  # sent (or being sent) already: never page twice
    ack_url = acklink.make_url(
        ctx.settings.public_url,
        ctx.settings.ack_key.get_secret_value().encode(),
        incident.id,
        contact.name,
        _now().timestamp(),
    )
    body = build_page(
        incident, run.diagnosis, run.step, contact.name, contact.role, ack_url, run.reason
    )
    if run.message:
        body = body.model_copy(update={"message": run.message})
    send = SENDERS[kind]
    result = deliver(lambda: send(channel, body, key, ctx.http, ctx.environ), budget, ctx.rng)
    ctx.store.finish_page(key, "sent" if result.sent else "failed")
    if result.sent and kind in MIRRORED:
        ctx.redis.sadd(keys.mirrors(incident.id), f"{contact.name}|{index}")
        ctx.redis.expire(keys.mirrors(incident.id), 30 * 24 * 3600)
    if result.sent and ctx.store.mark_first_page(incident.id, _now()):
        waited = redis_time(ctx.redis) - ctx.store.created_ts(incident.id)
        ctx.store.add_stats(
            stats.observe(
                "triaged_time_to_first_page_seconds", waited, severity=incident.severity.value
            )
        )
    incs = stats.count("triaged_pages_total", result.retried, channel=kind, outcome="retried")
    if result.sent:
        incs += stats.count("triaged_pages_total", channel=kind, outcome="sent")
        entry, detail = "page_sent", f"{contact.name} via {kind}: {result.detail}"
    else:
        incs += stats.count("triaged_pages_total", channel=kind, outcome="failed")
        if result.permanent:
            incs += stats.count("triaged_pages_misconfigured_total", channel=kind)
        why = "channel refused the page (misconfigured?)" if result.permanent else "retries spent"
        entry, detail = "page_failed", f"{contact.name} via {kind}: {why}: {result.detail}"
        if following is not None:
            detail += f"; handing the page to {following}"
    ctx.store.record(
        incident.id,
        entry,
        detail,
        _now(),
        stats=incs,
        contact=contact.name,
        channel=kind,
        attempts=result.attempts,
        step=run.step,
    )
    return result


MIRROR_ACTIONS = {1: "acknowledge", 2: "resolve"}


def mirror(incident_id: str, generation: int, action_code: int, _unused: int = 0) -> str:
    """Tell the PagerDuty / Opsgenie channels that paged the incident that it was
    acknowledged (``action_code`` 1) or resolved (2) here, so their own alert stops."""
    ctx = current()
    incident = ctx.store.get(incident_id)
    action = MIRROR_ACTIONS.get(action_code)
    if incident is None or action is None:
        return "skipped"
    by = incident.acknowledged_by or "triaged"
    people = [
        c
        for step in incident.decision.steps
        for c in [*step.contacts, *(m for r in step.rotations for m in r.members)]
    ]
    channels = {
        f"{c.name}|{i}": ch
        for c in people
        for i, ch in enumerate(c.channels)
        if ch.kind in MIRRORED
    }
    told = 0
    for entry in sorted(ctx.redis.smembers(keys.mirrors(incident_id))):  # type: ignore[union-attr]
        spec = channels.get(str(entry))
        if spec is None:
            continue
        send = functools.partial(
            MIRRORED[spec.kind], spec, incident_id, action, by, ctx.http, ctx.environ
        )
        result = deliver(send, 60.0, ctx.rng)
        contact = str(entry).split("|")[0]
        entry_kind = "mirrored" if result.sent else "mirror_failed"
        verb = "acknowledged" if action == "acknowledge" else "resolved"
        ctx.store.record(
            incident_id,
            entry_kind,
            f"{spec.kind} ({contact}): {verb} there too: {result.detail}"
            if result.sent
            else f"{spec.kind} ({contact}): could not mark it {verb}: {result.detail}",
            _now(),
            channel=spec.kind,
        )
        told += result.sent
    return f"{action}: told {told}"


DIGEST_SHOWN = 200  # incidents listed in one digest


def digest(_all: str, scheduled: int) -> str:
    """Send the SEV-4 digest due at ``scheduled`` (Unix time): the SEV-4 incidents
    opened since the digest before, to the digest's contacts (each contact's
    channels in order, until one delivers), and as a ticket to ``ticket_webhook``;
    then schedule the next one. An empty digest is not sent."""
    ctx = current()
    work = Work(Kind.DIGEST, "all", scheduled)
    not_due = _not_due(ctx, work)
    if not_due:
        return not_due
    return _leased(ctx, work, lambda: _digest(ctx, scheduled))


def _digest(ctx: WorkerContext, scheduled: int) -> str:
    raw = ctx.redis.get(keys.digest_config())
    if not raw:
        return "no digest configured"
    config = json.loads(raw)  # type: ignore[arg-type]
    settings = Digest.model_validate(config["digest"])
    at = datetime.fromtimestamp(scheduled, UTC)
    if int(next_digest(settings, at - timedelta(seconds=1)).timestamp()) != scheduled:
        return "stale (the digest settings changed)"
    since = previous_digest(settings, at)
    following = next_digest(settings, at)
    schedule(ctx.raw, Work(Kind.DIGEST, "all", int(following.timestamp())), following.timestamp())
    ids = [
        str(i)
        for i in ctx.redis.zrangebyscore(keys.incident_index(), since.timestamp(), scheduled)  # type: ignore[union-attr]
    ]
    pipe = ctx.redis.pipeline(transaction=False)
    for incident_id in ids:
        pipe.hmget(keys.incident(incident_id), "severity", "status", "summary", "created_at")
    found = [
        {"id": i, "status": status, "summary": summary, "created_at": created}
        for i, (severity, status, summary, created) in zip(ids, pipe.execute(), strict=True)
        if severity == "SEV-4"
    ]
    if not found:
        return "nothing to send"
    shown = found[:DIGEST_SHOWN]
    page = Page(
        incident_id=f"digest-{at.date().isoformat()}",
        severity="SEV-4",
        summary=f"{len(found)} SEV-4 incidents since {since.isoformat(timespec='minutes')}",
        labels={},
        diagnosis=[
            {
                "name": str(f["summary"])[:120],
                "outcome": str(f["status"]),
                "detail": f["id"],
                "duration_s": 0.0,
            }
            for f in shown
        ],
        escalation_step=0,
        ack_url=f"{config['public_url']}/api/v1/incidents?status=open",
        contact="",
        role="",
        status="digest",
        rule=None,
        why="SEV-4: next sprint (collected, not paged)",
        created_at=at.isoformat(),
        reason="SEV-4 digest",
    )
    reached = 0
    for item in config["contacts"]:
        contact = ResolvedContact.model_validate(item)
        body = page.model_copy(update={"contact": contact.name, "role": contact.role})
        for index, channel in enumerate(contact.channels):
            key = f"digest-{scheduled}-{contact.name}-{index}"
            send = functools.partial(
                SENDERS[channel.kind], channel, body, key, ctx.http, ctx.environ
            )
            result = deliver(send, 60.0, ctx.rng)
            log.info("digest to %s via %s: %s", contact.name, channel.kind, result.detail)
            if result.sent and channel.kind != "log":
                reached += 1
                break
    if settings.ticket_webhook is not None:
        ticket = {
            "title": page.summary,
            "since": since.isoformat(),
            "until": at.isoformat(),
            "incidents": found,
        }

        def post() -> str:
            return _post_ticket(ctx, str(settings.ticket_webhook), ticket)

        result = deliver(post, 60.0, ctx.rng)
        log.info("digest ticket: %s", result.detail)
    return f"sent {len(found)} incidents to {reached} contacts"


def _post_ticket(ctx: WorkerContext, url: str, ticket: dict[str, Any]) -> str:
    try:
        response = ctx.http.post(url, json=ticket, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise RetryableSendError(f"{type(exc).__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableSendError(f"HTTP {response.status_code}")
    if response.status_code >= 300:
        raise PermanentSendError(f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"
