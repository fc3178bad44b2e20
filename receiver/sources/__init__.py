"""One adapter per sender, registered explicitly: an unknown source is a 404.

An adapter is pure: a pydantic payload model plus ``to_alerts(payload) -> list[Alert]``.
No I/O, no settings, no store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from receiver.model import Alert
from receiver.sources import alertmanager, generic


@dataclass(frozen=True)
class Source:
    """A sender: how to validate its payload and turn it into alerts."""

    name: str
    payload: type[BaseModel]
    to_alerts: Callable[[Any], list[Alert]]


SOURCES: dict[str, Source] = {
    "alertmanager": Source("alertmanager", alertmanager.Payload, alertmanager.to_alerts),
    "generic": Source("generic", generic.Payload, generic.to_alerts),
}
