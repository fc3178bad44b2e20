"""`triaged serve --processes N`: N receivers share one port and all stop on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.support.ports import free_port
from tests.support.wait import wait_until

EXAMPLES = Path(__file__).parents[2] / "rules" / "examples" / "quickstart"


def test_processes_share_the_port_and_stop_together(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "triaged"),
            "serve",
            "--rules",
            str(EXAMPLES),
            "--listen",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
        ],
        env={**os.environ, "REDIS_URL": redis_url, "TRIAGED_ACK_KEY": "k"},
        stderr=(tmp_path / "serve.log").open("w"),
    )
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
