"""A strict reader of Prometheus's text exposition format (0.0.4), as node_exporter's textfile
collector reads a file: every line a HELP, a TYPE, a comment or a sample; names and label
names as the format allows; label values with only its three escapes; one HELP and one TYPE
per metric, before its samples; a metric's samples together; no series twice; a final
newline. No parser of it is installed here (prometheus_client is not a dependency)."""

from __future__ import annotations

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class BadExposition(ValueError):
    pass


def _value(text: str, where: str) -> float:
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text.lower().replace("inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise BadExposition(f"{where}: not a value: {text!r}")
    return float(text)


def _labels(text: str, where: str) -> tuple[tuple[str, str], ...]:
    """``a="x",b="y"`` (the braces' inside) → pairs, escapes undone; anything else refused."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        m = LABEL.match(text, i)
        if not m or text[m.end() : m.end() + 2] != '="':
            raise BadExposition(f"{where}: bad label at {text[i:]!r}")
        name, i = m.group(), m.end() + 2
        value = []
        while True:
            if i >= len(text):
                raise BadExposition(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise BadExposition(f"{where}: bad escape \\{nxt}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise BadExposition(f"{where}: newline in a label value")
            else:
                value.append(c)
                i += 1
        if name in dict(out):
            raise BadExposition(f"{where}: label {name} twice")
        out.append((name, "".join(value)))
        if i < len(text):
            if text[i] != ",":
                raise BadExposition(f"{where}: expected , at {text[i:]!r}")
            i += 1
    return tuple(out)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``text`` as {(name, labels): value}; BadExposition naming the line."""
    if text and not text.endswith("\n"):
        raise BadExposition("no newline at the end")
    helped: set[str] = set()
    typed: dict[str, str] = {}
    done: set[str] = set()  # metrics whose samples are over
    current = ""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for n, line in enumerate(text.splitlines(), 1):
        where = f"line {n} {line!r}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise BadExposition(f"{where}: bad metric name")
                seen = helped if parts[1] == "HELP" else typed
                if name in seen:
                    raise BadExposition(f"{where}: second {parts[1]} for {name}")
                if name in done or name == current:
                    raise BadExposition(f"{where}: {parts[1]} after the samples of {name}")
                if parts[1] == "HELP":
                    helped.add(name)
                else:
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise BadExposition(f"{where}: bad type")
                    typed[name] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            raise BadExposition(f"{where}: bad metric name")
        name, rest = m.group(), line[m.end() :]
        labels: tuple[tuple[str, str], ...] = ()
        if rest.startswith("{"):
            close = _closing_brace(rest, where)
            labels = _labels(rest[1:close], where)
            rest = rest[close + 1 :]
        fields = rest.split(" ")
        if len(fields) not in (2, 3) or fields[0] != "":
            raise BadExposition(f"{where}: expected ' value [timestamp]'")
        value = _value(fields[1], where)
        if name != current:
            if name in done:
                raise BadExposition(f"{where}: samples of {name} not together")
            if current:
                done.add(current)
            current = name
        key = (name, tuple(sorted(labels)))
        if key in samples:
            raise BadExposition(f"{where}: series twice")
        samples[key] = value if not math.isnan(value) else float("nan")
    return samples


def _closing_brace(text: str, where: str) -> int:
    i, quoted = 1, False
    while i < len(text):
        c = text[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "}" and not quoted:
            return i
        i += 1
    raise BadExposition(f"{where}: no closing brace")
