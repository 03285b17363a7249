"""YAML text to plain data plus a map from field paths to source lines.

Parsing keeps PyYAML's node tree (``compose``) so that validation errors found later
in plain data can be pointed back at a line. Duplicate keys, which PyYAML silently
lets the last one win, are rejected here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from slo.errors import PlanError, PlanIssue
from slo.issues import Loc, format_path

__all__ = ["YamlDocument", "parse_yaml"]

_MERGE_KEY = "<<"
_BOOL = "tag:yaml.org,2002:bool"


class _PlanLoader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads on/off/yes/no as booleans, which turns the key of
    ``rollback: {on: fail}`` into ``True``; a boolean field still accepts them
    (the models read "yes" and "on" as true)."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document: its plain data and its node tree."""

    data: object
    root: Node

    def line_of(self, loc: Loc) -> int:
        """The 1-based line of the deepest part of ``loc`` present in the document.

        A key's own line is used (an unknown key points at itself); a path that ends
        at a missing key points at its parent's key, or the list item holding it.
        """
        node = self.root
        line = node.start_mark.line + 1
        for element in loc:
            step = _step(node, element)
            if step is None:
                break
            anchor, node = step
            line = anchor.start_mark.line + 1
        return line


def _step(node: Node, element: str | int) -> tuple[Node, Node] | None:
    """(anchor node for the line, child node) one step down, or ``None``."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(element):
                return key, value
        return None
    if isinstance(node, SequenceNode) and isinstance(element, int):
        items = node.value
        return (items[element], items[element]) if 0 <= element < len(items) else None
    return None


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document with the safe loader.

    Raises ``PlanError`` for malformed YAML (with line and column), an empty
    document, or duplicate keys (every one, with its line).
    """
    try:
        loader = _PlanLoader(text)  # a control character is refused right here
    except yaml.YAMLError as err:
        raise _reader_error(err, text, source) from err
    try:
        root = loader.get_single_node()
        if root is None:
            raise PlanError.single(source, "the plan is empty (expected apiVersion: peakops/v1)")
        duplicates = list(_duplicate_keys(root, (), source, set()))
        if duplicates:
            raise PlanError(duplicates)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(err, source) from err
    except yaml.YAMLError as err:
        raise PlanError.single(source, f"invalid YAML: {err}") from err
    except RecursionError as err:  # PyYAML composes and constructs recursively
        raise PlanError.single(source, "invalid YAML: nested too deeply") from err
    except ValueError as err:  # an integer past Python's 4300-digit conversion limit
        raise PlanError.single(source, "invalid YAML: a number too long to read") from err
    finally:
        loader.dispose()
    return YamlDocument(data=data, root=root)


def _reader_error(err: yaml.YAMLError, text: str, source: str) -> PlanError:
    position = getattr(err, "position", None)
    line = text[:position].count("\n") + 1 if isinstance(position, int) else None
    character = getattr(err, "character", None)
    what = f"character #x{character:04x}" if isinstance(character, int) else "a character"
    message = f"invalid YAML: {what} is not allowed in a plan"
    return PlanError([PlanIssue(file=source, line=line, field="", value=None, message=message)])


def _yaml_error(err: yaml.MarkedYAMLError, source: str) -> PlanError:
    mark = err.problem_mark or err.context_mark
    problem = ", ".join(part for part in (err.context, err.problem) if part) or "unreadable"
    issue = PlanIssue(
        file=source,
        line=mark.line + 1 if mark else None,
        field="",
        value=None,
        message=f"invalid YAML: {problem}",
        column=mark.column + 1 if mark else None,
    )
    return PlanError([issue])


def _duplicate_keys(node: Node, loc: Loc, source: str, seen: set[int]) -> Iterator[PlanIssue]:
    """Every key that repeats an earlier key of the same mapping, anywhere in the tree."""
    if id(node) in seen:  # anchors and aliases share nodes, and may even recurse
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index), source, seen)
    if not isinstance(node, MappingNode):
        return
    first_line: dict[str, int] = {}
    for key, value in node.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if name is None or name == _MERGE_KEY:
            continue
        line = key.start_mark.line + 1
        if name in first_line:
            message = f"duplicate key {name!r} (first defined on line {first_line[name]})"
            path = format_path((*loc, name))
            yield PlanIssue(file=source, line=line, field=path, value=None, message=message)
        first_line.setdefault(name, line)
        yield from _duplicate_keys(value, (*loc, name), source, seen)
