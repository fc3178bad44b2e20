"""The rules a receiver process runs on, and their live reload.

``LoadedRules`` is everything one rules directory gives the receiver: the rule set,
the intakes (sources' auth and rate limits, secrets read), the communication
templates. ``LiveRules.current`` holds one ``LoadedRules``; a reload builds a new one
off the event loop and swaps it in with one assignment, between requests. A
request reads ``current`` once and finishes on what it read.

A reload that fails (any error in any file, a template that does not compile, a
source secret that cannot be read) changes nothing that runs: the old rules keep
serving, and the errors stay on ``errors`` (``/health`` says degraded) until a
reload succeeds.

Half-written files never load: a load is kept only when the directory's content
(every rule file and template, byte for byte) is the same before and after it;
the watcher (``watch``) reloads only on content that has stayed the same for one
whole poll interval, so an editor's two-step write is seen as one change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from receiver import metrics, updates
from receiver.intake import Intake, IntakeConfigError, build_intakes
from rules import RuleError, RuleSet, load_ruleset
from rules.loader import rule_files

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIES = 3  # loads that saw the files change under them, before giving up
RETRY_PAUSE_S = 0.2


class ReloadFailed(Exception):
    """The directory does not load; ``errors`` says why, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Changing(Exception):
    """The files changed while they were read."""


@dataclass(frozen=True)
class LoadedRules:
    """One load of a rules directory, as the receiver uses it."""

    ruleset: RuleSet
    intakes: dict[str, Intake]
    templates: dict[str, str]
    loaded_at: datetime
    digest: str
    shadow: RuleSet | None = None

    @classmethod
    def of(cls, ruleset: RuleSet, environ: Mapping[str, str]) -> LoadedRules:
        """A rule set loaded already (tests, tools): its intakes and its directory's
        templates built around it."""
        directory = Path(ruleset.source_files[0]).parent if ruleset.source_files else None
        return cls(
            ruleset,
            build_intakes(ruleset, environ),
            updates.load_templates(directory or Path("/nonexistent")),
            datetime.now(UTC),
            directory_digest(directory) if directory else "",
        )


def directory_digest(directory: Path) -> str:
    """A hash of every file a load reads (rule files, templates), names and bytes."""
    digest = hashlib.sha256()
    try:
        files = rule_files(directory)
    except RuleError as exc:
        return f"unloadable: {exc}"
    folder = directory / "templates"
    if folder.is_dir():
        files += sorted(p for p in folder.glob("*.j2") if p.is_file())
    for path in files:
        try:
            content = path.read_bytes()
        except OSError as exc:
            content = f"unreadable: {exc}".encode()
        digest.update(
            b"%s\0%d\0%s" % (str(path.relative_to(directory)).encode(), len(content), content)
        )
    return digest.hexdigest()


def load_directory(directory: Path, environ: Mapping[str, str]) -> LoadedRules:
    """Load ``directory`` whole, or raise ReloadFailed with every error."""
    before = directory_digest(directory)
    errors: list[str] = []
    try:
        ruleset = load_ruleset(directory)
    except RuleError as exc:
        raise ReloadFailed(str(exc).splitlines()) from exc
    try:
        templates = updates.load_templates(directory)
        errors += [f"{directory / 'templates'}/{e}" for e in updates.check_templates(templates)]
    except RuleError as exc:
        errors += str(exc).splitlines()
        templates = {}
    try:
        intakes = build_intakes(ruleset, environ)
    except IntakeConfigError as exc:
        errors.append(f"{directory}: {exc}")
    if errors:
        raise ReloadFailed(errors)
    if directory_digest(directory) != before:
        raise _Changing()
    return LoadedRules(ruleset, intakes, templates, datetime.now(UTC), before)


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    changed: bool
    version: str
    errors: tuple[str, ...] = ()


OnSwap = Callable[[LoadedRules], Awaitable[None]]


