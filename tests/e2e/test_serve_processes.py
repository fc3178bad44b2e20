"""`triaged serve --processes N`: N receivers share one port and all stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.support.ports import free_port
from tests.support.wait import wait_until

EXAMPLES = Path(__file__).parents[2] / "rules" / "examples" / "quickstart"


def serve_two(rules: Path, port: int, tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """`triaged serve --processes 2` on ``port``, its log in ``tmp_path``."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "triaged"),
            "serve",
            "--rules",
            str(rules),
            "--listen",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
        ],
        env={**os.environ, "TRIAGED_ACK_KEY": "k", **env},
        stderr=(tmp_path / "serve.log").open("w"),
    )


def test_processes_share_the_port_and_stop_together(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = serve_two(EXAMPLES, port, tmp_path, REDIS_URL=redis_url)
    try:

        def alive() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/alive", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(alive, timeout=30, message="serve did not answer /alive")

        def listeners() -> set[int]:
            return {
                c.pid
                for c in psutil.Process(proc.pid).children(recursive=True)
                if "spawn_main" in " ".join(c.cmdline())
                for conn in c.net_connections(kind="tcp")
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
            }

        # SO_REUSEPORT: both processes accept on the one port
        def two_listeners() -> set[int] | None:
            found = listeners()
            return found if len(found) == 2 else None

        pids = wait_until(
            two_listeners, timeout=30, message="two processes never listened on the port"
        )
        servers = [psutil.Process(pid) for pid in pids]
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
    gone, alive_left = psutil.wait_procs(servers, timeout=10)
    assert alive_left == []


def test_sighup_reloads_every_process(redis_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in EXAMPLES.glob("*.yaml"):
        (rules / f.name).write_text(f.read_text())
    port = free_port()
    # with the watcher off, only the SIGHUP the parent hands on can reload them
    proc = serve_two(rules, port, tmp_path, REDIS_URL=redis_url, TRIAGED_RULES_POLL_SECONDS="0")
    seen: dict[int, str] = {}  # pid -> the version it last answered

    def ask() -> None:
        try:  # a new connection each time: the kernel spreads them over both processes
            doc = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=1).json()
        except httpx.HTTPError:
            return
        seen[doc["pid"]] = doc["version"]

    def both() -> bool:
        ask()
        return len(seen) == 2

    try:
        wait_until(both, timeout=30, message="both processes answering")
        [before] = set(seen.values())
        (rules / "zz-new.yaml").write_text(
            "rules:\n  - name: new\n    matchers: ['alertname = \"New\"']\n    severity: SEV-2\n"
        )
        proc.send_signal(signal.SIGHUP)

        def both_reloaded() -> bool:
            ask()
            return len(seen) >= 2 and before not in seen.values()

        wait_until(both_reloaded, timeout=30, message="every process on the new rules")
        assert proc.poll() is None  # SIGHUP reloads; it stops nothing
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
