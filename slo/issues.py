"""Pydantic validation errors turned into plain, lowercase plan issues.

Each pydantic error becomes one ``PlanIssue`` naming the dotted YAML path
(``slos.objectives[0].threshold``), the bad value and what was expected, without
pydantic's boilerplate. Validators of the plan models report their own problems
through ``raise_issues`` so that several can be reported at once, each at its field.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from slo.errors import PlanIssue

__all__ = [
    "LineLookup",
    "Loc",
    "format_path",
    "issues_from_validation_error",
    "raise_issues",
    "show",
    "yaml_keys",
]

Loc = tuple[str | int, ...]
"""A path into the plan, using YAML keys and list indexes: ``("slos", "objectives", 0)``."""

LineLookup = Callable[[Loc], int | None]
"""Finds the 1-based source line of a path (the loader's YAML node map)."""

_ISSUE_TYPE = "plan_issue"
_KEY_MARKER = "[key]"
_MAX_SHOWN = 60

_TEMPLATES = {
    "missing": "missing required field",
    "float_type": "expected a number, got {got}",
    "float_parsing": "expected a number, got {got}",
    "finite_number": "expected a finite number, got {got}",
    "int_type": "expected a whole number, got {got}",
    "int_parsing": "expected a whole number, got {got}",
    "int_from_float": "expected a whole number, got {got}",
    "bool_type": "expected true or false, got {got}",
    "bool_parsing": "expected true or false, got {got}",
    "string_type": "expected text, got {got}",
    "string_too_short": "must not be empty",
    "model_type": "expected a mapping, got {got}",
    "model_attributes_type": "expected a mapping, got {got}",
    "dict_type": "expected a mapping, got {got}",
    "tuple_type": "expected a list, got {got}",
    "list_type": "expected a list, got {got}",
    "literal_error": "expected {expected}, got {got}",
    "greater_than": "expected a number > {gt}, got {got}",
    "greater_than_equal": "expected a number >= {ge}, got {got}",
    "less_than": "expected less than {lt}, got {got}",
    "less_than_equal": "expected at most {le}, got {got}",
    "too_short": "expected at least {min_length} items, got {actual_length}",
    "too_long": "expected at most {max_length} item(s), got {actual_length}",
    "invalid_key": "keys must be text, got {got}",
    "union_tag_not_found": "missing required field",
    "recursion_loop": "a value refers to itself (recursive YAML anchor)",
}
_NO_VALUE = frozenset({"missing", "union_tag_not_found", "recursion_loop"})


def raise_issues(title: str, problems: Iterable[tuple[Loc, str, object]]) -> NoReturn:
    """Raise one pydantic error per ``(loc, message, value)``, for use inside validators.

    ``loc`` is relative to the model or field being validated; pydantic prefixes it
    with the position of that model in the plan.
    """
    details = [
        InitErrorDetails(
            type=PydanticCustomError(_ISSUE_TYPE, "{message}", {"message": message}),
            loc=loc,
            input=value,
        )
        for loc, message, value in problems
    ]
    raise ValidationError.from_exception_data(title, details)


def show(value: object) -> str:
    """A short, YAML-flavoured rendering of a bad value for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def format_path(loc: Loc) -> str:
    """``("slos", "objectives", 0, "threshold")`` -> ``slos.objectives[0].threshold``."""
    text = ""
    for element in loc:
        if isinstance(element, int):
            text += f"[{element}]"
        elif element != _KEY_MARKER:
            text += f".{element}" if text else element
    return text


def issues_from_validation_error(
    error: ValidationError,
    *,
    root: type[BaseModel],
    source: str,
    line_of: LineLookup | None = None,
) -> tuple[PlanIssue, ...]:
    """One issue per pydantic error, sorted by line for reading top-down."""
    details = _without_echoes(error.errors(include_url=False))
    issues = [_issue(detail, root, source, line_of) for detail in details]
    unique = list(dict.fromkeys(issues))
    return tuple(sorted(unique, key=lambda issue: issue.line or 0))


def _without_echoes(details: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Drop length errors that only echo failed items.

    Pydantic counts a list's length after dropping invalid items, so a list whose
    only items are wrong is also reported as "too short".
    """
    locs = [tuple(d["loc"]) for d in details]

    def echoes(loc: tuple[Any, ...]) -> bool:
        return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)

    return [d for d in details if not (d["type"] == "too_short" and echoes(tuple(d["loc"])))]