@dataclass
class LiveRules:
    """The current rules of this process, and the state of its last reload.

    Attributes:
        directory: Where the rules are read from (None: never reloaded).
        current: What requests use now.
        shadow_dir: Rules that classify every alert in shadow (nothing is paged
            from them); reloaded with the live ones. A shadow directory that fails
            to load keeps its previous rules and says so in ``shadow_errors``.
        errors: The errors of the last reload when it failed, else empty.
        on_swap: Called after each swap to new content (republish to Redis...); when
            one raises, ``publish_pending`` is set and the watcher calls them again.
    """

    directory: Path | None
    current: LoadedRules
    environ: Mapping[str, str] = field(default_factory=dict)
    shadow_dir: Path | None = None
    errors: tuple[str, ...] = ()
    shadow_errors: tuple[str, ...] = ()
    last_reload_at: datetime | None = None
    last_reason: str = "start"
    on_swap: list[OnSwap] = field(default_factory=list)
    publish_pending: bool = False
    _seen: str = ""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        shadow = directory_digest(self.shadow_dir) if self.shadow_dir else ""
        self._seen = self.current.digest + shadow
        metrics.rules_loaded(self.current.ruleset.version, ok=True)

    def watched_digest(self) -> str:
        """The content of the live and the shadow directory, as one hash."""
        live = directory_digest(self.directory) if self.directory else ""
        return live + (directory_digest(self.shadow_dir) if self.shadow_dir else "")

    def changed_on_disk(self, digest: str) -> bool:
        """Whether ``digest`` differs from the content last loaded or tried."""
        return digest != self._seen

    async def reload(self, reason: str) -> ReloadOutcome:
        """Load the directory again and swap it in when it loads whole."""
        async with self._lock:
            return await self._reload(reason)

    async def _reload(self, reason: str) -> ReloadOutcome:
        old = self.current
        self.last_reload_at, self.last_reason = datetime.now(UTC), reason
        self._seen = await asyncio.to_thread(self.watched_digest)
        if self.directory is None:
            return ReloadOutcome(True, False, old.ruleset.version)
        try:
            new = await _settled(load_directory, self.directory, self.environ)
        except ReloadFailed as exc:
            self.errors = tuple(exc.errors)
            metrics.rules_loaded(old.ruleset.version, ok=False)
            metrics.RULES_RELOADS.labels(result="failure").inc()
            log.error(
                "rules reload (%s) failed; still running version %s (%d errors follow)",
                reason,
                old.ruleset.version,
                len(exc.errors),
            )
            for error in exc.errors:
                log.error("rules reload: %s", error)
            return ReloadOutcome(False, False, old.ruleset.version, self.errors)
        new = await self._with_shadow(new, old.shadow)
        _keep_rate_limits(old, new)
        self.current, self.errors = new, ()
        metrics.rules_loaded(new.ruleset.version, ok=True)
        metrics.RULES_RELOADS.labels(result="success").inc()
        changed = new.digest != old.digest or new.shadow is not old.shadow
        if changed:
            log.info(
                "rules reloaded (%s): version %s -> %s",
                reason,
                old.ruleset.version,
                new.ruleset.version,
            )
            await self._publish(new)
        return ReloadOutcome(True, changed, new.ruleset.version)

    async def _publish(self, loaded: LoadedRules) -> None:
        failed = False
        for call in self.on_swap:
            try:
                await call(loaded)
            except Exception:
                log.exception("after the rules reload (version %s)", loaded.ruleset.version)
                failed = True
        self.publish_pending = failed

    async def retry_publish(self) -> None:
        """Run the swap callbacks again if they failed (Redis was away): workers must
        read what the running rules say."""
        if self.publish_pending:
            async with self._lock:
                if self.publish_pending:
                    await self._publish(self.current)

    async def _with_shadow(self, new: LoadedRules, previous: RuleSet | None) -> LoadedRules:
        if self.shadow_dir is None:
            return new
        try:
            shadow = await _settled(load_shadow, self.shadow_dir)
        except ReloadFailed as exc:
            self.shadow_errors = tuple(exc.errors)
            log.error("shadow rules do not load; keeping the previous ones")
            for error in exc.errors:
                log.error("shadow rules: %s", error)
            return dataclasses.replace(new, shadow=previous)
        self.shadow_errors = ()
        if previous is not None and shadow.version == previous.version:
            shadow = previous
        return dataclasses.replace(new, shadow=shadow)


async def _settled(load: Callable[..., T], directory: Path, *args: object) -> T:
    """``load(directory, *args)`` off the event loop, again when the files changed
    under it."""
    for _ in range(RETRIES):
        try:
            return await asyncio.to_thread(load, directory, *args)
        except _Changing:
            await asyncio.sleep(RETRY_PAUSE_S)
    raise ReloadFailed([f"{directory}: the files kept changing while being read; not loaded"])


def load_shadow(directory: Path) -> RuleSet:
    """The shadow rules: rules only (nothing is sent, rendered or authenticated with
    them), checked as loaded whole like the live ones."""
    before = directory_digest(directory)
    try:
        ruleset = load_ruleset(directory)
    except RuleError as exc:
        raise ReloadFailed(str(exc).splitlines()) from exc
    if directory_digest(directory) != before:
        raise _Changing()
    return ruleset


class Look(StrEnum):
    """What one look at the files found."""

    SAME = "same"  # as loaded (or as last tried)
    CHANGING = "changing"  # changed since the last look: wait a look more
    RELOADED = "reloaded"  # changed, then the same for a whole look: reloaded


@dataclass
class Watcher:
    """Reloads when the watched files change and then stay the same for one poll.

    Content that failed to load is not tried again until it changes (or SIGHUP /
    POST /api/v1/rules/reload asks)."""

    live: LiveRules
    pending: str = ""

    async def step(self) -> Look:
        """Look once (and publish again what failed to publish)."""
        await self.live.retry_publish()
        digest = await asyncio.to_thread(self.live.watched_digest)
        if not self.live.changed_on_disk(digest):
            self.pending = ""
            return Look.SAME
        if digest != self.pending:
            self.pending = digest  # changed: load once it has stopped changing
            return Look.CHANGING
        self.pending = ""
        await self.live.reload("file change")
        return Look.RELOADED


async def watch(live: LiveRules, interval: float) -> None:
    """Run a Watcher every ``interval`` seconds until cancelled."""
    watcher = Watcher(live)
    while True:
        await asyncio.sleep(interval)
        try:
            await watcher.step()
        except Exception:  # never let a bug end the watching
            log.exception("rules watch failed; trying again")


def _keep_rate_limits(old: LoadedRules, new: LoadedRules) -> None:
    """A source whose rate limit did not change keeps its bucket (a reload is no
    reason to let a burst through)."""
    for name, intake in new.intakes.items():
        before = old.intakes.get(name)
        same = old.ruleset.sources.get(name) and new.ruleset.sources.get(name)
        if before is not None and intake.limiter is not None and same:
            if old.ruleset.sources[name].rate_limit == new.ruleset.sources[name].rate_limit:
                intake.limiter = before.limiter


_URL = re.compile(r"([a-z][a-z0-9+.-]*://[^/\s'\"]+)[^\s'\"]*", re.IGNORECASE)


def shown_errors(errors: tuple[str, ...]) -> list[str]:
    """Errors as HTTP answers show them: URLs cut to scheme and host (a webhook URL's
    path is often its secret); the logs keep them whole."""
    return [
        _URL.sub(lambda m: m.group(1) + "/…" if m.group(0) != m.group(1) else m.group(1), e)
        for e in errors
    ]
