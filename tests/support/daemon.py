"""``triaged run`` as a subprocess, started and stopped by PID, for e2e and external tests.

    with TriagedProcess(rules_dir, tmp_path / "data") as triaged:
        status, body = triaged.post_json("/api/v1/alerts/alertmanager", payload)
        status, incident = triaged.get_json(f"/api/v1/incidents/{incident_id}")

The command is exactly

    <venv>/bin/triaged run --rules RULES --listen 127.0.0.1:PORT --data DATA --workers N [...]

with ``REDIS_URL`` removed from the environment (so the embedded Redis is used)
unless ``env`` gives one. Start-up waits for ``GET /alive`` then ``GET /health``
to answer 200. Stopping sends SIGTERM to the process group, SIGKILL after
``stop_timeout``, and then checks that no process is left behind: none of the
descendants seen just before the SIGTERM (an RQ work horse runs in a process
group of its own), nothing in the group, nothing whose command line or working
directory points into the data directory (an embedded redis-server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

LOG_NAME = "triaged-test.log"


def triaged_executable() -> Path:
    """The ``triaged`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "triaged"
    if not script.exists():
        raise FileNotFoundError(
            f"{script} not found: install the project into this venv (make install)"
        )
    return script


class TriagedProcess:
    """Context manager running ``triaged run``; see the module docstring.

    Args:
        rules_dir: passed as ``--rules``.
        data_dir: passed as ``--data``; created if missing; the log goes here too.
        port: the port to listen on (default: a free one).
        workers: passed as ``--workers``.
        env: variables to set on top of this process's environment (a value of
            None removes the variable). ``REDIS_URL`` is removed unless given here.
        extra_args: appended to the command line.
        startup_timeout: seconds to wait for /alive and /health.
        stop_timeout: seconds between SIGTERM and SIGKILL.
        leftover_grace: seconds children get to exit after the main process did.
        executable: what to run instead of the venv's ``triaged`` (tests of this helper).
    """

    def __init__(
        self,
        rules_dir: str | os.PathLike[str],
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        workers: int = 1,
        env: Mapping[str, str | None] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        executable: str | os.PathLike[str] | None = None,
        leftover_grace: float = 5.0,
    ) -> None:
        self.rules_dir = Path(rules_dir)
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.workers = workers
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.log_path = self.data_dir / LOG_NAME
        self.executable = Path(executable) if executable else None
        self.leftover_grace = leftover_grace
        self.returncode: int | None = None
        self._env = _child_env(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("triaged is not started")
        return self._proc.pid

    @property
    def command(self) -> list[str]:
        return [
            str(self.executable or triaged_executable()),
            "run",
            "--rules",
            str(self.rules_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def get_json(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        """GET ``path``; return (status, decoded JSON or raw text)."""
        return _http("GET", self.url(path), None, {}, timeout)

    def post_json(
        self,
        path: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, Any]:
        """POST ``payload`` as JSON to ``path``; return (status, decoded JSON or raw text)."""
        body = None if payload is None else json.dumps(payload).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        return _http("POST", self.url(path), body, hdrs, timeout)

    def start(self) -> TriagedProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self.command
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException as exc:
            leftovers = self._terminate()
            if leftovers:
                exc.add_note(f"also left behind after stopping: {leftovers}")
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL after ``stop_timeout``; assert nothing is left."""
        leftovers = self._terminate()
        if leftovers:
            raise AssertionError(
                f"triaged (pid {self.pid}) left processes behind (now killed): {leftovers}\n"
                f"--- log tail ---\n{self.log_tail()}"
            )

    def __enter__(self) -> TriagedProcess:
        return self.start()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.stop()
            return
        leftovers = self._terminate()
        exc.add_note(f"--- triaged log tail ({self.log_path}) ---\n{self.log_tail()}")
        if leftovers:
            exc.add_note(f"triaged also left processes behind (now killed): {leftovers}")

    # -- internals -----------------------------------------------------------

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        for path in ("/alive", "/health"):
            last: object = None
            while True:
                assert self._proc is not None
                code = self._proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"triaged exited with {code} during start-up, before {path} answered "
                        f"200\n$ {' '.join(self.command)}\n--- log tail ---\n{self.log_tail()}"
                    )
                try:
                    status, body = self.get_json(path, timeout=2.0)
                    if status == 200:
                        break
                    last = (status, body)
                except OSError as err:
                    last = err
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"triaged did not answer 200 on {path} within {self.startup_timeout}s "
                        f"(last: {last!r})\n$ {' '.join(self.command)}\n"
                        f"--- log tail ---\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    def _terminate(self) -> list[str]:
        """Stop everything; return descriptions of processes that had to be hunted down."""
        proc = self._proc
        if proc is None or self.returncode is not None:
            return []
        watched = (_descendants(proc.pid) | {_identity(proc.pid)}) - {None}
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.returncode = proc.returncode
        # Children may still be finishing their own shutdown: give them a moment.
        deadline = time.monotonic() + self.leftover_grace
        while True:
            alive = self._survivors(proc.pid, watched)
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        _signal_group(proc.pid, signal.SIGKILL)
        report = []
        for pid in alive:
            report.append(f"pid {pid}: {_cmdline(pid)}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return report

    def _survivors(self, pgid: int, watched: set[tuple[int, str] | None]) -> list[int]:
        data = str(self.data_dir.resolve())
        me = os.getpid()
        alive = []
        for pid in _all_pids():
            if pid == me:
                continue
            ident = _identity(pid)
            if ident is None:
                continue
            if ident in watched or _pgid(pid) == pgid:
                alive.append(pid)
            elif _points_into(pid, data) and not _descends_from(pid, me):
                alive.append(pid)  # e.g. a daemonized redis-server using the data dir
        return alive


def _child_env(overrides: Mapping[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _http(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- /proc, Linux only ---------------------------------------------------------


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may contain spaces and parentheses
    return raw[raw.rindex(")") + 2 :].split()


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): survives PID reuse; None when gone or a zombie."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return (pid, fields[19])


def _pgid(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[2]) if fields else None


def _descendants(root: int) -> set[tuple[int, str] | None]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat(pid)
        if fields:
            children.setdefault(int(fields[1]), []).append(pid)
    found: set[tuple[int, str] | None] = set()
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.add(_identity(pid))
        stack.extend(children.get(pid, []))
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    """True for the test's own children (say an Alertmanager), which are not triaged's."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        fields = _stat(pid)
        if fields is None:
            return False
        pid = int(fields[1])
        if pid == ancestor:
            return True
    return False


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _points_into(pid: int, directory: str) -> bool:
    if directory in _cmdline(pid):
        return True
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == directory or cwd.startswith(directory + os.sep)
