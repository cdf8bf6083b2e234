"""``-- lint:ignore RULE[, RULE] reason`` on the line(s) right above a statement accepts that
statement's findings of those rules, with the reason kept. A directive that can accept
nothing is said, not dropped in silence: a rule id the lint does not have (a typo,
``DROP_TABLE``), one cut from its statement by a blank line, or one written after a
statement or in a block comment (the finding stood, and the operator believed it accepted)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.rules import RULES, finding, register

__all__ = ["apply_ignores"]

_RULE_ID = r"[A-Za-z0-9_-]+"
_IGNORE = re.compile(
    rf"^\s*--\s*lint:ignore\s+(?P<rules>{_RULE_ID}(?:\s*,\s*{_RULE_ID})*)\s*(?P<reason>.*?)\s*$"
)
_ANYWHERE = re.compile(r"(?:--|/\*)\s*lint:ignore\b")

register(
    Rule(
        "IGNORE-WITHOUT-REASON",
        "warning",
        "lint:ignore without a reason",
        "an accepted finding needs the reason it is safe, for the next reader",
        "write `-- lint:ignore RULE why this is safe here`",
    ),
    Rule(
        "IGNORE-UNMATCHED",
        "warning",
        "lint:ignore that accepts nothing",
        "a lint:ignore naming no rule of the lint, or not right above a statement, accepts "
        "nothing: the finding it was meant for stands",
        "write `-- lint:ignore RULE reason` on its own line right above the statement (no "
        "blank line between), with the rule id as the finding shows it",
    ),
)


def _unknown(rule: str, file: str, line: int) -> Finding:
    close = difflib.get_close_matches(rule.replace("_", "-"), sorted(RULES), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    why = f"lint:ignore {rule} names no rule of the lint{hint}: it accepts nothing"
    return finding("IGNORE-UNMATCHED", file, line, why)


def _directives(
    pieces: Iterable[str], file: str
) -> tuple[dict[int, dict[str, str]], list[Finding]]:
    """The directives keyed by the line of the statement below them (consecutive comment lines
    directly above a statement all count), and those that accept nothing."""
    out: dict[int, dict[str, str]] = {}
    unmatched: list[Finding] = []
    pending: dict[str, tuple[int, str]] = {}  # rule → (the directive's line, reason)

    def cut(why: str) -> None:
        for rule, (line, _) in pending.items():
            unmatched.append(finding("IGNORE-UNMATCHED", file, line,
                                      f"lint:ignore {rule} {why}: it accepts nothing"))  # fmt: skip
        pending.clear()

    lines = (line for piece in pieces for line in piece.splitlines())
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        m = _IGNORE.match(raw)
        if m:
            for r in m["rules"].split(","):
                rule = r.strip().upper()
                if rule in RULES:
                    pending[rule] = (number, m["reason"])
                else:
                    unmatched.append(_unknown(rule, file, number))
        elif not stripped:
            cut("is followed by a blank line, not by its statement")
        elif stripped.startswith("--"):
            continue
        else:
            if pending:
                out[number] = {rule: reason for rule, (_, reason) in pending.items()}
            pending.clear()
            if _ANYWHERE.search(raw):
                unmatched.append(finding("IGNORE-UNMATCHED", file, number,
                                          "a lint:ignore after a statement or in a /* */ "
                                          "comment accepts nothing"))  # fmt: skip
    cut("is at the end of the file, with no statement below it")
    return out, unmatched


def apply_ignores(
    findings: list[Finding],
    text: Callable[[], Iterable[str]],
    file: str,
    do_lines: dict[int, int],
) -> list[Finding]:
    """Each finding's ``lint:ignore`` (for a statement inside a DO block, the one above that
    statement or above the DO), and the directives that accept nothing. ``text()`` gives the
    file's text in pieces that end at a line end (a large file's is never held whole)."""
    if not any("lint:ignore" in piece for piece in text()):
        return findings
    directives, unmatched = _directives(text(), file)
    out: list[Finding] = []
    for f in findings:
        reason = directives.get(f.line, {}).get(f.rule) if f.file == file else None
        if reason is None and f.line in do_lines:
            reason = directives.get(do_lines[f.line], {}).get(f.rule)
        if reason is None:
            out.append(f)
        elif not reason:
            out.append(f)
            why = f"lint:ignore {f.rule} has no reason, so the finding stands"
            out.append(finding("IGNORE-WITHOUT-REASON", file, f.line, why))
        else:
            out.append(replace(f, ignored=True, reason=reason))
    return out + unmatched
