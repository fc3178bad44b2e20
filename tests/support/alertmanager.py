"""A real Prometheus Alertmanager as a subprocess (Debian: ``prometheus-alertmanager``).

    with AlertmanagerProcess(binary, config_text, tmp_path / "am") as am:
        am.post_alerts([{"labels": {"alertname": "CheckoutDown"}}])

Flags checked against Alertmanager 0.25 (``prometheus-alertmanager --help``):
``--config.file``, ``--storage.path``, ``--web.listen-address``,
``--cluster.listen-address=`` (empty: no clustering, no gossip port) and
``--log.level``. Alerts go in through its own API, ``POST /api/v2/alerts``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

DEBIAN_PACKAGE = "prometheus-alertmanager"
CANDIDATES = ("alertmanager", "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")


def find_alertmanager() -> str | None:
    """Path of the alertmanager binary (Debian names it prometheus-alertmanager), or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def webhook_config(
    url: str,
    *,
    group_by: Sequence[str] = ("alertname", "service"),
    group_wait: str = "1s",
    group_interval: str = "5s",
    repeat_interval: str = "1h",
    receiver: str = "triaged",
) -> str:
    """An alertmanager.yml routing everything to one webhook receiver, resolved included."""
    return (
        "route:\n"
        f"  receiver: {receiver}\n"
        f"  group_by: [{', '.join(group_by)}]\n"
        f"  group_wait: {group_wait}\n"
        f"  group_interval: {group_interval}\n"
        f"  repeat_interval: {repeat_interval}\n"
        "receivers:\n"
        f"  - name: {receiver}\n"
        "    webhook_configs:\n"
        f"      - url: {json.dumps(url)}\n"
        "        send_resolved: true\n"
    )


class AlertmanagerProcess:
    """Alertmanager listening on 127.0.0.1, started and stopped by PID."""

    def __init__(
        self,
        binary: str,
        config_text: str,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.config_text = config_text
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.config_path = self.workdir / "alertmanager.yml"
        self.log_path = self.workdir / "alertmanager.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> AlertmanagerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"alertmanager exited with {self._proc.returncode}:\n{self.log_text()}"
                )
            try:
                if self._request("GET", "/-/ready", timeout=1.0)[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"alertmanager not ready within {self.startup_timeout}s:\n{self.log_text()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> AlertmanagerProcess:
        return self.start()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.stop()
        if exc is not None:
            exc.add_note(f"--- alertmanager log ---\n{self.log_text()}")

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``: each alert has labels and optionally annotations,
        startsAt, endsAt (in the past: resolved), generatorURL."""
        status, body = self._request("POST", "/api/v2/alerts", list(alerts))
        if status != 200:
            raise AssertionError(f"alertmanager refused the alerts: {status} {body!r}")

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: what Alertmanager holds now."""
        status, body = self._request("GET", "/api/v2/alerts")
        assert status == 200, (status, body)
        return list(body)

    def _request(
        self, method: str, path: str, payload: Any = None, timeout: float = 5.0
    ) -> tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")
