"""Read a plan file: parse YAML and check its version, then validate it into a ``Plan``.

The only I/O in ``slo``. Every problem, from a missing file to a bad SLO threshold,
comes out as a ``PlanError`` whose issues name the file, line, field and bad value::

    peak.yaml:12: load.rate: expected a number, got 'fast'
"""

from __future__ import annotations

from pathlib import Path

from slo.errors import PlanError
from slo.issues import Loc
from slo.plan import Plan, validate_plan
from slo.yamldoc import parse_yaml

__all__ = ["line_of_field", "load_plan", "load_plan_text"]


def load_plan(path: Path) -> Plan:
    """Load and validate the plan file at ``path``; raises ``PlanError``."""
    return load_plan_text(_read_text(path), source=str(path))


def load_plan_text(text: str, source: str) -> Plan:
    """Validate plan YAML ``text``; ``source`` names it in messages. Raises ``PlanError``."""
    document = parse_yaml(text, source)
    return validate_plan(document.data, source=source, line_of=document.line_of)


def line_of_field(path: Path, loc: Loc) -> int | None:
    """The line of the field at ``loc`` (``("target", "adapter")``) in the plan file at
    ``path``, or of the deepest part of it present; None when the file cannot be read.

    For problems found after the plan loaded (an adapter that does not import), so that
    they too are reported as ``peak.yaml:7: target.adapter: ...``.
    """
    try:
        return parse_yaml(_read_text(path), str(path)).line_of(loc)
    except PlanError:
        return None


def _read_text(path: Path) -> str:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise PlanError.single(source, "no such file") from err
    except IsADirectoryError as err:
        raise PlanError.single(source, "is a directory, not a plan file") from err
    except PermissionError as err:
        raise PlanError.single(source, "cannot read the file: permission denied") from err
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise PlanError.single(source, f"cannot read the file: {reason}") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte 0x{raw[err.start]:02x} cannot be decoded)"
        raise PlanError.single(source, message, line=line) from err
