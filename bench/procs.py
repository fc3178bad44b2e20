"""Every process the benchmark starts, stopped by PID (and process group) whatever happens.

    with Processes() as procs:
        redis = procs.redis(data_dir)                 # EmbeddedRedis, AOF on, 127.0.0.1
        serve = procs.spawn("serve", [...], env=...)  # own session: its group is its PID
        ...
    # on exit (normal, exception, Ctrl-C or SIGTERM): SIGTERM each group, SIGKILL what
    # is left after a grace, and SIGKILL every descendant seen before the SIGTERM (an RQ
    # work horse runs in a process group of its own).

Nothing is found or killed by name: only the PIDs started here and their descendants
(checked by PID *and* start time, so a reused PID is never hit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import psutil

from receiver.supervisor import EmbeddedRedis

STOP_GRACE_S = 8.0


@dataclass
class Started:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    seen: set[tuple[int, float]] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def descendants(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return []

    def remember_descendants(self) -> None:
        for child in self.descendants():
            try:
                self.seen.add((child.pid, child.create_time()))
            except psutil.Error:
                pass

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _kill_pid(pid: int, created: float, sig: signal.Signals) -> None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) > 0.01:
            return  # the PID was reused: not ours
        proc.send_signal(sig)
    except psutil.Error:
        pass


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Processes:
    """Registry of started processes; a context manager that always stops them."""

    def __init__(self) -> None:
        self.started: list[Started] = []
        self.redises: list[EmbeddedRedis] = []
        self._old_handler: object = None

    def __enter__(self) -> Processes:
        # SIGTERM unwinds like Ctrl-C, so every ``finally`` and this __exit__ run
        self._old_handler = signal.signal(signal.SIGTERM, _raise_on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGTERM, self._old_handler)  # type: ignore[arg-type]

    # -- starting ------------------------------------------------------------

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> Started:
        """Start ``args`` in a session (and process group) of its own."""
        out: IO[bytes] | int = subprocess.DEVNULL
        if log_path is not None:
            out = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            popen = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            if not isinstance(out, int):
                out.close()
        started = Started(name, popen, log_path)
        self.started.append(started)
        return started

    def redis(self, data_dir: Path) -> EmbeddedRedis:
        """triaged's own EmbeddedRedis (appendonly yes, appendfsync everysec, 127.0.0.1)."""
        server = EmbeddedRedis(data_dir)
        self.redises.append(server)
        server.start()
        return server

    # -- stopping ------------------------------------------------------------

    def stop(self, started: Started, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, SIGKILL after ``grace``, then every descendant seen."""
        started.remember_descendants()
        if started.alive():
            _killpg(started.pid, signal.SIGTERM)
            try:
                started.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            psutil.pid_exists(pid) for pid, _ in started.seen
        ):
            time.sleep(0.05)
        _killpg(started.pid, signal.SIGKILL)
        for pid, created in started.seen:
            _kill_pid(pid, created, signal.SIGKILL)
        try:
            started.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if started in self.started:
            self.started.remove(started)

    def stop_redis(self, server: EmbeddedRedis) -> None:
        try:
            server.stop()
        finally:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
            if server in self.redises:
                self.redises.remove(server)

    def stop_all(self) -> None:
        for started in reversed(list(self.started)):
            started.remember_descendants()
        for started in reversed(list(self.started)):
            self.stop(started)
        for server in reversed(list(self.redises)):
            self.stop_redis(server)
