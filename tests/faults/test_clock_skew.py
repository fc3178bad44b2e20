"""A worker whose clock runs 10 minutes fast (libfaketime, Debian package `faketime`)
never pages an escalation step before it is due, nor late: due times are Redis's
``TIME``, scheduled jobs are moved by Redis's time (the auditor), and a job that
starts a little early waits in the job itself."""

from __future__ import annotations

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
    auditor_pid,
    get_json,
    http_ok,
    kill_pid,
    lock_holder,
    metric_sum,
    metrics_text,
    service_env,
    services,
    step_due,
    write_rules,
)
from tests.support.page_receiver import PageReceiver
from tests.support.ports import free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.faults

SKEW = "+10m"
SKEW_S = 600.0
STEP_S = 6.0
EARLY_TOLERANCE_S = 0.1  # Redis TIME -> this process's monotonic clock, a few ms
LATE_BOUND_S = 2.0


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


def _assert_on_time(pages: PageReceiver, base: str, incident_id: str) -> float:
    """Step 1 pages once, not before it is due (by Redis's clock), and at most
    LATE_BOUND_S after; return how late it was."""
    [primary] = pages.wait_for_count(1, "/primary", timeout=20)
    assert primary.json["incident_id"] == incident_id
    [lead] = pages.wait_for_count(1, "/lead", timeout=STEP_S + 25)
    due = step_due(get_json(base, f"/api/v1/incidents/{incident_id}"), 1)
    late = lead.at - due
    print(f"step 1 paged {late:+.2f}s from its due time ({lead.at - primary.at:.2f}s after step 0)")
    assert late >= -EARLY_TOLERANCE_S, f"step 1 paged {-late:.2f}s early"
    assert late < LATE_BOUND_S, f"step 1 paged {late:.2f}s late"
    time.sleep(1.0)
    assert len(pages.requests("/lead")) == 1
    assert len(pages.requests("/primary")) == 1
    return late


def _assert_nothing_redriven(base: str) -> None:
    """Skewed but healthy processes: the reconciler finds nothing lost."""
    text = metrics_text(base)
    redriven = metric_sum(text, "triaged_escalations_redriven_total")
    assert redriven == 0, [line for line in text.splitlines() if "redriven" in line]


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
            _assert_on_time(pages, base, _post(base))
            _assert_nothing_redriven(base)


def test_fast_clock_auditor_does_not_page_early_for_a_true_clock_worker(
    tmp_path: Path, own_redis: EmbeddedRedis, faketime_lib: str
) -> None:
    """Mixed clocks: the fast worker's auditor holds the lock (it moves scheduled jobs
    and reconciles), a true-clock worker runs step 0 (and schedules step 1). The step
    must still not page early, should page on time, and nothing is re-driven: every
    process is healthy, only skewed."""
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
            # the fast worker starts alone, so its auditor takes the lock (and keeps it:
            # its holder renews it)
            fast_auditor = lock_holder(client, [psutil.Process(fast.pid)])
            with services(true, serve):
                wait_until(lambda: http_ok(base + "/health"), timeout=30, message="ready")
                # The fast worker's main process stops taking jobs (its auditor, a process
                # of its own, goes on), so the true-clock worker runs step 0.
                # A stopped worker's pending BLPOP would still win the job: unblock it.
                kill_pid(fast.pid, signal.SIGSTOP)
                try:
                    _unblock_clients_of(client, psutil.Process(fast.pid))
                    incident_id = _post(base)
                    pages.wait_for_count(1, "/primary", timeout=20)
                finally:
                    kill_pid(fast.pid, signal.SIGCONT)
                _assert_on_time(pages, base, incident_id)
                assert auditor_pid(client) == fast_auditor.pid, "the fast auditor lost the lock"
                _assert_nothing_redriven(base)
        client.close()
