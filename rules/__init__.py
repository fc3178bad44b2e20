"""Rules: what SREs write, and what it means. Pure: reads YAML, no network, no Redis.

``load_ruleset(directory)`` reads a rules directory into a ``RuleSet``;
``RuleSet.classify(labels)`` answers a ``Decision``. See ``rules.errors`` for
the exceptions and ``rules.schema`` for the file format.
"""

from __future__ import annotations

from rules.calendar import is_open, next_open, response_deadline
from rules.durations import ResponseWindow, format_duration, parse_duration
from rules.engine import (
    CompiledRule,
    Decision,
    NamedProbe,
    ResolvedContact,
    ResolvedStep,
    RuleSet,
)
from rules.errors import (
    MatcherSyntaxError,
    RuleError,
    RuleFileError,
    RuleSetErrors,
    UnknownReference,
)
from rules.loader import load_ruleset
from rules.matchers import Matcher, MatchOp, parse_matcher, parse_matchers
from rules.schema import BusinessHours, PageMode, Severity, SeverityPolicy

__all__ = [
    "BusinessHours",
    "CompiledRule",
    "Decision",
    "MatchOp",
    "Matcher",
    "MatcherSyntaxError",
    "NamedProbe",
    "PageMode",
    "ResolvedContact",
    "ResolvedStep",
    "ResponseWindow",
    "RuleError",
    "RuleFileError",
    "RuleSet",
    "RuleSetErrors",
    "Severity",
    "SeverityPolicy",
    "UnknownReference",
    "format_duration",
    "is_open",
    "load_ruleset",
    "next_open",
    "parse_duration",
    "parse_matcher",
    "parse_matchers",
    "response_deadline",
]