def _issue(
    detail: Mapping[str, Any], root: type[BaseModel], source: str, line_of: LineLookup | None
) -> PlanIssue:
    kind: str = detail["type"]
    loc, holder, discriminator = _resolve(root, tuple(detail["loc"]))
    if kind.startswith("union_tag") and discriminator:
        loc = (*loc, discriminator)
    if kind == "invalid_key" and loc:
        loc = (*loc[:-1], str(loc[-1]))  # a bad key, not a list index
    value = None if kind in _NO_VALUE else show(detail["input"])
    return PlanIssue(
        file=source,
        line=line_of(loc) if line_of else None,
        field=format_path(loc),
        value=value,
        message=_message(kind, detail, holder, loc),
    )


def _message(kind: str, detail: Mapping[str, Any], holder: type[BaseModel] | None, loc: Loc) -> str:
    ctx: Mapping[str, Any] = detail.get("ctx") or {}
    if kind == _ISSUE_TYPE:
        return str(ctx["message"])
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind == "extra_forbidden":
        return _unknown_field(str(loc[-1]) if loc else "", holder)
    if kind == "union_tag_invalid":
        expected = str(ctx.get("expected_tags", "")).replace("'", "")
        # The SLO objective list is the plan's only tagged union.
        return f"unknown SLO kind {show(ctx.get('tag'))} (expected one of: {expected})"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    template = _TEMPLATES.get(kind)
    if template is None:
        text = str(detail["msg"])
        return f"{text[:1].lower()}{text[1:]}, got {show(detail['input'])}"
    return template.format(got=show(detail["input"]), **_plain_ctx(ctx))


def _plain_ctx(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Context values for templates: numbers as written in YAML (``0`` not ``0.0``)."""
    return {key: value if isinstance(value, str) else show(value) for key, value in ctx.items()}


def _unknown_field(key: str, holder: type[BaseModel] | None) -> str:
    known = yaml_keys(holder) if holder else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown field (did you mean {close[0]!r}?)"
    return f"unknown field (allowed here: {', '.join(known)})" if known else "unknown field"


def yaml_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model accepts, in declaration order."""
    return [_yaml_key(name, info) for name, info in model.model_fields.items()]


def _yaml_key(name: str, info: FieldInfo) -> str:
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return info.alias or name


def _resolve(root: type[BaseModel], loc: Loc) -> tuple[Loc, type[BaseModel] | None, str | None]:
    """Drop union tags from ``loc``; find the model holding its last key and any discriminator.

    Pydantic puts the tag of a discriminated union into error locations
    (``objectives.0.latency.threshold``); the YAML has no such level.
    """
    clean: list[str | int] = []
    current: object = root
    holder: type[BaseModel] | None = None
    discriminator: str | None = None
    for element in loc:
        current, discriminator = _unwrap(current)
        members = _tagged_members(current, discriminator)
        if isinstance(element, str) and element in members:
            current = members[element]
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            holder = current
        current = _child(current, element)
        clean.append(element)
    _, discriminator = _unwrap(current)
    return tuple(clean), holder, discriminator


def _unwrap(tp: object) -> tuple[object, str | None]:
    """Strip ``Annotated`` and ``None`` from a type; return it and its discriminator."""
    discriminator: str | None = None
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            for meta in get_args(tp)[1:]:
                if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                    discriminator = meta.discriminator
            tp = get_args(tp)[0]
        elif _is_union(origin) and type(None) in get_args(tp) and len(get_args(tp)) == 2:
            tp = next(arg for arg in get_args(tp) if arg is not type(None))
        else:
            return tp, discriminator


def _is_union(origin: object) -> bool:
    return origin is Union or origin is types.UnionType


def _tagged_members(tp: object, discriminator: str | None) -> dict[str, type[BaseModel]]:
    if discriminator is None or not _is_union(get_origin(tp)):
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(tp):
        field = member.model_fields.get(discriminator) if issubclass(member, BaseModel) else None
        for tag in get_args(field.annotation) if field else ():
            members[str(tag)] = member
    return members


def _child(tp: object, element: str | int) -> object:
    """The type found one step down ``tp`` at ``element`` (``None`` when unknown)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if element in (name, _yaml_key(name, info)):
                return _field_type(info)
        return None
    args: Sequence[object] = get_args(tp)
    origin = get_origin(tp)
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[0] if element == _KEY_MARKER else args[1]
    return None


def _field_type(info: FieldInfo) -> object:
    # FieldInfo keeps a discriminator apart from the annotation; put it back.
    if isinstance(info.discriminator, str):
        return Annotated[info.annotation, info]
    return info.annotation
