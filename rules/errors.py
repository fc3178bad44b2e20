"""Errors raised by the rules package.

The tree::

    RuleError(Exception)                 anything wrong with rules
    ├── MatcherSyntaxError               a matcher string that does not parse
    ├── RuleFileError                    one problem at one place in one file:
    │   │                                path, line, column, key_path, reason
    │   └── UnknownReference             a name (probe, contact) defined nowhere
    └── RuleSetErrors                    every RuleFileError found while loading
                                         a directory; raised by load_ruleset

``load_ruleset`` collects every problem it can find across all files and raises
one ``RuleSetErrors``; callers that want one message per line use ``str()``.
"""

from __future__ import annotations

from collections.abc import Iterable


class RuleError(Exception):
    """Base class of every error the rules package raises."""


class MatcherSyntaxError(RuleError):
    """A matcher string that is not valid Alertmanager matcher syntax.

    Attributes:
        text: The input that failed to parse.
        reason: Why it failed, without the input.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{reason}: {text}")
        self.text = text
        self.reason = reason


class RuleFileError(RuleError):
    """One problem at one place in one rule file.

    ``str()`` gives ``path:line:col: key.path: reason``; parts that are unknown
    (no line, empty key path) are left out.

    Attributes:
        path: The file (or directory) the problem is in.
        line: 1-based line, or None when the problem has no position.
        column: 1-based column, or None.
        key_path: Where in the document, e.g. ``rules[0].matchers[1]``.
        reason: What is wrong, e.g. ``unknown key``.
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        column: int | None,
        key_path: str,
        reason: str,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.key_path = key_path
        self.reason = reason
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.reason}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._render()


class UnknownReference(RuleFileError):
    """A rule or escalation step names a probe or contact that no file defines."""


class RuleSetErrors(RuleError):
    """Every problem found while loading a rules directory.

    Attributes:
        errors: The problems, in file order, then position order.
    """

    def __init__(self, errors: Iterable[RuleFileError]) -> None:
        self.errors: list[RuleFileError] = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
