"""TriagedProcess against a stand-in daemon: command line, readiness, stop, leak check."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.daemon import TriagedProcess

FAKE = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for `triaged run`: serves /alive and /health; FAKE_MODE changes behaviour.
    import json, os, signal, subprocess, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    args = sys.argv[1:]
    print("argv", json.dumps(args), "redis_url", os.environ.get("REDIS_URL"), flush=True)
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "crash":
        print("boom: rules directory is broken", flush=True)
        sys.exit(3)
    host, port = args[args.index("--listen") + 1].split(":")
    if mode == "leak":
        # a child in a session of its own that ignores SIGTERM: must be found and killed
        subprocess.Popen(
            [sys.executable, "-c",
             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
            start_new_session=True,
        )

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            code = 503 if (mode == "unhealthy" and self.path == "/health") else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{{}}")
        def log_message(self, *a):
            pass

    server = HTTPServer((host, int(port)), H)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    server.serve_forever()
    """
)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    script = tmp_path / "triaged"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o755)
    return script


def test_starts_waits_for_health_and_stops(fake: Path, tmp_path: Path) -> None:
    proc = TriagedProcess(
        tmp_path / "rules",
        tmp_path / "data",
        workers=2,
        executable=fake,
        env={"REDIS_URL": None, "EXTRA": "1"},
    )
    with proc:
        assert proc.get_json("/health") == (200, {})
        assert proc.base_url == f"http://127.0.0.1:{proc.port}"
        pid = proc.pid
    log = proc.log_text()
    expected = (
        f'["run", "--rules", "{tmp_path / "rules"}", "--listen", "127.0.0.1:{proc.port}", '
        f'"--data", "{tmp_path / "data"}", "--workers", "2"]'
    )
    assert expected in log
    assert "redis_url None" in log
    assert proc.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_redis_url_is_removed_unless_given(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with TriagedProcess(tmp_path / "r", tmp_path / "d1", executable=fake) as proc:
        pass
    assert "redis_url None" in proc.log_text()
    with TriagedProcess(
        tmp_path / "r", tmp_path / "d2", executable=fake, env={"REDIS_URL": "redis://x:1/2"}
    ) as proc:
        pass
    assert "redis_url redis://x:1/2" in proc.log_text()


def test_startup_failure_raises_with_the_log_tail(fake: Path, tmp_path: Path) -> None:
    proc = TriagedProcess(
        tmp_path / "r", tmp_path / "d", executable=fake, env={"FAKE_MODE": "crash"}
    )
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*boom: rules directory is broken"):
        proc.start()


def test_unhealthy_until_deadline_raises(fake: Path, tmp_path: Path) -> None:
    proc = TriagedProcess(
        tmp_path / "r",
        tmp_path / "d",
        executable=fake,
        env={"FAKE_MODE": "unhealthy"},
        startup_timeout=1.0,
    )
    with pytest.raises(RuntimeError, match=r"did not answer 200 on /health within 1.0s"):
        proc.start()
    assert proc.returncode is not None


def test_leftover_process_is_killed_and_reported(fake: Path, tmp_path: Path) -> None:
    proc = TriagedProcess(
        tmp_path / "r",
        tmp_path / "d",
        executable=fake,
        env={"FAKE_MODE": "leak"},
        leftover_grace=0.5,
    )
    proc.start()
    with pytest.raises(AssertionError, match=r"left processes behind .*time.sleep\(600\)"):
        proc.stop()
