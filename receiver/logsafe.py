"""Log lines that an alert sender cannot forge.

Label values, summaries and paths reach the log (the log channel writes whole
pages). A CR or LF in them would start what looks like a new, separate log line;
bidirectional controls would make a line read differently from what it holds.
``SafeFormatter`` escapes them (and every other control character but tab) in
the message of every record, so one record is always one line. Tracebacks, which
are ours, keep their lines.
"""

from __future__ import annotations

import logging
import re

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r"}.get(char, f"\\u{ord(char):04x}")


def escape(text: str) -> str:
    """``text`` with CR, LF, other controls and bidi overrides written as escapes."""
    return _UNSAFE.sub(_escape, text)


class SafeFormatter(logging.Formatter):
    """A Formatter whose messages are always one line of visible text."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape(record.message)
        return super().formatMessage(record)


_QUERY = re.compile(r"\?[^\s\"]*")


class RedactQuery(logging.Filter):
    """Drops query strings from access-log lines: a sender that cannot send headers
    puts its token there (``?token=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY.sub("?(query not logged)", message), ()
        return True


def redact_access_log() -> None:
    """Install RedactQuery on aiohttp's access logger (once)."""
    access = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())


def setup(level: int, fmt: str) -> None:
    """``logging.basicConfig`` with a SafeFormatter on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
