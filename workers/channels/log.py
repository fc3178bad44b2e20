"""The log channel: the page written to the daemon's log (no other service needed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rules.schema import LogChannel
from workers.page import Page

log = logging.getLogger("triaged.page")


def send(
    spec: LogChannel,
    page: Page,
    idempotency_key: str,
    client: object = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    level = logging.getLevelName(spec.log.level.upper())
    # one record, one line: the page's lines joined with " | " (and anything in
    # them that would break a line escaped by receiver.logsafe.SafeFormatter)
    lines = " | ".join(page.text().splitlines())
    log.log(level, "PAGE to %s (%s): %s", page.contact, page.reason, lines)
    return "logged"
