"""The benchmark still runs: the quick ingest section with tiny counts (well under 30 s).

It asserts that figures came out (both receivers answered, nothing refused), never
how fast: speed is what `make bench` reports, on a quiet machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_ingest_section_produces_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--sections",
        "ingest",
        "--sizes",
        "10",
        "--warmup",
        "0.2",
        "--duration",
        "0.5",
        "--max-requests",
        "150",
        "--no-write",
        "--json",
        str(out),
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the bench stops everything it started on SIGTERM
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        raise AssertionError(f"bench did not finish in time\n{stderr[-3000:]}") from None
    assert proc.returncode == 0, stderr[-3000:]
    assert "## Ingest" in stdout and "| nproc |" in stdout

    figures = json.loads(out.read_text())
    phases = {(p["target"], p["mode"]): p for p in figures["ingest"]}
    assert set(phases) == {
        ("triaged", "new"),
        ("triaged", "repeat"),
        ("reference", "new"),
        ("reference", "repeat"),
    }
    for (target, mode), phase in phases.items():
        where = f"{target}/{mode}: {phase}"
        assert phase["size"] == 10, where
        assert phase["requests"] > 0, where
        assert phase["alerts_per_s"] > 0, where
        assert phase["non_2xx"] == 0, where
        assert phase["p50_ms"] is not None and phase["p50_ms"] > 0, where
        assert phase["p99_ms"] >= phase["p50_ms"], where
    ratios = [c for c in figures["checks"] if "triaged / reference" in c["figure"]]
    assert ratios and all(c["measured"] != "–" for c in ratios if "10/request" in c["figure"])


def test_history_figures_come_out() -> None:
    """The history bench keeps every alert it posted and replays them all (exit 0)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.history"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20,000 alerts kept" in proc.stdout and "bytes/alert" in proc.stdout
    assert "replay: 20,000 alerts read and classified" in proc.stdout
