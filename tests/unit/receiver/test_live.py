"""receiver.live on real files: a whole directory loads or nothing changes, a reload
swaps whole, and the watcher never loads a half-written rule set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from receiver import live as live_module
from receiver.live import (
    LiveRules,
    LoadedRules,
    ReloadFailed,
    Watcher,
    load_directory,
    shown_errors,
)
from receiver.metrics import RULES_RELOAD_OK
from rules import load_ruleset

SEVERITIES = (
    "severities:\n"
    "  SEV-1: {response_time: 15m, page: immediately}\n"
    "  SEV-2: {response_time: 1h, page: immediately}\n"
    "  SEV-3: {response_time: 4h, page: immediately}\n"
    "  SEV-4: {response_time: next_sprint, page: never}\n"
    "default_severity: SEV-3\n"
    "contacts:\n"
    "  oncall: {role: On call, channels: [{webhook: 'http://127.0.0.1:9/page'}]}\n"
    "escalation:\n"
    "  SEV-1: [{notify: [oncall]}]\n"
)


def rule(name: str, severity: str = "SEV-1") -> str:
    return f"  - name: {name}\n    matchers: ['alertname = \"{name}\"']\n    severity: {severity}\n"


def write(directory: Path, *names: str) -> Path:
    (directory / "severities.yaml").write_text(SEVERITIES)
    (directory / "rules.yaml").write_text("rules:\n" + "".join(rule(n) for n in names))
    return directory


def live_rules(directory: Path) -> tuple[LiveRules, list[LoadedRules]]:
    swaps: list[LoadedRules] = []

    async def record(loaded: LoadedRules) -> None:
        swaps.append(loaded)

    live = LiveRules(directory, load_directory(directory, {}))
    live.on_swap.append(record)
    return live, swaps


def names(live: LiveRules) -> list[str]:
    return [r.name for r in live.current.ruleset.rules]


def test_a_directory_loads_whole_with_its_templates_and_intakes(rules_dir: Path) -> None:
    loaded = load_directory(write(rules_dir, "a", "b"), {})
    assert [r.name for r in loaded.ruleset.rules] == ["a", "b"]
    assert loaded.ruleset.version == load_ruleset(rules_dir).version
    assert "user_status" in loaded.templates and "alertmanager" in loaded.intakes


def test_every_error_of_every_kind_is_reported(rules_dir: Path) -> None:
    write(rules_dir, "a")
    (rules_dir / "bad.yaml").write_text("rules:\n  - name: x\n    severity: SEV-9\n")
    with pytest.raises(ReloadFailed) as caught:
        load_directory(rules_dir, {})
    assert any(e.startswith(f"{rules_dir}/bad.yaml:3:") for e in caught.value.errors)

    (rules_dir / "bad.yaml").unlink()
    (rules_dir / "templates").mkdir()
    (rules_dir / "templates" / "user_status.j2").write_text("{% if %}")
    (rules_dir / "sources.yaml").write_text(
        "sources:\n  grafana:\n    auth: {bearer: {tokens: [{env: NOT_SET_ANYWHERE}]}}\n"
    )
    with pytest.raises(ReloadFailed) as caught:
        load_directory(rules_dir, {})
    errors = caught.value.errors
    assert any("templates/user_status.j2" in e for e in errors), errors
    assert any("NOT_SET_ANYWHERE" in e for e in errors), errors


async def test_a_failed_reload_keeps_the_old_rules_then_a_good_one_swaps(rules_dir: Path) -> None:
    live, swaps = live_rules(write(rules_dir, "a"))
    old = live.current
    (rules_dir / "rules.yaml").write_text("rules:\n  - name: a\n    matchers: ['x =~ \"(\"']\n")
    outcome = await live.reload("test")
    assert not outcome.ok and outcome.version == old.ruleset.version
    assert live.current is old and names(live) == ["a"]
    assert [e.split(f"{rules_dir}/")[1].split(": ")[0:2] for e in live.errors] == [
        ["rules.yaml:2:5", "rules[0].severity"],
        ["rules.yaml:3:16", "rules[0].matchers[0]"],
    ]
    assert RULES_RELOAD_OK._value.get() == 0
    assert swaps == []

    write(rules_dir, "a", "b")
    outcome = await live.reload("test")
    assert outcome.ok and outcome.changed and outcome.version != old.ruleset.version
    assert names(live) == ["a", "b"] and live.errors == ()
    assert RULES_RELOAD_OK._value.get() == 1
    assert [s.ruleset.version for s in swaps] == [outcome.version]
    # a decision made now carries the new version
    assert live.current.ruleset.classify({"alertname": "b"}).rules_version == outcome.version

    again = await live.reload("test")
    assert again.ok and not again.changed and len(swaps) == 1


async def test_the_watcher_never_loads_a_half_written_rule_set(rules_dir: Path) -> None:
    live, swaps = live_rules(write(rules_dir, "a"))
    watcher = Watcher(live)
    assert await watcher.step() == "same"
    # an editor writes the file in two steps: the first half is valid YAML on its own
    (rules_dir / "rules.yaml").write_text("rules:\n" + rule("a"))
    (rules_dir / "team.yaml").write_text("rules:\n" + rule("half"))
    assert await watcher.step() == "changing"
    (rules_dir / "team.yaml").write_text("rules:\n" + rule("half") + rule("whole"))
    assert await watcher.step() == "changing"  # changed again: still waiting
    assert await watcher.step() == "reloaded"
    assert names(live) == ["a", "half", "whole"]
    assert [[r.name for r in s.ruleset.rules] for s in swaps] == [["a", "half", "whole"]]
    assert await watcher.step() == "same"


async def test_the_watcher_does_not_retry_content_that_failed(rules_dir: Path) -> None:
    live, swaps = live_rules(write(rules_dir, "a"))
    watcher = Watcher(live)
    (rules_dir / "rules.yaml").write_text("rules: [\n")
    assert await watcher.step() == "changing"
    assert await watcher.step() == "reloaded"
    assert live.errors and names(live) == ["a"]
    assert await watcher.step() == "same"  # the same broken bytes: not tried again
    write(rules_dir, "a", "fixed")
    assert await watcher.step() == "changing"
    assert await watcher.step() == "reloaded"
    assert live.errors == () and names(live) == ["a", "fixed"]


async def test_a_load_that_saw_the_files_change_is_not_kept(
    rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor writes while the loader reads: the load that saw the old bytes is
    thrown away and the next one, on settled files, is kept."""
    live, swaps = live_rules(write(rules_dir, "a"))
    real = live_module.load_ruleset
    edits = iter(["b", "c"])

    def load_while_editing(directory: Path) -> object:
        ruleset = real(directory)
        step = next(edits, None)
        if step is not None:  # the editor writes after the loader read the files
            write(rules_dir, "a", step)
        return ruleset

    monkeypatch.setattr(live_module, "load_ruleset", load_while_editing)
    monkeypatch.setattr(live_module, "RETRY_PAUSE_S", 0.0)
    outcome = await live.reload("test")
    assert outcome.ok and names(live) == ["a", "c"]
    assert live.current.ruleset.version == load_ruleset(rules_dir).version


