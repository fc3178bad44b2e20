"""`triaged`: the composition root (with ``receiver.cli_rules``, its rule-file
commands). The one place that reads the environment and the one place that imports
``workers``.

    triaged run      receiver + workers + scheduler (+ embedded Redis without REDIS_URL)
    triaged serve    receiver only (N processes sharing the port; SIGHUP reloads rules)
    triaged worker   RQ worker with scheduler (needs only REDIS_URL)
    triaged oncall   who is on call, per rotation
    triaged rules    check / test / explain a rules directory
    triaged replay   a candidate rules directory over the alerts received
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import multiprocessing
import os
import secrets
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import redis
from pydantic import SecretStr

from receiver import logsafe
from receiver.cli_rules import load_rules, parse_at, replay, rules
from receiver.incidents import keys
from receiver.redisconn import sync_client
from receiver.settings import Settings

if TYPE_CHECKING:
    from receiver.live import LoadedRules

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _setup_logging() -> None:
    logsafe.setup(logging.INFO, LOG_FORMAT)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _ignore_sighup() -> None:
    """SIGHUP means "reload the rules", never "exit" (its default): ignored until the
    receiver's handler takes it (a SIGHUP during start-up is then simply lost; the
    file watcher still sees the change)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {listen!r}", param_hint="--listen")
    return host.strip("[]") or "127.0.0.1", int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_url(host: str, port: int) -> str:
    """Where people reach this receiver, for ack links (TRIAGED_PUBLIC_URL overrides)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _check_exposure(host: str, token: str | None, insecure: bool) -> None:
    if not _is_loopback(host) and not token and not insecure:
        raise click.UsageError(
            f"refusing to listen on {host} without TRIAGED_API_TOKEN (set it, or pass --insecure)"
        )


def _ack_key(redis_url: str, wait_s: float = 30.0) -> str:
    """TRIAGED_ACK_KEY, else a key generated once and shared through Redis."""
    env = os.environ.get("TRIAGED_ACK_KEY")
    if env:
        return env
    client = sync_client(
        redis_url, decode_responses=True, socket_timeout=3, socket_connect_timeout=3
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.set(keys.ack_key(), secrets.token_hex(32), nx=True)
            return str(client.get(keys.ack_key()))
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"TRIAGED_ACK_KEY is unset and Redis is unreachable: {exc}"
                ) from exc
            time.sleep(0.5)


def _settings(redis_url: str, **values: object) -> Settings:
    token = os.environ.get("TRIAGED_API_TOKEN") or None
    host = str(values.get("host", "127.0.0.1"))
    port = values.get("port", 9797)
    public = os.environ.get("TRIAGED_PUBLIC_URL") or _public_url(host, int(str(port)))
    return Settings(
        redis_url=redis_url,
        api_token=SecretStr(token) if token else None,
        public_url=public,
        ack_key=SecretStr(_ack_key(redis_url)),
        **_history_settings(),
        **values,  # type: ignore[arg-type]
    )


def _history_settings() -> dict[str, float]:
    """TRIAGED_HISTORY_RETENTION (a duration; 0 keeps nothing) and TRIAGED_HISTORY_MAX:
    how long and how many received alerts are kept for ``triaged replay``;
    TRIAGED_RULES_POLL_SECONDS: how often the rules directory is looked at."""
    from rules import parse_duration

    out: dict[str, float] = {}
    retention = os.environ.get("TRIAGED_HISTORY_RETENTION")
    if retention:
        try:
            out["history_retention_s"] = parse_duration(retention, allow_zero=True).total_seconds()
        except ValueError as exc:
            raise click.UsageError(f"TRIAGED_HISTORY_RETENTION: {exc}") from exc
    poll = os.environ.get("TRIAGED_RULES_POLL_SECONDS")
    if poll:
        try:
            out["rules_poll_seconds"] = max(0.0, float(poll))
        except ValueError as exc:
            raise click.UsageError(
                f"TRIAGED_RULES_POLL_SECONDS: expected seconds (0: do not watch), got {poll!r}"
            ) from exc
    most = os.environ.get("TRIAGED_HISTORY_MAX")
    if most:
        if not most.isdigit():
            raise click.UsageError(f"TRIAGED_HISTORY_MAX: expected a whole number, got {most!r}")
        out["history_max"] = int(most)
    return out


def _require_redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        raise click.UsageError("REDIS_URL is not set (triaged run starts an embedded Redis)")
    return url


SHADOW_HELP = (
    "A second rules directory that classifies every alert in shadow: nothing is paged "
    "from it; where its verdict differs it is recorded (GET /api/v1/rules/shadow) and "
    "counted (triaged_shadow_disagreements_total)."
)


@click.group()
def main() -> None:
    """triaged: alert webhook receiver and automatic triage daemon."""


@main.command()
@click.option("--rules", "rules_dir", required=True, type=click.Path(path_type=Path))
@click.option("--listen", default="127.0.0.1:9797", show_default=True)
@click.option(
    "--data", "data_dir", default="var", show_default=True, type=click.Path(path_type=Path)
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Workers for pages (escalations, deadlines).",
)
@click.option(
    "--probe-workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Workers for diagnosis probes.",
)
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without a token.")
@click.option("--shadow-rules", "shadow_dir", type=click.Path(path_type=Path), help=SHADOW_HELP)
def run(
    rules_dir: Path,
    listen: str,
    data_dir: Path,
    workers: int,
    probe_workers: int,
    insecure: bool,
    shadow_dir: Path | None,
) -> None:
    """Receiver, workers and scheduler together (embedded Redis unless REDIS_URL is set)."""
    from receiver.supervisor import Child, EmbeddedRedis, Supervisor, child_command

    _ignore_sighup()
    _setup_logging()
    host, port = _split_listen(listen)
    _check_exposure(host, os.environ.get("TRIAGED_API_TOKEN"), insecure)
    _load_live(rules_dir, shadow_dir)  # fail before starting anything
    embedded = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        embedded = EmbeddedRedis(data_dir / "redis")
        redis_url = embedded.start()
        logging.getLogger("triaged").info(
            "embedded Redis at %s (AOF under %s)", redis_url, embedded.data_dir
        )
    env = {**os.environ, "REDIS_URL": redis_url, "TRIAGED_ACK_KEY": _ack_key(redis_url)}
    env.setdefault("TRIAGED_PUBLIC_URL", _public_url(host, port))
    serve_args = ["serve", "--rules", str(rules_dir), "--listen", listen]
    if insecure:
        serve_args.append("--insecure")
    if shadow_dir is not None:
        serve_args += ["--shadow-rules", str(shadow_dir)]
    children = [Child("receiver", child_command(*serve_args))]
    children += [
        Child(f"worker-{i + 1}", child_command("worker", "--queues", "pages"))
        for i in range(workers)
    ]
    children += [
        Child(f"probe-worker-{i + 1}", child_command("worker", "--queues", "probes"))
        for i in range(probe_workers)
    ]
    try:
        code = Supervisor(children, env, redis=embedded).run()
    finally:
        if embedded is not None:
            embedded.stop()
    raise SystemExit(code)


def _load_live(rules_dir: Path, shadow_dir: Path | None) -> LoadedRules:
    """Everything the receiver runs on (rules, templates, sources' secrets; the shadow
    rules), or every error and exit 1."""
    import dataclasses

    from receiver.live import ReloadFailed, load_directory

    try:
        loaded = load_directory(rules_dir, os.environ)
    except ReloadFailed as exc:
        click.echo("\n".join(exc.errors), err=True)
        raise SystemExit(1) from exc
    if shadow_dir is None:
        return loaded
    return dataclasses.replace(loaded, shadow=load_rules(shadow_dir, secrets=False))


def _serve_one(
    settings: Settings,
    rules_dir: Path,
    shadow_dir: Path | None,
    reuse_port: bool,
    loaded: LoadedRules | None = None,
) -> None:
    """One receiver process; a spawned one loads its rules itself."""
    from receiver.api.app import serve_until_stopped

    _ignore_sighup()
    _setup_logging()
    if loaded is None:
        loaded = _load_live(rules_dir, shadow_dir)
    asyncio.run(
        serve_until_stopped(
            settings, loaded, reuse_port, os.environ, rules_dir=rules_dir, shadow_dir=shadow_dir
        )
    )


@main.command()
@click.option("--rules", "rules_dir", required=True, type=click.Path(path_type=Path))
@click.option("--listen", default="127.0.0.1:9797", show_default=True)
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without a token.")
@click.option("--shadow-rules", "shadow_dir", type=click.Path(path_type=Path), help=SHADOW_HELP)
def serve(
    rules_dir: Path, listen: str, processes: int, insecure: bool, shadow_dir: Path | None
) -> None:
    """The receiver only (needs REDIS_URL). Reloads its rules on SIGHUP, on a change
    of the files, and on POST /api/v1/rules/reload."""
    _ignore_sighup()
    _setup_logging()
    host, port = _split_listen(listen)
    _check_exposure(host, os.environ.get("TRIAGED_API_TOKEN"), insecure)
    loaded = _load_live(rules_dir, shadow_dir)  # fail before anything starts
    settings = _settings(_require_redis_url(), host=host, port=port)
    if processes == 1:
        _serve_one(settings, rules_dir, shadow_dir, reuse_port=False, loaded=loaded)
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    def hup(signum: int, frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_serve_one, args=(settings, rules_dir, shadow_dir, True))
        for _ in range(processes)
    ]
    signal.signal(signal.SIGHUP, hup)
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(10)


@main.command()
@click.option(
    "--queues",
    default="pages,probes",
    show_default=True,
    help="Which queues, in priority order: pages (pages, escalations, deadlines), "
    "probes (diagnosis). Give pages their own workers so a slow probe never delays one.",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--fork/--no-fork",
    default=None,
    help="Run each job in a forked work horse. Default: fork, except for a worker "
    "serving only the probes queue (faster first pages; see README).",
)
def worker(queues: str, burst: bool, fork: bool | None) -> None:
    """An RQ worker with scheduler and reconciler (needs only REDIS_URL)."""
    from workers.main import run_worker

    names = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = set(names) - {"pages", "probes"}
    if not names or unknown:
        raise click.BadParameter(
            f"unknown queue(s) {sorted(unknown)}; use pages, probes", param_hint="--queues"
        )
    _setup_logging()
    run_worker(
        _settings(_require_redis_url()), queues=names, burst=burst, fork=fork, environ=os.environ
    )


@main.command()
@click.option("--rules", "rules_dir", required=True, type=click.Path(path_type=Path))
@click.option("--at", "at_text", default=None, help="ISO 8601 time with its zone (default: now).")
def oncall(rules_dir: Path, at_text: str | None) -> None:
    """Who is on call now and next, per rotation (reads only the rule files)."""

    from rules.rotations import on_call_now_and_next

    ruleset = load_rules(rules_dir, secrets=False)
    at = parse_at(at_text)
    if not ruleset.rotations:
        click.echo("no rotations in these rules")
        return
    for name, rotation in sorted(ruleset.rotations.items()):
        shown = on_call_now_and_next(rotation, at)
        now, nxt = shown["now"], shown["next"]
        line = f"{name}: "
        line += (
            f"{now['person']} until {now['until']}" + (" (override)" if now["override"] else "")
            if isinstance(now, dict)
            else "nobody on call"
        )
        if isinstance(nxt, dict):
            line += f"; next {nxt['person']} from {nxt['from']}"
        click.echo(line)


main.add_command(rules)
main.add_command(replay)


if __name__ == "__main__":
    main()
