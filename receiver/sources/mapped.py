"""A sender without an adapter, made a source by a ``mapping`` in a rule file.

    sources:
      my-tool:
        mapping:
          alerts: events                  # where the list of alerts is (omit: the body
                                          # is one alert, or a list of them)
          labels: {alertname: name, service: tags.service, severity: level}
          label_objects: [tags]           # objects whose every key/value is a label
          annotations: {summary: message}
          status: {path: state, resolved: [ok, closed]}   # anything else: firing
          fingerprint: [id]               # identity; default: the labels
          starts_at: created_at
          group_by: [alertname, service]  # the default

Paths are keys and list indexes joined by ``.``. A label whose path is missing in
an alert is left out; an alert without an ``alertname`` is refused (400 naming the
alert). Values are text as ``common.label_value`` writes them. The paths come from
the rule file, never from the sender: a body cannot choose what is read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from receiver.fingerprint import fingerprint
from receiver.model import Alert, AlertStatus
from receiver.sources.common import (
    MAX_VALUE,
    group,
    label_name,
    label_value,
    labels_from,
    merge,
    stable_id,
)
from rules.sources import FieldMapping

MAX_ALERTS = 10_000
_MISSING = object()


class Body(RootModel[dict[str, Any] | list[Any]]):
    """Any JSON object or list: the mapping says what is read of it."""

    model_config = ConfigDict(frozen=True)


def read(data: Any, path: str) -> Any:
    """The value at ``path`` (``a.b.0.c``), or ``_MISSING``."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _refuse(title: str, loc: tuple[str | int, ...], message: str) -> ValidationError:
    error = PydanticCustomError("mapping", message)
    details: list[InitErrorDetails] = [{"type": error, "loc": loc, "input": None}]
    return ValidationError.from_exception_data(title, details)


class MappedSource:
    """``to_alerts`` for one mapping (the ``Source`` of a ``sources.<name>.mapping``)."""

    def __init__(self, name: str, mapping: FieldMapping) -> None:
        self.name = name
        self.mapping = mapping
        self.by = tuple(mapping.group_by)
        self.payload: type[BaseModel] = Body

    def alert_objects(self, body: Any) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
        """The alert objects of a body, with their locations (for error messages)."""
        m = self.mapping
        where: tuple[str | int, ...] = tuple(m.alerts.split(".")) if m.alerts else ()
        found = read(body, m.alerts) if m.alerts else body
        if found is _MISSING:
            raise _refuse(self.name, where, f"no {m.alerts} in the body (the mapping's alerts)")
        items = found if isinstance(found, list) else [found]
        if not items or len(items) > MAX_ALERTS:
            raise _refuse(self.name, where, f"expected 1 to {MAX_ALERTS} alerts")
        out = []
        for i, item in enumerate(items):
            loc = (*where, i) if isinstance(found, list) else where
            if not isinstance(item, dict):
                raise _refuse(self.name, loc, "an alert must be a JSON object")
            out.append((loc, item))
        return out

    def to_alerts(self, payload: Body) -> list[Alert]:
        """Every alert object of the body, mapped. Raises ValidationError naming the
        alert when one has no alertname."""
        return [self._alert(loc, item) for loc, item in self.alert_objects(payload.root)]

    def _alert(self, loc: tuple[str | int, ...], item: dict[str, Any]) -> Alert:
        m = self.mapping
        own: dict[str, str] = {}
        for name, path in m.labels.items():
            text = label_value(value) if (value := read(item, path)) is not _MISSING else None
            if text:
                own[label_name(name)] = text
        if "alertname" not in own:
            path = m.labels["alertname"]
            raise _refuse(self.name, (*loc, *path.split(".")), "no alertname: the path is empty")
        extra = [
            labels_from(obj)
            for path in m.label_objects
            if isinstance(obj := read(item, path), dict)
        ]
        labels = merge(own, *extra)
        annotations = {
            key: text[:MAX_VALUE]
            for key, path in m.annotations.items()
            if (value := read(item, path)) is not _MISSING and (text := label_value(value))
        }
        status = AlertStatus.FIRING
        if m.status is not None:
            value = read(item, m.status.path)
            text = label_value(value) if value is not _MISSING else None
            if text is not None and text.strip().lower() in {r.lower() for r in m.status.resolved}:
                status = AlertStatus.RESOLVED
        if m.fingerprint:
            identity = stable_id(
                *(read(item, p) if read(item, p) is not _MISSING else None for p in m.fingerprint)
            )
        else:
            identity = fingerprint(labels)
        key, group_labels = group(labels, self.by)
        return Alert(
            source=self.name,
            fingerprint=identity,
            status=status,
            labels=labels,
            annotations=annotations,
            starts_at=self._time(item, m.starts_at),
            ends_at=self._time(item, m.ends_at),
            group_key=key,
            group_labels=group_labels,
        )

    @staticmethod
    def _time(item: dict[str, Any], path: str | None) -> str | None:
        if path is None:
            return None
        value = read(item, path)
        text = label_value(value) if value is not _MISSING else None
        return text[:64] if text else None