async def test_files_that_never_settle_are_not_loaded(
    rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, _ = live_rules(write(rules_dir, "a"))
    real = live_module.load_ruleset
    count = iter(range(100))

    def load_while_editing(directory: Path) -> object:
        ruleset = real(directory)
        write(rules_dir, "a", f"edit{next(count)}")
        return ruleset

    monkeypatch.setattr(live_module, "load_ruleset", load_while_editing)
    monkeypatch.setattr(live_module, "RETRY_PAUSE_S", 0.0)
    outcome = await live.reload("test")
    assert not outcome.ok and "kept changing" in outcome.errors[0]
    assert names(live) == ["a"]


async def test_a_broken_shadow_directory_keeps_its_previous_rules(
    rules_dir: Path, tmp_path: Path
) -> None:
    shadow_dir = tmp_path / "shadow"
    shadow_dir.mkdir()
    write(shadow_dir, "s1")
    first = load_directory(write(rules_dir, "a"), {})
    shadow = load_ruleset(shadow_dir)
    live = LiveRules(rules_dir, dataclasses.replace(first, shadow=shadow), shadow_dir=shadow_dir)
    (shadow_dir / "rules.yaml").write_text("rules: [\n")
    outcome = await live.reload("test")
    assert outcome.ok  # the live rules are fine
    assert live.shadow_errors and live.current.shadow is not None
    assert [r.name for r in live.current.shadow.rules] == ["s1"]
    write(shadow_dir, "s1", "s2")
    assert (await live.reload("test")).changed
    assert live.shadow_errors == ()
    assert [r.name for r in live.current.shadow.rules] == ["s1", "s2"]


async def test_a_truncated_file_is_refused_not_loaded_as_no_rules(rules_dir: Path) -> None:
    live, swaps = live_rules(write(rules_dir, "a", "b"))
    watcher = Watcher(live)
    (rules_dir / "rules.yaml").write_text("")  # an editor truncated it, the rest not yet written
    assert await watcher.step() == "changing"
    assert await watcher.step() == "reloaded"
    assert names(live) == ["a", "b"] and swaps == []
    assert live.errors == (
        f"{rules_dir}/rules.yaml:1:1: empty file (a save in progress?); "
        "a file meant to be empty has a comment",
    )


async def test_a_failed_publish_is_tried_again_at_the_next_look(rules_dir: Path) -> None:
    live = LiveRules(write(rules_dir, "a"), load_directory(rules_dir, {}))
    calls: list[str] = []

    async def publish(loaded: LoadedRules) -> None:
        calls.append(loaded.ruleset.version)
        if len(calls) == 1:
            raise ConnectionError("Redis is away")

    live.on_swap.append(publish)
    write(rules_dir, "a", "b")
    assert (await live.reload("test")).ok
    assert live.publish_pending and len(calls) == 1
    await Watcher(live).step()
    assert not live.publish_pending
    assert calls == [live.current.ruleset.version] * 2


async def test_a_reload_keeps_unchanged_rate_limits(rules_dir: Path) -> None:
    write(rules_dir, "a")
    limited = "sources:\n  grafana:\n    rate_limit: {per_second: %s, burst: 5}\n"
    (rules_dir / "sources.yaml").write_text(limited % 1)
    live, _ = live_rules(rules_dir)
    bucket = live.current.intakes["grafana"].limiter
    assert bucket is not None
    write(rules_dir, "a", "b")  # another change: the bucket (and what it used) stays
    assert (await live.reload("test")).changed
    assert live.current.intakes["grafana"].limiter is bucket
    (rules_dir / "sources.yaml").write_text(limited % 2)  # the limit itself changed
    assert (await live.reload("test")).changed
    assert live.current.intakes["grafana"].limiter is not bucket


async def test_shadow_rules_need_no_secrets(rules_dir: Path, tmp_path: Path) -> None:
    shadow_dir = tmp_path / "shadow"
    shadow_dir.mkdir()
    write(shadow_dir, "s1")
    (shadow_dir / "sources.yaml").write_text(
        "sources:\n  grafana:\n    auth: {bearer: {tokens: [{env: NOT_SET_ANYWHERE}]}}\n"
    )
    live = LiveRules(rules_dir, load_directory(write(rules_dir, "a"), {}), shadow_dir=shadow_dir)
    write(shadow_dir, "s1", "s2")
    assert (await live.reload("test")).changed
    assert live.shadow_errors == ()
    assert live.current.shadow is not None
    assert [r.name for r in live.current.shadow.rules] == ["s1", "s2"]


def test_http_answers_show_urls_cut_to_their_host() -> None:
    error = (
        "c.yaml:3:4: contacts.x.channels[0].webhook: expected an http:// or https:// URL, "
        "got 'htps://hooks.example.com/services/T0/B0/SECRET'"
    )
    [shown] = shown_errors((error,))
    assert "SECRET" not in shown and "'htps://hooks.example.com/…'" in shown
    assert shown_errors(("see https://example.com",)) == ["see https://example.com"]
