"""Time to page, escalation precision and memory: ``triaged run`` end to end.

Each section starts its own ``triaged run --workers 2`` (receiver, 2 forking RQ
page workers and an in-process probe worker, each with its auditor) on its own
append-only Redis (triaged's EmbeddedRedis, handed over as REDIS_URL so the
benchmark owns and inspects it), with the rules of ``bench.common.write_rules``:
the probe and every contact's webhook point at the benchmark's recorder
(``bench.recorder``), which answers 200 at once.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bench.common import (
    child_env,
    cmdline,
    free_port,
    http_json,
    log,
    percentile,
    rss_mib,
    triaged_executable,
    wait_http_ok,
    wait_until,
    write_rules,
)
from bench.loadgen import LoadResult, LoadRun, LoadSpec, run_load
from bench.payloads import BodyMaker, BodySpec
from bench.procs import Processes, Started
from bench.recorder import Recorder
from receiver.incidents import keys

PATH = "/api/v1/alerts/alertmanager"
PAGE_ARRIVES = "(the page arrives at the recorder)"


@dataclass
class Deployment:
    run: Started
    port: int
    redis_url: str
    redis_pid: int
    client: redis.Redis

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def idle(self) -> bool:
        """Nothing stored-but-not-enqueued, nothing queued, no job running (any queue)."""
        c = self.client
        if c.zcard(keys.outbox()) != 0:
            return False
        for queue_key in c.smembers("rq:queues"):  # RQ's set of every queue's key
            name = str(queue_key).removeprefix("rq:queue:")
            # RQ 2.x: the queue's list, and its StartedJobRegistry ("wip")
            if c.llen(f"rq:queue:{name}") or c.zcard(f"rq:wip:{name}"):
                return False
        return True

    def roles(self) -> dict[str, list[int]]:
        """PIDs by role: the supervisor, its receiver and worker children, and the
        workers' own long-lived children (helpers; RQ work horses come and go)."""
        import psutil

        out: dict[str, list[int]] = {
            "supervisor": [self.run.pid],
            "receiver": [],
            "worker": [],
            "worker helper": [],
        }
        try:
            children = psutil.Process(self.run.pid).children()
        except psutil.Error:
            return out
        for child in children:
            args = cmdline(child.pid).split()
            if "serve" in args:
                out["receiver"].append(child.pid)
            elif "worker" in args:
                out["worker"].append(child.pid)
                out["worker helper"] += _children(child.pid)
        return out


def start_run(procs: Processes, workdir: Path, recorder_port: int, workers: int = 2) -> Deployment:
    workdir.mkdir(parents=True, exist_ok=True)
    server = procs.redis(workdir / "redis")
    assert server.process is not None
    rules = write_rules(workdir / "rules", recorder_port)
    port = free_port()
    run = procs.spawn(
        "triaged run",
        [
            triaged_executable(),
            "run",
            "--rules",
            str(rules),
            "--listen",
            f"127.0.0.1:{port}",
            "--data",
            str(workdir / "data"),
            "--workers",
            str(workers),
        ],
        env=child_env(REDIS_URL=server.url, TRIAGED_ACK_KEY="bench-ack-key"),
        log_path=workdir / "triaged-run.log",
    )
    try:
        # /health is 200 once Redis answers and a worker is alive
        wait_http_ok(f"http://127.0.0.1:{port}/health", 60, alive=run.alive)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        wait_until(
            lambda: client.scard("rq:workers") >= workers, 30, f"{workers} workers registered"
        )
    except (TimeoutError, RuntimeError) as exc:
        raise RuntimeError(f"triaged run did not start: {exc}\n{run.log_tail()}") from exc
    return Deployment(run, port, server.url, server.process.pid, client)


def stop_run(procs: Processes, deploy: Deployment) -> None:
    deploy.client.close()
    procs.stop(deploy.run)
    for server in list(procs.redises):
        if server.url == deploy.redis_url:
            procs.stop_redis(server)


