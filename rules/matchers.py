"""Alertmanager matchers: ``name op value``, as SREs already write them.

This is the "classic" parser of Prometheus Alertmanager (``pkg/labels/parse.go``,
the only one up to Alertmanager 0.26 and the fallback of later versions), so a
string that Alertmanager accepts here means the same thing here:

- ``name`` is a Prometheus label name, ``[a-zA-Z_:][a-zA-Z0-9_:]*``;
- ``op`` is ``=``, ``!=``, ``=~`` or ``!~``;
- ``value`` may be enclosed in double quotes; inside it ``\\"`` is a quote,
  ``\\\\`` a backslash and ``\\n`` a line feed; any other backslash is literal;
  an unescaped ``"`` other than the enclosing pair is an error; an empty
  unquoted value is an error (write ``""``);
- whitespace around each of the three parts is ignored;
- a regex is anchored at both ends (Alertmanager compiles ``^(?:value)$``):
  ``alertname=~"Checkout"`` does not match ``CheckoutDown``;
- a label that is absent has the value ``""``: ``foo=""`` matches when ``foo``
  is absent or empty, ``foo!=""`` when it is present and not empty.

Regexes run on Python's ``re``; the features Go's RE2 rejects (lookaround,
backreferences, atomic groups, possessive quantifiers) are rejected here too,
so a rule never means something Alertmanager could not express.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from rules.errors import MatcherSyntaxError

_WS = "[ \\t\\n\\f\\r]"  # Go's \s (ASCII only)
_MATCHER_RE = re.compile(
    rf"{_WS}*([a-zA-Z_:][a-zA-Z0-9_:]*){_WS}*(=~|=|!=|!~){_WS}*(.*?){_WS}*",
    re.DOTALL,
)
_LEADING_FLAGS_RE = re.compile(r"\(\?[ims]+\)")
_RE2_UNSUPPORTED_GROUPS = ("(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?>", "(?(")


class MatchOp(StrEnum):
    """The four matcher operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One matcher. ``str()`` renders it the way Alertmanager does.

    Attributes:
        name: The label name.
        op: The operator.
        value: The unescaped value (the regex source for ``=~``/``!~``).
    """

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = None
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            regex = compile_anchored(self.value, text=str(self))
        object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Say whether the labels satisfy this matcher (absent label = ``""``)."""
        actual = labels.get(self.name, "")
        if self._regex is not None:
            found = self._regex.fullmatch(actual) is not None
            return found if self.op is MatchOp.REGEX else not found
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        return actual != self.value

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


def compile_anchored(source: str, *, text: str) -> re.Pattern[str]:
    """Compile a matcher regex so that it must match the whole value.

    Args:
        source: The regex as written in the matcher.
        text: The matcher, for the error message.

    Returns:
        The compiled pattern; use it with ``fullmatch``.

    Raises:
        MatcherSyntaxError: The regex does not compile, or uses a feature RE2
            (Alertmanager's regex engine) does not have.
    """
    unsupported = _re2_unsupported(source)
    if unsupported is not None:
        raise MatcherSyntaxError(
            text, f"invalid regex: {unsupported!r} is not supported by Alertmanager (RE2)"
        )
    # RE2 reads a leading "(?i)" inside "^(?:...)$" as a flag for the whole
    # value; Python wants global flags first, so move them out of the group.
    flags = _LEADING_FLAGS_RE.match(source)
    head, body = (flags.group(), source[flags.end() :]) if flags else ("", source)
    try:
        # fullmatch, not "^...$": Python's "$" also matches before a final "\n".
        return re.compile(f"{head}(?:{body})")
    except re.error as exc:
        raise MatcherSyntaxError(text, f"invalid regex: {exc.msg}") from None


def _re2_unsupported(source: str) -> str | None:
    """Return the first construct of ``source`` that Python has and RE2 lacks."""
    i, in_class, size = 0, False, len(source)
    while i < size:
        char = source[i]
        if char == "\\":
            pair = source[i : i + 2]
            if not in_class and (pair[1:].isdigit() and pair[1:] != "0" or pair == "\\g"):
                return pair
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 2 if source[i + 1 : i + 2] == "^" else 1
            i += 1 if source[i : i + 1] == "]" else 0  # "[]...]" and "[^]...]" hold a "]"
            continue
        elif char == "(":
            group = next((g for g in _RE2_UNSUPPORTED_GROUPS if source.startswith(g, i)), None)
            if group is not None:
                return group
        elif char in "*+?}" and source[i + 1 : i + 2] == "+":
            return source[i : i + 2]
        i += 1
    return None


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher, e.g. ``'alertname =~ "CheckoutDown|HighErrorRate"'``.

    Args:
        text: The matcher.

    Returns:
        The Matcher.

    Raises:
        MatcherSyntaxError: The text is not one valid matcher.
    """
    found = _MATCHER_RE.fullmatch(text)
    if found is None:
        raise MatcherSyntaxError(
            text,
            "bad matcher format: expected a label name ([a-zA-Z_:][a-zA-Z0-9_:]*), "
            "one of = != =~ !~, and a value",
        )
    name, op, raw = found.groups()
    if raw == "":
        raise MatcherSyntaxError(text, 'matcher value is not present (write "" for empty)')
    try:
        value = _unescape(raw, text)
    except MatcherSyntaxError:
        if _meant_double_equals(op, raw):
            raise MatcherSyntaxError(text, 'invalid operator "==": use =, !=, =~ or !~') from None
        raise
    return Matcher(name, MatchOp(op), value)


def _meant_double_equals(op: str, raw: str) -> bool:
    """Say whether a value that failed to parse is ``=`` then a valid value (``== "x"``).

    Alertmanager reads ``foo=="x"`` as ``=`` and the value ``="x"``, with a stray
    quote; ``foo==x`` is the value ``=x``, accepted, as there.
    """
    rest = raw[1:].lstrip(" \t\n\f\r")  # Go's \s, as _WS
    if op != "=" or not raw.startswith("=") or not rest:
        return False
    try:
        _unescape(rest, rest)
    except MatcherSyntaxError:
        return False
    return True


def _unescape(raw: str, text: str) -> str:
    """Unquote and unescape a matcher value exactly as Alertmanager does."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    expect_trailing_quote = quoted
    last = len(body) - 1
    for i, char in enumerate(body):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            if i < last:
                escaped = True
            else:
                out.append("\\")
        elif char == '"':
            if not expect_trailing_quote or i < last:
                raise MatcherSyntaxError(text, "value contains an unescaped double quote")
            expect_trailing_quote = False
        else:
            out.append(char)
    if expect_trailing_quote:
        raise MatcherSyntaxError(text, 'unterminated quoted value (missing closing ")')
    return "".join(out)


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a comma-separated list, optionally in braces: ``{a="b", c=~"d"}``.

    As Alertmanager's ``ParseMatchers``: one leading ``{`` and one trailing
    ``}`` are dropped, commas inside double quotes do not separate, and a
    trailing comma is allowed.

    Args:
        text: The list.

    Returns:
        The matchers, possibly none (``""`` or ``"{}"``).

    Raises:
        MatcherSyntaxError: One of the items is not a valid matcher.
    """
    body = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = escaped = False
    for char in body:
        if char == "," and not inside_quotes:
            tokens.append("".join(token))
            token = []
            continue
        if char == '"':
            if escaped:
                escaped = False
            else:
                inside_quotes = not inside_quotes
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    rest = "".join(token).strip()
    if rest:
        tokens.append(rest)
    return [parse_matcher(t) for t in tokens]
