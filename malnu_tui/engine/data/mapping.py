"""The mapping file (TOML): one ``[columns.NAME]`` table per target column.

```toml
[columns.email]
from = "email_address"
apply = ["trim", "lower"]
[columns.role]
from = "user_type"
map = { S = "student", T = "teacher", P = "parent", A = "admin" }  # no default: unmapped rejects
[columns.created_at]
from = "created_date"
apply = [{ date = ["%d/%m/%Y %H:%M"] }]  # a step with arguments is a one-key table
[columns.updated_at]
now = true
```

Keys of a column: ``from`` (source column), ``apply`` (steps, in order), ``map`` (+ optional
``default``), ``default`` (for a NULL result without ``map``), ``const`` (a fixed value) and
``now = true`` (the import's UTC time). Every error names the mapping file's line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from malnu_tui.engine.data.dates import EXCEL_FORMATS, date_step, timezone_step
from malnu_tui.engine.data.errors import MappingError
from malnu_tui.engine.data.transform import (
    PERCENT_FORMS,
    PHONE_FORMS,
    SIMPLE_STEPS,
    STEP_NAMES,
    STEPS_WITH_ARGS,
    StepFn,
    Value,
    ValueMap,
    bool_step,
    decimal_step,
    digits_step,
    null_if_step,
    phone_step,
)

COLUMN_KEYS = ("from", "apply", "map", "default", "const", "now")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class ColumnRule:
    """How one target column gets its value."""

    column: str
    source: str | None = None  # ``from``
    steps: tuple[StepFn, ...] = ()
    step_names: tuple[str, ...] = ()
    value_map: ValueMap | None = None
    default: Value = None
    has_default: bool = False
    const: Value = None
    has_const: bool = False
    now: bool = False
    line: int = 0

    @property
    def zone_given(self) -> bool:
        """A ``timezone`` step says the zone of times written without one."""
        return any(n.startswith("timezone") for n in self.step_names)

    def describe(self) -> str:
        if self.now:
            return "now"
        if self.has_const:
            return f"const {self.const!r}"
        parts = [f"from {self.source}"]
        if self.step_names:
            parts.append(" → ".join(self.step_names))
        if self.value_map is not None:
            parts.append(f"map ({len(self.value_map.table)} values)")
        return ", ".join(parts)


@dataclass(frozen=True)
class Mapping:
    path: Path | None
    rules: tuple[ColumnRule, ...] = field(default=())

    def sources(self) -> set[str]:
        return {r.source for r in self.rules if r.source is not None}


def identity_mapping(header: Sequence[str]) -> Mapping:
    """No mapping file: each header names its target column, values as they are (an empty
    header names none: the schema check says so, or ignores a trailing one)."""
    return Mapping(None, tuple(ColumnRule(h, source=h) for h in header if h))


class _Lines:
    """Where things are in the mapping's text (tomllib gives no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def section(self, column: str) -> int:
        names = {column, f'"{column}"', f"'{column}'"}
        for i, line in enumerate(self.lines, 1):
            m = re.match(r"\s*\[\s*columns\s*\.\s*(.+?)\s*\]\s*(#.*)?$", line)
            if m and m.group(1) in names:
                return i
            m = re.match(r"\s*columns\s*\.\s*(\S+?)\s*=", line)
            if m and m.group(1) in names:
                return i
        return 1

    def key(self, column: str, key: str) -> int:
        start = self.section(column)
        for i in range(start, len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > start and re.match(r"\s*\[", line):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", line) or re.search(
                rf"[{{,]\s*{re.escape(key)}\s*=", line
            ):
                return i
        return start


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; :class:`MappingError` (exit 2) names the line."""
    p = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(p, f"cannot read the mapping: {exc}") from None
    # Saved on Windows: Notepad's and VS Code's "UTF-8 with BOM" (the BOM is no TOML: it was
    # "not valid TOML: Invalid statement" on line 1), Notepad's "Unicode" (UTF-16) or ANSI.
    save = "save the mapping as UTF-8 (Notepad: Save As → Encoding: UTF-8)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise MappingError(p, "the mapping is UTF-16 text, not UTF-8", line=1, hint=save)
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MappingError(
            p, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", line=line, hint=save
        ) from None
    return parse_mapping(text, path)


def parse_mapping(text: str, path: Path) -> Mapping:
    p = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        message = _TOML_LINE.sub("", str(exc)).strip()
        raise MappingError(p, f"not valid TOML: {message}", line=int(m[1]) if m else None) from None
    except RecursionError:
        raise MappingError(p, "not valid TOML: arrays or tables nested too deep to read") from None
    where = _Lines(text)
    unknown = [k for k in data if k != "columns"]
    if unknown:
        line = next(
            (i for i, t in enumerate(where.lines, 1) if re.match(rf"\s*\[?{unknown[0]}\b", t)), 1
        )
        raise MappingError(p, f"unknown key {unknown[0]!r} (only [columns.NAME] tables)", line=line)
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError(p, "no [columns.NAME] table: name at least one target column", line=1)
    rules = [_rule(p, where, name, spec) for name, spec in columns.items()]
    return Mapping(path, tuple(rules))


def _rule(p: str, where: _Lines, name: str, spec: object) -> ColumnRule:
    line = where.section(name)
    if not isinstance(spec, dict):
        raise MappingError(p, f"columns.{name} must be a table", line=line)
    for k in spec:
        if k not in COLUMN_KEYS:
            raise MappingError(
                p,
                f"columns.{name}: unknown key {k!r} (one of: {', '.join(COLUMN_KEYS)})",
                line=where.key(name, k),
            )
    kinds = [k for k in ("from", "const", "now") if k in spec]
    if len(kinds) != 1:
        raise MappingError(
            p,
            f"columns.{name}: give exactly one of from, const, now"
            + (f" (got {', '.join(kinds)})" if kinds else ""),
            line=line,
        )
    if "now" in spec and spec["now"] is not True:
        raise MappingError(p, f"columns.{name}: now must be true", line=where.key(name, "now"))
    if "from" in spec and (not isinstance(spec["from"], str) or not spec["from"]):
        raise MappingError(
            p, f"columns.{name}: from must name a source column", line=where.key(name, "from")
        )
    steps, names = _steps(p, where, name, spec.get("apply", []))
    value_map = None
    if "map" in spec:
        table = spec["map"]
        if not isinstance(table, dict) or not table:
            raise MappingError(
                p, f"columns.{name}: map must be a table of values", line=where.key(name, "map")
            )
        for v in table.values():
            if isinstance(v, (dict, list)):
                raise MappingError(
                    p,
                    f"columns.{name}: map values must be plain values",
                    line=where.key(name, "map"),
                )
        value_map = ValueMap(
            {str(k): v for k, v in table.items()}, spec.get("default"), "default" in spec
        )
    for k in ("default", "const"):
        if k in spec and isinstance(spec[k], (dict, list)):
            raise MappingError(
                p, f"columns.{name}: {k} must be a plain value", line=where.key(name, k)
            )
    if ("const" in spec or "now" in spec) and ("apply" in spec or "map" in spec):
        raise MappingError(p, f"columns.{name}: apply/map work on a source value (from)", line=line)
    return ColumnRule(
        column=name,
        source=spec.get("from"),
        steps=steps,
        step_names=names,
        value_map=value_map,
        default=spec.get("default"),
        has_default="default" in spec,
        const=spec.get("const"),
        has_const="const" in spec,
        now=bool(spec.get("now", False)),
        line=line,
    )


def _steps(
    p: str, where: _Lines, name: str, apply: object
) -> tuple[tuple[StepFn, ...], tuple[str, ...]]:
    line = where.key(name, "apply")
    if not isinstance(apply, list):
        raise MappingError(p, f"columns.{name}: apply must be a list of steps", line=line)
    fns: list[StepFn] = []
    names: list[str] = []
    for step in apply:
        if isinstance(step, str):
            if step in _NEEDS_ARGS:
                raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS[step]}", line=line)
            if step not in SIMPLE_STEPS:
                raise MappingError(
                    p,
                    f"columns.{name}: unknown step {step!r} (one of: {', '.join(STEP_NAMES)})",
                    line=line,
                )
            fns.append(SIMPLE_STEPS[step])
            names.append(step)
        elif isinstance(step, dict) and len(step) == 1:
            ((key, arg),) = step.items()
            fns.append(_step_with_args(p, line, name, key, arg))
            names.append(_label(key, arg))
        else:
            raise MappingError(
                p,
                f"columns.{name}: a step is a name or a one-key table, got {step!r}",
                line=line,
            )
    return tuple(fns), tuple(names)


_NEEDS_ARGS = {
    "date": 'date needs its input formats, e.g. { date = ["%d/%m/%Y"] }',
    "decimal": 'decimal needs its separators, e.g. { decimal = { decimal_sep = ",", '
    'thousands_sep = "." } } (and for 85,5%: percent = "points" or "fraction"; for Excel\'s '
    "Accounting format, Rp - for zero: accounting = true)",
    "digits": "digits needs the number of digits, e.g. { digits = 10 } (or { digits = { "
    "length = 10, leading_zeros_lost = true } } for a column Excel kept as numbers)",
    "null_if": 'null_if needs the texts that mean "no value", e.g. '
    '{ null_if = ["0000-00-00 00:00:00", "0000-00-00"] } (MySQL\'s zero dates)',
    "timezone": "timezone needs the zone of times written without one, e.g. "
    '{ timezone = "Asia/Jakarta" } (WIB; WITA is Asia/Makassar, WIT Asia/Jayapura)',
    "phone": 'phone needs the form to write, { phone = "national" } or { phone = "e164" } '
    '(or { phone = { form = "national", leading_zero_lost = true } } for a column Excel '
    "kept as numbers)",
}
_SEPARATORS = (",", ".", " ", "\u00a0", "'", "")


def _label(key: str, arg: Any) -> str:
    """A step with arguments as the preview shows it (what it does, not only its name)."""
    if key == "decimal":
        t, d = arg["thousands_sep"], arg["decimal_sep"]
        per = {"points": ", 85" + d + "5% → 85.5", "fraction": ", 85" + d + "5% → 0.855"}
        acc = ", Rp - → 0" if arg.get("accounting") else ""
        return (
            f"decimal ({'1' + t + '234' + d + '56'} → 1234.56"
            f"{per.get(arg.get('percent'), '')}{acc})"
        )
    if key == "digits":
        table = arg if isinstance(arg, MappingABC) else {"length": arg}
        lost = ", leading zeros put back" if table.get("leading_zeros_lost") else ""
        return f"digits ({table['length']}{lost})"
    if key == "phone":
        table = arg if isinstance(arg, MappingABC) else {"form": arg}
        shown = "081234567890" if table["form"] == "national" else "+6281234567890"
        lost = ", 8123… read as 08123…" if table.get("leading_zero_lost") else ""
        return f"phone (→ {shown}{lost})"
    if key == "null_if":
        shown = ", ".join(repr(x) for x in ([arg] if isinstance(arg, str) else arg)[:3])
        return f"null_if ({shown} → NULL)"
    if key == "timezone":
        return f"timezone (a time without its offset is {arg}'s)"
    if key == "date" and any(f in EXCEL_FORMATS for f in ([arg] if isinstance(arg, str) else arg)):
        return "date (+ Excel serials)"
    return key


# Indonesia's zones by the names operators say (WIB, WITA, WIT): not IANA names.
_ID_ZONES = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}


def _zone(p: str, line: int, name: str, arg: object) -> ZoneInfo:
    """The zone of a ``timezone`` step: an IANA name the system's time zone data knows."""
    if not isinstance(arg, str) or not arg.strip():
        raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS['timezone']}", line=line)
    try:
        return ZoneInfo(arg)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    if arg.strip().lower() in _ID_ZONES:
        why = f"write {_ID_ZONES[arg.strip().lower()]!r} (the zone's name, not its abbreviation)"
    elif not available_timezones():
        why = "this system has no time zone data (install its tzdata package)"
    else:
        why = 'a zone name such as "Asia/Jakarta" (WIB), "Asia/Makassar" (WITA), "UTC"'
    raise MappingError(p, f"columns.{name}: unknown time zone {arg!r}: {why}", line=line)


