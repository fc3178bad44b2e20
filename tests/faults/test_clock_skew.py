"""A worker whose clock runs 10 minutes fast (libfaketime, Debian package `faketime`)
never pages an escalation step before it is due (due-ness is Redis's time, not the
worker's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis

from receiver.supervisor import EmbeddedRedis
from tests.faults.conftest import (
    Service,
    am_body,
    http_ok,
    kill_pid,
    scheduler_pid,
    service_env,
    services,
    write_rules,
)
from tests.support.page_receiver import PageReceiver
from tests.support.ports import free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

SKEW = "+10m"
SKEW_S = 600.0
STEP_S = 6.0
TOLERANCE_S = 0.1


def _unblock_clients_of(client: redis.Redis, proc: psutil.Process) -> None:
    """CLIENT UNBLOCK every blocked Redis connection of ``proc`` (its RQ dequeue)."""
    ports = {c.laddr.port for c in proc.net_connections("tcp")}
    for entry in client.client_list():
        _, _, port = str(entry["addr"]).rpartition(":")
        if int(port) in ports and "b" in str(entry["flags"]):
            client.client_unblock(entry["id"])
    still = [
        e
        for e in client.client_list()
        if int(str(e["addr"]).rpartition(":")[2]) in ports and "b" in str(e["flags"])
    ]
    assert not still, f"the stopped worker still blocks in Redis: {still}"


def _fast_env(base: dict[str, str], lib: str) -> dict[str, str]:
    env = {**base, "LD_PRELOAD": lib, "FAKETIME": SKEW}
    shown = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    skew = float(shown.stdout) - time.time()
    assert abs(skew - SKEW_S) < 30, f"libfaketime did not take: clock off by {skew:.0f}s"
    return env


def _rules(tmp_path: Path, pages: PageReceiver) -> Path:
    return write_rules(
        tmp_path / "rules",
        {"primary": pages.url("/primary"), "lead": pages.url("/lead")},
        [(None, ["primary"]), (f"{STEP_S:g}s", ["lead"])],
    )


def _post(base: str) -> str:
    import httpx

    response = httpx.post(
        base + "/api/v1/alerts/alertmanager",
        content=am_body("Skewed", "checkout", [1]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["incidents"][0]["id"])


def _assert_not_early(pages: PageReceiver, incident_id: str) -> None:
    [primary] = pages.wait_for_count(1, "/primary", timeout=20)
    assert primary.json["incident_id"] == incident_id
    [lead] = pages.wait_for_count(1, "/lead", timeout=STEP_S + 25)
    gap = lead.at - primary.at
    print(f"step 1 paged {gap:.2f}s after step 0 (due after {STEP_S:g}s)")
    assert gap >= STEP_S - TOLERANCE_S, f"step 1 paged {STEP_S - gap:.2f}s early"
    time.sleep(1.0)
    assert len(pages.requests("/lead")) == 1
    assert len(pages.requests("/primary")) == 1


def test_fast_clock_receiver_and_worker_do_not_page_early(
    tmp_path: Path, own_redis: EmbeddedRedis, faketime_lib: str
) -> None:
    """The brief's setup: `triaged serve` and one `triaged worker`, both 10 min fast."""
    with PageReceiver() as pages:
        rules = _rules(tmp_path, pages)
        fast = _fast_env(service_env(own_redis.url), faketime_lib)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = Service(
            ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"],
            fast,
            tmp_path / "serve.log",
        )
        worker = Service(["worker"], fast, tmp_path / "worker.log")
        with services(worker, serve):
            wait_until(lambda: http_ok(base + "/health"), timeout=30, message="ready")
            _assert_not_early(pages, _post(base))


def test_fast_clock_scheduler_does_not_page_early_for_a_true_clock_worker(
    tmp_path: Path, own_redis: EmbeddedRedis, faketime_lib: str
) -> None:
    """Mixed clocks: the fast worker runs RQ's scheduler, a true-clock worker runs the
    triage (and schedules the next step by its own clock). The fast scheduler finds the
    step due at once; it must still not page before the step is due."""
    with PageReceiver() as pages:
        rules = _rules(tmp_path, pages)
        env = service_env(own_redis.url)
        fast_env = _fast_env(env, faketime_lib)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        fast = Service(["worker"], fast_env, tmp_path / "fast-worker.log")
        true = Service(["worker"], env, tmp_path / "true-worker.log")
        serve = Service(
            ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"],
            env,
            tmp_path / "serve.log",
        )
        client = redis.Redis.from_url(own_redis.url)
        with services(fast):
            # the fast worker starts alone, so its scheduler holds the lock
            pid = wait_until(
                lambda: scheduler_pid(client), timeout=30, message="the fast scheduler running"
            )
            with services(true, serve):
                wait_until(lambda: http_ok(base + "/health"), timeout=30, message="ready")
                # The fast worker's main process stops taking jobs (its scheduler, a
                # process of its own, goes on), so the true-clock worker runs the triage.
                # A stopped worker's pending BLPOP would still win the job: unblock it.
                kill_pid(fast.pid, signal.SIGSTOP)
                try:
                    _unblock_clients_of(client, psutil.Process(fast.pid))
                    incident_id = _post(base)
                    pages.wait_for_count(1, "/primary", timeout=20)
                finally:
                    kill_pid(fast.pid, signal.SIGCONT)
                assert scheduler_pid(client) == pid, "the fast worker lost the scheduler"
                assert os.getpgid(pid) == fast.pid
                _assert_not_early(pages, incident_id)
        client.close()
