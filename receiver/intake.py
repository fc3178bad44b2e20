"""Each source as the receiver runs it: its adapter (or mapping), its sender's auth,
its rate limit, its SNS settings. Built from the rule files at start and at each
rules reload (``receiver.live``; a secret is read again then); a secret that cannot
be read stops the start, or fails the reload (``IntakeConfigError``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from receiver.auth import Authenticator, SecretUnavailable
from receiver.ratelimit import TokenBucket
from receiver.sources import Source, sources_for
from rules import RuleSet
from rules.sources import SnsSettings


class IntakeConfigError(Exception):
    """A source's configuration cannot be used (a secret is missing)."""


@dataclass
class Intake:
    source: Source
    auth: Authenticator | None = None
    limiter: TokenBucket | None = None
    sns: SnsSettings | None = None


def build_intakes(ruleset: RuleSet, environ: Mapping[str, str]) -> dict[str, Intake]:
    """Every source the receiver accepts posts for, by name."""
    intakes = {name: Intake(source) for name, source in sources_for(ruleset.sources).items()}
    for name, config in ruleset.sources.items():
        intake = intakes.get(name)
        if intake is None:  # rules.sources.BUILTIN_SOURCES names an adapter not built
            raise IntakeConfigError(f"sources.{name}: this build has no {name} adapter")
        if config.auth is not None:
            try:
                intake.auth = Authenticator.load(config.auth, environ)
            except SecretUnavailable as exc:
                raise IntakeConfigError(f"sources.{name}.auth: {exc}") from exc
        if config.rate_limit is not None:
            intake.limiter = TokenBucket(config.rate_limit.per_second, config.rate_limit.burst)
        intake.sns = config.sns
    return intakes
