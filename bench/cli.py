"""`python -m bench`: every figure of issue 3, one markdown table, results.md.

    python -m bench                 # full run (about 7 minutes), writes bench/results.md
    python -m bench --quick         # smoke run (about 2 minutes), prints only
    python -m bench --sections ingest,page --output /tmp/r.md
    python -m bench --profile       # ingest under py-spy: where triaged's time goes

Sections: ``ingest``, ``page`` (time to page), ``escalation``, ``memory``.
Exit status: 0 when every section ran (targets missed or not: see the table; with
``--strict`` a missed target exits 1), 2 when a section could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cpumeter, ingest, paging
from bench.common import ROOT, log
from bench.procs import Processes
from bench.report import Report, checks, markdown

SECTIONS = ("ingest", "page", "escalation", "memory")
RESULTS = ROOT / "bench" / "results.md"


def _configs(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "ingest": ingest.IngestConfig(
                warmup_s=0.5, duration_s=1.5, drain_measure_s=2, quiet_timeout_s=3, retries=0
            ),
            "page": paging.PageConfig(samples=15, section_budget_s=20),
            "escalation": paging.EscalationConfig(incidents=6, slack_s=15),
            "memory": paging.MemoryConfig(alerts=2_000, duration_s=2.0, drain_timeout_s=60),
        }
    return {
        "ingest": ingest.IngestConfig(),
        "page": paging.PageConfig(),
        "escalation": paging.EscalationConfig(),
        "memory": paging.MemoryConfig(),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short smoke run; prints only")
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--output", type=Path, help="write the markdown here (full run: results.md)")
    p.add_argument("--no-write", action="store_true", help="print only, write no file")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--duration", type=float, help="ingest: measured seconds per row")
    p.add_argument("--warmup", type=float, help="ingest: warm-up seconds per row")
    p.add_argument("--max-requests", type=int, help="ingest: request bound per generator")
    p.add_argument("--sizes", help="ingest: alerts per request, comma-separated (default 1,10)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, AOF)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the ingest load under py-spy and print where triaged's time goes",
    )
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def _ingest_config(args: argparse.Namespace, base: ingest.IngestConfig) -> ingest.IngestConfig:
    cfg = base
    if args.duration is not None:
        cfg = replace(cfg, duration_s=args.duration)
    if args.warmup is not None:
        cfg = replace(cfg, warmup_s=args.warmup)
    if args.max_requests is not None:
        cfg = replace(cfg, max_requests=args.max_requests)
    if args.sizes:
        cfg = replace(cfg, sizes=tuple(int(x) for x in args.sizes.split(",")))
    return cfg


def _summary(report: Report) -> dict[str, Any]:
    """The figures, without raw samples (for --json and the smoke test)."""
    out: dict[str, Any] = {"mode": report.mode, "errors": report.errors}
    if report.ingest is not None:
        out["ingest"] = [asdict(p) for p in report.ingest.phases]
    if report.page is not None:
        out["page"] = {
            level: {
                "samples": len(s.ttp),
                "p50_ms": s.p(50),
                "p99_ms": s.p(99),
                "missing": s.missing,
            }
            for level, s in (("idle", report.page.idle), ("loaded", report.page.loaded))
        }
    if report.escalation is not None:
        e = report.escalation
        out["escalation"] = {
            "checked": len(e.lateness),
            "p50_ms": e.p(50),
            "p99_ms": e.p(99),
            "early": e.early,
            "missing": e.missing,
        }
    if report.memory is not None:
        out["memory"] = [asdict(r) for r in report.memory.rows]
    out["checks"] = [asdict(c) for c in checks(report)]

    def clean(x: Any) -> Any:
        if isinstance(x, float) and math.isnan(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return dict(clean(out))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.profile:
        from bench import profile

        return profile.main(args)
    cfgs = _configs(args.quick)
    cfgs["ingest"] = _ingest_config(args, cfgs["ingest"])
    report = Report(
        mode="quick" if args.quick else "full",
        started=datetime.now(UTC),
        settings={k: asdict(v) for k, v in cfgs.items()},
    )
    workdir = Path(tempfile.mkdtemp(prefix="triaged-bench-"))
    t0 = time.monotonic()
    log(f"work directory {workdir}; sections: {', '.join(args.sections)}")
    try:
        with Processes() as procs:
            for section in args.sections:
                meter = cpumeter.snapshot()
                try:
                    if section == "ingest":
                        report.ingest = ingest.run(procs, workdir / "ingest", cfgs["ingest"])
                    elif section == "page":
                        report.page = asyncio.run(
                            paging.time_to_page(procs, workdir / "page", cfgs["page"])
                        )
                    elif section == "escalation":
                        report.escalation = asyncio.run(
                            paging.escalation(procs, workdir / "escalation", cfgs["escalation"])
                        )
                    elif section == "memory":
                        report.memory = asyncio.run(
                            paging.memory(procs, workdir / "memory", cfgs["memory"])
                        )
                except Exception as exc:  # one broken section must not hide the others
                    log(f"section {section} failed:\n{traceback.format_exc()}")
                    report.errors[section] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    procs.stop_all()
                usage = cpumeter.since(meter)
                report.other_cpu[section] = usage.other
                log(
                    f"section {section}: {usage.seconds:.0f} s, others used {usage.other:.2f} cores"
                )
    except KeyboardInterrupt:
        log("interrupted: every started process was stopped")
        return 130
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.elapsed_s = time.monotonic() - t0
    text = markdown(report)
    print(text)
    # only a full run of every section replaces the committed figures
    full = not args.quick and set(args.sections) == set(SECTIONS)
    target = args.output or (RESULTS if full else None)
    if target is not None and not args.no_write:
        target.write_text(text)
        log(f"wrote {target}")
    if args.json is not None:
        args.json.write_text(json.dumps(_summary(report), indent=2))
    if report.errors:
        return 2
    if args.strict and any(c.ok is False for c in checks(report)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