async def _wait_idle(deploy: Deployment, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(deploy.idle):
            return True
        await asyncio.sleep(0.1)
    return False


# -- time to page -----------------------------------------------------------------


@dataclass(frozen=True)
class PageConfig:
    samples: int = 150
    gap_s: float = 0.1  # mean pause between samples (uniform 0.5x..1.5x)
    page_timeout_s: float = 10.0
    section_budget_s: float = 90.0  # per load level, bounds the sampling loop
    background_alerts_per_s: float = 1000.0
    background_alerts_per_request: int = 10
    background_groups: int = 100
    background_warmup_s: float = 2.0
    stage_samples: int = 50  # incidents whose timelines are read for the breakdown


@dataclass
class Samples:
    label: str
    ttp: list[float] = field(default_factory=list)  # seconds, sorted at the end
    post: list[float] = field(default_factory=list)
    missing: int = 0
    refused: int = 0
    sent: list[tuple[str, float]] = field(default_factory=list)  # (incident, POST wall time)
    arrived: dict[str, float] = field(default_factory=dict)  # incident -> time to page (s)
    # timeline kind -> offsets (s) from the POST of its first entry, over some samples
    stages: dict[str, list[float]] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return percentile(self.ttp, q) * 1000


@dataclass
class PageResults:
    idle: Samples
    loaded: Samples
    background: LoadResult | None = None
    background_target: float = 0.0
    workers: list[str] = field(default_factory=list)  # worker command lines' tails


async def _samples(
    http: aiohttp.ClientSession,
    deploy: Deployment,
    recorder: Recorder,
    cfg: PageConfig,
    label: str,
    salt: int,
) -> Samples:
    out = Samples(label)
    maker = BodyMaker(BodySpec(kind="page", alerts=1, mode="new", salt=salt))
    url = deploy.base + PATH
    rng = random.Random(salt)
    budget_end = time.monotonic() + cfg.section_budget_s
    for i in range(cfg.samples):
        if time.monotonic() > budget_end:
            log(f"time to page ({label}): budget spent after {i} samples")
            break
        body = maker.body(i)
        wall0, t0 = time.time(), time.monotonic()
        try:
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                status = resp.status
                answer: Any = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            out.refused += 1
            continue
        out.post.append(time.monotonic() - t0)
        if status != 202 or not answer.get("incidents"):
            out.refused += 1
            continue
        incident = answer["incidents"][0]["id"]
        out.sent.append((incident, wall0))
        page = await recorder.wait("oncall", incident, cfg.page_timeout_s)
        if page is None:
            out.missing += 1
        else:
            out.ttp.append(page.mono - t0)
            out.arrived[incident] = page.mono - t0
        await asyncio.sleep(cfg.gap_s * rng.uniform(0.5, 1.5))
    out.ttp.sort()
    out.post.sort()
    await asyncio.to_thread(_stages, deploy, out, cfg.stage_samples)
    return out


def _stages(deploy: Deployment, out: Samples, limit: int) -> None:
    """Offsets from the POST to each timeline entry kind (its first entry), from the
    incident timelines (wall clock, written by the receiver and the workers)."""
    for incident, wall0 in out.sent[:limit]:
        try:
            status, detail = http_json("GET", f"{deploy.base}/api/v1/incidents/{incident}")
        except OSError:
            continue
        if status != 200:
            continue
        seen: set[str] = set()
        for entry in detail.get("timeline", []):
            kind = str(entry.get("kind"))
            when = entry.get("time") or entry.get("at")
            if kind in seen or not when:
                continue
            seen.add(kind)
            out.stages.setdefault(kind, []).append(_ts(str(when)) - wall0)
        if incident in out.arrived:
            out.stages.setdefault(PAGE_ARRIVES, []).append(out.arrived[incident])
        # RQ's own timestamps of the incident's jobs: enqueued, started (in the work
        # horse, after the fork), ended
        for key in deploy.client.scan_iter(match=f"rq:job:*{incident}*", count=1000):
            job = str(key).removeprefix("rq:job:").replace(f"-{incident}", "")
            fields = deploy.client.hmget(key, "enqueued_at", "started_at", "ended_at")
            for name, value in zip(("enqueued", "started", "ended"), fields, strict=True):
                if value:
                    stage = f"RQ job {job}: {name}"
                    out.stages.setdefault(stage, []).append(_ts(str(value)) - wall0)


async def time_to_page(procs: Processes, workdir: Path, cfg: PageConfig) -> PageResults:
    recorder = await Recorder().start()
    deploy: Deployment | None = None
    try:
        deploy = await asyncio.to_thread(start_run, procs, workdir, recorder.port)
        workers = [" ".join(cmdline(pid).split()[-3:]) for pid in deploy.roles()["worker"]]
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            # one unmeasured page: first imports, first connections
            await _samples(http, deploy, recorder, PageConfig(samples=1), "warm-up", 0x7000)
            log(f"time to page: idle, {cfg.samples} samples")
            idle = await _samples(http, deploy, recorder, cfg, "idle", 0x7100)
            log(f"  p50 {idle.p(50):.1f} ms, p99 {idle.p(99):.1f} ms, missing {idle.missing}")

            per_req = cfg.background_alerts_per_request
            groups = cfg.background_groups
            group_salt = 0x7E00
            # open the background groups first (SEV-4: one not_paged job each), unmeasured
            await asyncio.to_thread(
                run_load,
                LoadSpec(
                    port=deploy.port,
                    path=PATH,
                    body=BodySpec("background", per_req, "groups", groups, 0, group_salt),
                    connections=8,
                    max_requests=groups,
                    warmup_s=0.0,
                    duration_s=30.0,
                    rate=200.0,
                    processes=1,
                ),
            )
            await _wait_idle(deploy, 60)
            rate = cfg.background_alerts_per_s / per_req
            sampling_s = cfg.section_budget_s
            spec = LoadSpec(
                port=deploy.port,
                path=PATH,
                body=BodySpec("background", per_req, "groups", groups, 0, group_salt),
                connections=16,
                max_requests=int(rate * (cfg.background_warmup_s + sampling_s)) + 1,
                warmup_s=cfg.background_warmup_s,
                duration_s=sampling_s,
                rate=rate,
                processes=1,
            )
            log(f"time to page: under {cfg.background_alerts_per_s:,.0f} alerts/s of background")
            background = LoadRun(spec, salt_base=0x7A00).start()
            try:
                await asyncio.sleep(background.start_at + spec.warmup_s - time.monotonic())
                loaded = await _samples(http, deploy, recorder, cfg, "loaded", 0x7200)
            finally:
                background.stop()
                bg = await asyncio.to_thread(background.wait)
            log(
                f"  p50 {loaded.p(50):.1f} ms, p99 {loaded.p(99):.1f} ms, missing "
                f"{loaded.missing}; background {bg.alerts_per_s:,.0f} alerts/s, "
                f"non-2xx {bg.non_2xx}"
            )
        return PageResults(idle, loaded, bg, cfg.background_alerts_per_s, workers)
    finally:
        await recorder.stop()
        if deploy is not None:
            await asyncio.to_thread(stop_run, procs, deploy)


# -- escalation precision ---------------------------------------------------------


@dataclass(frozen=True)
class EscalationConfig:
    incidents: int = 30
    stagger_s: float = 0.137  # spreads the due times over the scheduler's 1 s polls
    slack_s: float = 20.0  # after the last due time, how long to wait for pages


_SCHEDULED = re.compile(r"^step (\d+) \(.*\) at (\S+) unless acknowledged$")


@dataclass
class EscalationResults:
    lateness: list[float] = field(default_factory=list)  # seconds, sorted
    early: int = 0  # page arrived before its due time
    early_of_stated: int = 0  # before even the (whole-second) time the timeline states
    expected: int = 0
    missing: int = 0
    incidents: int = 0
    due_source: str = "timeline `due`"
    problems: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.lateness, q) * 1000


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def escalation(procs: Processes, workdir: Path, cfg: EscalationConfig) -> EscalationResults:
    recorder = await Recorder().start()
    deploy: Deployment | None = None
    out = EscalationResults()
    try:
        deploy = await asyncio.to_thread(start_run, procs, workdir, recorder.port)
        maker = BodyMaker(BodySpec(kind="escalate", alerts=1, mode="new", salt=0x7300))
        ids: list[str] = []
        timeout = aiohttp.ClientTimeout(total=10)
        log(f"escalation: {cfg.incidents} incidents, steps after 2s and 2s more")
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for i in range(cfg.incidents):
                t0 = time.monotonic()
                async with http.post(
                    deploy.base + PATH,
                    data=maker.body(i),
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    answer: Any = await resp.json(content_type=None)
                if resp.status == 202 and answer.get("incidents"):
                    ids.append(answer["incidents"][0]["id"])
                else:
                    out.problems.append(f"POST answered {resp.status}")
                await asyncio.sleep(max(0.0, cfg.stagger_s - (time.monotonic() - t0)))
            out.incidents = len(ids)
            # every incident's last step: 4 s after its first page, plus slack
            for incident in ids:
                await recorder.wait("esc-c", incident, cfg.slack_s)
        for incident in ids:
            status, detail = await asyncio.to_thread(
                http_json, "GET", f"{deploy.base}/api/v1/incidents/{incident}"
            )
            if status != 200:
                out.problems.append(f"GET incident {incident}: {status}")
                continue
            steps = detail["decision"]["escalation"]
            for entry in detail["timeline"]:
                if entry["kind"] != "escalation_scheduled":
                    continue
                m = _SCHEDULED.match(entry["detail"])
                if not m:
                    out.problems.append(f"unparsed timeline entry: {entry['detail']!r}")
                    continue
                step = int(m.group(1))
                stated = _ts(m.group(2))
                if isinstance(entry.get("due"), int | float):
                    due = float(entry["due"])  # the exact due time (Redis clock)
                else:
                    # scheduled just before this entry was written, due `after` later
                    when = entry.get("time") or entry.get("at")
                    due = _ts(str(when)) + float(steps[step]["after_seconds"])
                    out.due_source = "entry time + after"
                out.expected += 1
                page = next(
                    (p for p in recorder.pages if p.incident_id == incident and p.step == step),
                    None,
                )
                if page is None:
                    out.missing += 1
                    continue
                late = page.wall - due
                out.lateness.append(late)
                out.early += late < 0
                out.early_of_stated += page.wall < stated
        out.lateness.sort()
        log(
            f"  lateness p50 {out.p(50):.0f} ms, p99 {out.p(99):.0f} ms, early {out.early} "
            f"of {len(out.lateness)}, missing {out.missing}"
        )
        return out
    finally:
        await recorder.stop()
        if deploy is not None:
            await asyncio.to_thread(stop_run, procs, deploy)


# -- memory -----------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryConfig:
    alerts: int = 10_000
    duration_s: float = 10.0
    groups: int = 100
    alerts_per_request: int = 10
    drain_timeout_s: float = 120.0


@dataclass
class MemoryRow:
    name: str
    pid: int
    before: float = math.nan  # RSS, MiB
    peak: float = math.nan
    after: float = math.nan


@dataclass
class MemoryResults:
    rows: list[MemoryRow] = field(default_factory=list)
    horse_peak: float = math.nan  # largest RQ work horse seen (MiB)
    redis_before: float = math.nan  # used_memory, MiB
    redis_after: float = math.nan
    storm: LoadResult | None = None
    pages: int = 0
    drained_s: float = math.nan
    config: MemoryConfig = field(default_factory=MemoryConfig)


async def memory(procs: Processes, workdir: Path, cfg: MemoryConfig) -> MemoryResults:
    recorder = await Recorder().start()
    deploy: Deployment | None = None
    out = MemoryResults(config=cfg)
    try:
        deploy = await asyncio.to_thread(start_run, procs, workdir, recorder.port)
        # one alert through the whole path first, so "before" is a warmed-up process
        maker = BodyMaker(BodySpec(kind="page", alerts=1, mode="new", salt=0x7400))
        status, answer = await asyncio.to_thread(_post_bytes, deploy, maker.body(0))
        if status == 202:
            await recorder.wait("oncall", answer["incidents"][0]["id"], 10)
        await _wait_idle(deploy, 30)
        await asyncio.sleep(1.0)
        roles = deploy.roles()
        if len(roles["receiver"]) != 1 or not roles["worker"]:
            raise RuntimeError(f"could not tell receiver and workers apart: {roles}")
        for role in ("receiver", "worker", "supervisor"):
            for i, pid in enumerate(roles[role]):
                name = role if len(roles[role]) == 1 else f"{role} {i + 1}"
                if role == "worker":
                    args = cmdline(pid).split()
                    extra = " ".join(args[args.index("worker") + 1 :])
                    name += f" (`{extra}`)" if extra else ""
                out.rows.append(MemoryRow(name, pid))
                if role == "worker":
                    for helper in _children(pid):
                        out.rows.append(MemoryRow(f"{name}: {_helper_kind(pid, helper)}", helper))
        for row in out.rows:
            row.before = row.peak = rss_mib(row.pid)
        out.redis_before = deploy.client.info("memory")["used_memory"] / 2**20
        requests = cfg.alerts // cfg.alerts_per_request
        spec = LoadSpec(
            port=deploy.port,
            path=PATH,
            body=BodySpec("storm", cfg.alerts_per_request, "groups", cfg.groups, 0, 0x7500),
            connections=16,
            max_requests=requests,
            warmup_s=0.0,
            duration_s=cfg.duration_s,
            rate=requests / cfg.duration_s,
            processes=1,
        )
        log(f"memory: storm of {cfg.alerts:,} alerts in {cfg.duration_s:g} s, {cfg.groups} groups")
        out.horse_peak = 0.0
        storm = LoadRun(spec, salt_base=0x7600).start()
        waiter = asyncio.create_task(asyncio.to_thread(storm.wait))
        started = time.monotonic()
        drained = False
        deadline = started + cfg.duration_s + cfg.drain_timeout_s
        try:
            while time.monotonic() < deadline:
                for row in out.rows:
                    row.peak = max(row.peak, rss_mib(row.pid))
                for pid in roles["worker"]:
                    for horse in _children(pid):
                        if horse not in roles["worker helper"]:
                            out.horse_peak = max(out.horse_peak, rss_mib(horse))
                if waiter.done():
                    done = len(recorder.incidents("oncall")) >= cfg.groups + 1
                    if done and await asyncio.to_thread(deploy.idle):
                        drained = True
                        break
                await asyncio.sleep(0.25)
        finally:
            out.storm = await waiter
        out.drained_s = time.monotonic() - started if drained else math.nan
        out.pages = len(recorder.incidents("oncall")) - 1
        await asyncio.sleep(2.0)
        for row in out.rows:
            row.after = rss_mib(row.pid)
        out.redis_after = deploy.client.info("memory")["used_memory"] / 2**20
        top = out.rows[0]
        log(
            f"  {top.name} {top.before:.0f} -> {top.after:.0f} MiB; all measured: "
            f"{sum(r.before for r in out.rows):.0f} -> {sum(r.after for r in out.rows):.0f} MiB"
        )
        return out
    finally:
        await recorder.stop()
        if deploy is not None:
            await asyncio.to_thread(stop_run, procs, deploy)


def _helper_kind(parent: int, pid: int) -> str:
    line = cmdline(pid)
    if "resource_tracker" in line:
        return "multiprocessing resource tracker"
    if "spawn_main" in line:
        return "spawned child process"
    if line == cmdline(parent):
        return "forked child (RQ scheduler)"
    return line[:60]


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def _post_bytes(deploy: Deployment, body: bytes) -> tuple[int, Any]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        deploy.base + PATH, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None
