"""The transform steps of a mapping (the guide's ``DataTransformer`` as data).

Each step takes a value (text, None for NULL, or what an earlier step made of it) and returns
the new value, or raises :class:`StepFailed` with the reason: a value that fails is a rejected
row, never a guess. NULL passes through every step unchanged (except ``map``/``default``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

Value = object  # str | int | bool | None
StepFn = Callable[[Value], Value]

TRUE_WORDS = ("1", "true", "t", "yes", "y", "ya")
FALSE_WORDS = ("0", "false", "f", "no", "n", "tidak")
_INT = re.compile(r"^[+-]?\d+$")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPACES = re.compile(r"\s+")
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%f", "%X", "%c", "%T", "%R")


class StepFailed(ValueError):
    """A value a step cannot handle; the row is rejected with this reason."""


def _text(step: str, fn: Callable[[str], Value]) -> StepFn:
    def run(v: Value) -> Value:
        if v is None:
            return None
        if not isinstance(v, str):
            raise StepFailed(f"{step}: expects text, got {v!r}")
        return fn(v)

    return run


def _title(s: str) -> str:
    return _WORD.sub(lambda m: m[0][:1].upper() + m[0][1:].lower(), s)


def _null_if_empty(v: Value) -> Value:
    if isinstance(v, str) and not v.strip():
        return None
    return v


def _int(v: Value) -> Value:
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    text = str(v).strip()
    if not _INT.match(text):
        raise StepFailed(f"int: {v!r} is not a whole number")
    return int(text)


def bool_step(true: Sequence[str] = TRUE_WORDS, false: Sequence[str] = FALSE_WORDS) -> StepFn:
    """Words meaning true/false (case-insensitive) → True/False; anything else fails."""
    yes = {w.strip().lower() for w in true}
    no = {w.strip().lower() for w in false}

    def run(v: Value) -> Value:
        if v is None or isinstance(v, bool):
            return v
        word = str(v).strip().lower()
        if word in yes:
            return True
        if word in no:
            return False
        raise StepFailed(f"bool: {v!r} is none of {', '.join(sorted(yes | no))}")

    return run


def date_step(formats: Sequence[str]) -> StepFn:
    """Parse with each ``strptime`` format in turn → ISO 8601 (``YYYY-MM-DD`` when the formats
    hold no time, ``YYYY-MM-DDTHH:MM:SS`` when they do)."""
    fmts = tuple(formats)

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = str(v).strip()
        for fmt in fmts:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if any(d in fmt for d in _TIME_DIRECTIVES):
                return parsed.isoformat(timespec="seconds")
            return parsed.date().isoformat()
        raise StepFailed(f"date: {v!r} matches none of {', '.join(fmts)}")

    return run


SIMPLE_STEPS: dict[str, StepFn] = {
    "trim": _text("trim", str.strip),
    "lower": _text("lower", str.lower),
    "upper": _text("upper", str.upper),
    "title": _text("title", _title),
    "collapse_spaces": _text("collapse_spaces", lambda s: _SPACES.sub(" ", s)),
    "null_if_empty": _null_if_empty,
    "int": _int,
    "bool": bool_step(),
}
STEPS_WITH_ARGS = ("date", "bool")
STEP_NAMES = (*SIMPLE_STEPS, "date")


@dataclass(frozen=True)
class ValueMap:
    """``map = {S = "student", …}`` with an optional ``default``; unmapped and no default
    rejects (never a silent NULL)."""

    table: Mapping[str, Value]
    default: Value = None
    has_default: bool = False

    def __call__(self, v: Value) -> Value:
        key = "" if v is None else str(v)
        if key in self.table:
            return self.table[key]
        if self.has_default:
            return self.default
        shown = "an empty value" if key == "" else repr(key)
        raise StepFailed(f"map: {shown} is not mapped ({', '.join(sorted(self.table))})")