def _step_with_args(p: str, line: int, name: str, key: str, arg: Any) -> StepFn:
    if key == "date":
        formats = [arg] if isinstance(arg, str) else arg
        if (
            not isinstance(formats, list)
            or not formats
            or not all(isinstance(f, str) and ("%" in f or f in EXCEL_FORMATS) for f in formats)
        ):
            raise MappingError(
                p,
                f"columns.{name}: date takes strptime formats (or excel, excel1904 for Excel's "
                'date serials), e.g. ["%d/%m/%Y %H:%M", "%Y-%m-%d", "excel"]',
                line=line,
            )
        return date_step(formats)
    if key == "decimal":
        ok = isinstance(arg, MappingABC) and (
            {"decimal_sep", "thousands_sep"}
            <= set(arg)
            <= {"decimal_sep", "thousands_sep", "percent", "accounting"}
        )
        if (
            not ok
            or arg["decimal_sep"] not in (",", ".")
            or arg["thousands_sep"] not in _SEPARATORS
            or arg.get("percent", "points") not in PERCENT_FORMS
            or not isinstance(arg.get("accounting", False), bool)
        ):
            raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS['decimal']}", line=line)
        if arg["decimal_sep"] == arg["thousands_sep"]:
            raise MappingError(
                p, f"columns.{name}: decimal_sep and thousands_sep must differ", line=line
            )
        return decimal_step(
            arg["decimal_sep"],
            arg["thousands_sep"],
            percent=arg.get("percent"),
            accounting=arg.get("accounting", False),
        )
    if key == "phone":
        table = arg if isinstance(arg, MappingABC) else {"form": arg}
        if (
            not set(table) <= {"form", "leading_zero_lost"}
            or table.get("form") not in PHONE_FORMS
            or not isinstance(table.get("leading_zero_lost", False), bool)
        ):
            raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS['phone']}", line=line)
        return phone_step(table["form"], leading_zero_lost=table.get("leading_zero_lost", False))
    if key == "digits":
        table = arg if isinstance(arg, MappingABC) else {"length": arg}
        length = table.get("length")
        if (
            not set(table) <= {"length", "leading_zeros_lost"}
            or not isinstance(length, int)
            or isinstance(length, bool)
            or not 1 <= length <= 64
            or not isinstance(table.get("leading_zeros_lost", False), bool)
        ):
            raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS['digits']}", line=line)
        return digits_step(length, leading_zeros_lost=table.get("leading_zeros_lost", False))
    if key == "null_if":
        values = [arg] if isinstance(arg, str) else arg
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(x, str) for x in values)
        ):
            raise MappingError(p, f"columns.{name}: {_NEEDS_ARGS['null_if']}", line=line)
        return null_if_step(values)
    if key == "timezone":
        return timezone_step(_zone(p, line, name, arg))
    if key == "bool":
        if not isinstance(arg, MappingABC) or set(arg) != {"true", "false"}:
            raise MappingError(
                p,
                f'columns.{name}: bool takes {{ true = ["Y", "ya"], false = ["N", "tidak"] }}',
                line=line,
            )
        words = [arg["true"], arg["false"]]
        if not all(isinstance(w, list) and all(isinstance(x, str) for x in w) for w in words):
            raise MappingError(p, f"columns.{name}: bool's words must be lists of text", line=line)
        return bool_step(words[0], words[1])
    raise MappingError(
        p,
        f"columns.{name}: unknown step {key!r} (steps with arguments: "
        f"{', '.join(STEPS_WITH_ARGS)})",
        line=line,
    )
