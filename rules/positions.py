"""Positions in YAML files: parse with marks, and turn locations into ``file:line:col``.

A rule file is composed into a YAML node tree (each node knows its line and
column) and constructed into plain data from that same tree. A pydantic error
location such as ``("rules", 0, "matchers", 1)`` is then walked down the tree
to the node it names, giving the ``RuleFileError`` its line, column and key
path (``rules[0].matchers[1]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from rules.errors import RuleFileError

Loc = Sequence[str | int]
"""A location inside a document: mapping keys and sequence indexes."""

_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_KEY = "[key]"  # pydantic's marker for "the key of the mapping entry, not its value"


@dataclass(frozen=True)
class Document:
    """One parsed YAML file.

    Attributes:
        path: The file, as errors name it.
        data: The constructed content (None for an empty file).
        root: The node tree the content was built from.
    """

    path: str
    data: Any
    root: yaml.Node | None

    def error(
        self,
        loc: Loc,
        reason: str,
        *,
        at_key: bool = False,
        skip: frozenset[str] = frozenset(),
        kind: type[RuleFileError] = RuleFileError,
        anchor: Loc | None = None,
    ) -> RuleFileError:
        """Build an error located at ``loc``.

        Args:
            loc: Where the problem is; parts this document lacks are kept in
                the key path, and the position is that of the deepest node found.
            reason: What is wrong.
            at_key: Point at the key of the last part rather than its value.
            skip: Parts that are not keys of the file (pydantic union tags).
            kind: The error class to build.
            anchor: Point here instead (e.g. at the parent of a missing key).

        Returns:
            The error.
        """
        parts = [p for p in loc if not (isinstance(p, str) and p in skip)]
        if parts and parts[-1] == _KEY:
            parts.pop()
            at_key = True
        if anchor is not None:
            where = [p for p in anchor if not (isinstance(p, str) and p in skip)]
        else:
            where = parts
        node = _find(self.root, where, at_key=at_key)
        line = column = None
        if node is not None:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return kind(self.path, line, column, key_path(parts), reason)


def key_path(parts: Loc) -> str:
    """Render a location the way errors show it: ``escalation.SEV-1[1].notify[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY_RE.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _find(root: yaml.Node | None, parts: Loc, *, at_key: bool) -> yaml.Node | None:
    node, key_node = root, None
    for part in parts:
        child = None
        key_node = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    key_node, child = key, value
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            return node
        node = child
    if at_key and key_node is not None:
        return key_node
    return node


def parse_document(path: str, text: str) -> tuple[Document | None, list[RuleFileError]]:
    """Parse one YAML file, keeping its node tree.

    Args:
        path: The file, as errors should name it.
        text: Its content.

    Returns:
        The document (None when it is not valid YAML) and its problems: a
        syntax error, or keys given twice in one mapping.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_error(path, exc)]
    finally:
        loader.dispose()
    document = Document(path, data, root)
    errors = [document.error(loc, "duplicate key", at_key=True) for loc in _duplicate_keys(root)]
    return document, errors


def _syntax_error(path: str, exc: yaml.MarkedYAMLError) -> RuleFileError:
    mark = exc.problem_mark or exc.context_mark
    reason = "invalid YAML: " + "; ".join(str(p) for p in (exc.context, exc.problem) if p)
    if mark is None:
        return RuleFileError(path, None, None, "", reason)
    return RuleFileError(path, mark.line + 1, mark.column + 1, "", reason)


def _duplicate_keys(root: yaml.Node | None) -> Iterator[list[str | int]]:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node | None, list[str | int]]] = [(root, [])]
    while stack:
        node, loc = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, [*loc, i]) for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name is not None and name != "<<":
                    if name in keys:
                        yield [*loc, name]
                    keys.add(name)
                stack.append((value, [*loc, name if name is not None else "?"]))
