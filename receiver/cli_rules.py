"""`triaged rules check|explain|test` and `triaged replay`: the commands SREs run on
rule files, in CI or at a desk (part of the CLI, the composition root)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click
import redis

from receiver.redisconn import sync_client
from rules import RuleError, RuleSet, load_ruleset


def load_rules(rules_dir: Path, secrets: bool = True) -> RuleSet:
    """The rules, and (``secrets``) every source's secrets readable; else the errors
    and exit 1. ``rules check`` runs where the secrets are not (CI): it skips them."""
    from receiver.intake import IntakeConfigError, build_intakes

    try:
        ruleset = load_ruleset(rules_dir)
        if secrets:
            build_intakes(ruleset, os.environ)
    except RuleError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    except IntakeConfigError as exc:
        click.echo(f"{rules_dir}: {exc}", err=True)
        raise SystemExit(1) from exc
    return ruleset


def parse_at(at_text: str | None, param: str = "--at") -> datetime:
    """An ISO 8601 time with its zone (``--at``); now when not given."""
    from datetime import UTC

    if not at_text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError as exc:
        raise click.BadParameter("an ISO 8601 time with its zone", param_hint=param) from exc
    if at.tzinfo is None:
        raise click.BadParameter("give the time zone (e.g. Z or +01:00)", param_hint=param)
    return at


@click.group()
def rules() -> None:
    """Rule-file tools."""


@rules.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_check(directory: Path, fmt: str) -> None:
    """Load DIR exactly as the daemon would; print every error and warning (shadowed
    rules, rules that can never match, unreachable contacts, ...). Exit 0 clean, 1
    errors, 2 usage. Sources' secrets are not read (they live where the daemon runs)."""
    import json

    from receiver import updates
    from rules.analysis import findings

    errors: list[str] = []
    ruleset: RuleSet | None = None
    try:
        ruleset = load_ruleset(directory)
    except RuleError as exc:
        errors += str(exc).splitlines()
    try:
        broken = updates.check_templates(updates.load_templates(directory))
        errors += [f"{directory / 'templates'}/{e}" for e in broken]
    except RuleError as exc:
        errors += str(exc).splitlines()
    warnings: list[str] = []
    if ruleset is not None:
        warnings = [*ruleset.warnings, *(str(f) for f in findings(ruleset))]
    if fmt == "json":
        summary: dict[str, object] = {"ok": not errors, "errors": errors, "warnings": warnings}
        if ruleset is not None:
            summary.update(version=ruleset.version, rules=len(ruleset.rules))
        click.echo(json.dumps(summary, indent=2))
        raise SystemExit(1 if errors else 0)
    for error in errors:
        click.echo(error, err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if errors or ruleset is None:
        raise SystemExit(1)
    click.echo(
        f"ok: {len(ruleset.rules)} rules, {len(ruleset.contacts)} contacts, "
        f"{len(ruleset.probes)} probes (version {ruleset.version})"
    )


@rules.command("explain")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--labels", "labels_text", default=None, help="k=v,k2=v2 (the alert's labels).")
@click.option("--payload", type=click.Path(path_type=Path), default=None, help="A sender's body.")
@click.option("--source", default=None, help="The sender of --payload (e.g. grafana).")
@click.option("--at", "at_text", default=None, help="ISO 8601 time with its zone (default: now).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_explain(
    directory: Path,
    labels_text: str | None,
    payload: Path | None,
    source: str | None,
    at_text: str | None,
    fmt: str,
) -> None:
    """Which rules were tried in order, which matcher of each failed, which matched,
    the decision, and who would be paged (at --at)."""
    import json

    from receiver.errors import PayloadError
    from receiver.ingest import normalize
    from receiver.sources import sources_for
    from rules.analysis import explain

    if (labels_text is None) == (payload is None):
        raise click.UsageError("give --labels or --payload (with --source)")
    ruleset = load_rules(directory, secrets=False)
    at = parse_at(at_text)
    if labels_text is not None:
        pairs = [p for p in labels_text.split(",") if p.strip()]
        if any("=" not in p for p in pairs):
            raise click.BadParameter("k=v pairs separated by commas", param_hint="--labels")
        sets: list[dict[str, str]] = [
            {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}
        ]
    else:
        sources = sources_for(ruleset.sources)
        if source not in sources:
            raise click.BadParameter(f"one of {', '.join(sorted(sources))}", param_hint="--source")
        assert payload is not None
        try:
            sets = [a.labels for a in normalize(sources[source], payload.read_bytes())]
        except (OSError, PayloadError) as exc:
            raise click.BadParameter(str(exc), param_hint="--payload") from exc
    results = [explain(ruleset, labels, at) for labels in sets]
    if fmt == "json":
        click.echo(json.dumps([r.as_json() for r in results], indent=2))
    else:
        click.echo("\n\n".join(r.text() for r in results))


@rules.command("test")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("tests", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_test(directory: Path, tests: tuple[Path, ...], fmt: str) -> None:
    """Run test files (cases: labels or a sender payload, and the expected rule,
    severity, policy, who is paged, silenced) against DIR. Exit 0 all passed, 1
    failures, 2 when the rules or a test file cannot be read (nothing runs)."""
    import json

    from receiver.rulestest import load_cases, report, report_json, run_cases
    from receiver.sources import sources_for
    from rules import RuleSetErrors

    try:
        ruleset = load_ruleset(directory)
    except RuleError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from exc
    names = sources_for(ruleset.sources)
    cases, errors = [], []
    for path in tests:
        try:
            cases += load_cases(path, sources=names)
        except RuleSetErrors as exc:
            errors += exc.errors
    if errors:
        click.echo(str(RuleSetErrors(errors)), err=True)
        raise SystemExit(2)
    results = run_cases(ruleset, cases, sources=names)
    click.echo(json.dumps(report_json(results), indent=2) if fmt == "json" else report(results))
    raise SystemExit(0 if all(r.passed for r in results) else 1)


def _since(text: str) -> datetime:
    """``7d`` (a duration back from now) or an ISO 8601 time with its zone."""
    from datetime import UTC

    from rules import parse_duration

    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_at(text, param="--since")
    except click.BadParameter as exc:
        raise click.BadParameter(
            f"a duration (e.g. 7d, 12h) or {exc.message}", param_hint="--since"
        ) from exc


def _history_redis_url(data_dir: Path) -> str:
    """REDIS_URL, else the embedded Redis that ``triaged run --data`` started."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    try:
        return (data_dir / "redis" / "url").read_text().strip()
    except OSError as exc:
        raise click.UsageError(
            f"REDIS_URL is not set and {data_dir / 'redis' / 'url'} does not exist "
            "(is triaged run running with this --data?)"
        ) from exc


@click.command()
@click.option("--rules", "rules_dir", required=True, type=click.Path(path_type=Path))
@click.option("--since", "since_text", default="7d", show_default=True)
@click.option("--limit", default=None, type=click.IntRange(0), help="Changed alerts shown.")
@click.option(
    "--data", "data_dir", default="var", show_default=True, type=click.Path(path_type=Path)
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def replay(rules_dir: Path, since_text: str, limit: int | None, data_dir: Path, fmt: str) -> None:
    """Run the candidate rules in --rules over the alerts received since --since
    (kept TRIAGED_HISTORY_RETENTION, default 7d) and show how every decision would
    change: rule, severity, policy, paged. Reads only: never pages. Redis: REDIS_URL,
    else the embedded one of `triaged run --data DIR`."""
    import json

    from receiver.incidents.history import ReceivedLog
    from receiver.replay import replay as run_replay

    candidate = load_rules(rules_dir, secrets=False)
    since = _since(since_text)
    client = sync_client(_history_redis_url(data_dir), socket_timeout=10, socket_connect_timeout=5)
    log = ReceivedLog(client)
    try:
        report = run_replay(log.since(since), candidate, since)
        report.unreadable = log.unreadable
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot read the received alerts: {exc}") from exc
    finally:
        client.close()
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        click.echo(report.text(limit))
