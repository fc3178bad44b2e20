"""The supervisor restarts a child that exits, backing off while it keeps failing."""

from __future__ import annotations

import sys
import threading

from receiver import supervisor
from receiver.supervisor import Child, Supervisor
from tests.support.wait import wait_until


def test_exited_child_is_restarted_with_growing_delay(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(supervisor, "RESTART_DELAY_S", 0.05)
    monkeypatch.setattr(supervisor, "RESTART_DELAY_CAP_S", 0.2)
    quitter = Child("quitter", [sys.executable, "-c", "raise SystemExit(3)"], delay=0.05)
    sleeper = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    sup = Supervisor([quitter, sleeper], env={})
    monkeypatch.setattr(supervisor.signal, "signal", lambda *a: None)  # not main thread
    runner = threading.Thread(target=sup.run)
    runner.start()
    try:
        wait_until(lambda: quitter.restarts >= 4, timeout=20, message="no restarts")
        assert quitter.delay == 0.2  # backed off to the cap
        assert sleeper.restarts == 0
    finally:
        sup.stopping = True
        runner.join(20)
    assert sleeper.process is not None and sleeper.process.poll() is not None


def test_embedded_redis_is_restarted_on_its_port_with_its_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import redis

    from receiver.supervisor import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    redis.Redis.from_url(url).set("kept", "yes")
    sup = Supervisor([], env={}, redis=server)
    try:
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        sup._watch_redis()
        client = redis.Redis.from_url(url)
        # same port; the AOF is written before Redis answers, so a SIGKILL loses nothing
        assert client.get("kept") == b"yes"
    finally:
        server.stop()
