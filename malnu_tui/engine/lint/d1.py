"""D1's rule set: SQL that Cloudflare D1 rejects or runs differently from a local SQLite file.

What D1 does (from its documentation):

- SQL sent over the API runs as one batch in one implicit transaction; ``BEGIN``, ``COMMIT``
  and ``SAVEPOINT`` are rejected.
- Foreign keys are always enforced; ``PRAGMA foreign_keys = OFF`` is ignored (``= ON`` is a
  harmless no-op). The supported escape hatch is ``PRAGMA defer_foreign_keys = on``, which
  defers constraint *checks* to the end of the batch but does not stop ``ON DELETE`` actions.
- So the classic SQLite table rebuild (create new, copy, ``DROP TABLE`` old, rename) runs the
  implicit ``DELETE`` of the drop with foreign keys on: every child row with ``ON DELETE
  CASCADE`` is deleted (this has wiped child rows for real users), and a child row with
  ``ON DELETE RESTRICT`` or ``NO ACTION`` makes the drop fail. After ``PRAGMA
  defer_foreign_keys = on`` SQLite defers both (RESTRICT too: fkey.c skips its action when
  checks are deferred) and counts the rows the drop orphaned; it does not count again after
  the ``RENAME``, so the batch fails at its end unless ``PRAGMA defer_foreign_keys = off``
  (which clears the count, as Prisma's migrations end) comes after the drop.
- ``ATTACH``/``DETACH`` and ``VACUUM`` are not available; one statement is at most 100 KB.

The schema each statement sees is the lint's replay (:mod:`malnu_tui.engine.lint.replay`),
so a ``DROP TABLE`` is checked against the foreign keys that point at it at that moment: a
child table dropped earlier in the same migration no longer counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from malnu_tui.engine.backends.d1.limits import parsed_limit_refusal
from malnu_tui.engine.files import Migration
from malnu_tui.engine.lint.model import Finding, Rule, Severity
from malnu_tui.engine.lint.ops import Op
from malnu_tui.engine.lint.replay import Replay
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "D1_RULES",
    "D1State",
    "RowProbe",
    "d1_end",
    "d1_statement",
    "d1_template",
    "d1_template_lines",
]

MAX_STATEMENT_BYTES = 100_000

# (child table, child column) → does any child row reference a parent? None: unknown.
RowProbe = Callable[[str, str], "bool | None"]

D1_RULES = (
    Rule("D1-TRANSACTION", "error", "explicit transaction control",
         "D1 rejects BEGIN/COMMIT/ROLLBACK in SQL sent over its API",
         "remove it; the tool sends each migration as one batch (one transaction)"),
    Rule("D1-SAVEPOINT", "error", "savepoints", "D1 rejects SAVEPOINT/RELEASE",
         "remove it; the whole file runs as one batch that D1 rolls back on any error"),
    Rule("D1-PRAGMA-FK", "warning", "PRAGMA foreign_keys = OFF",
         "D1 ignores it: foreign keys stay enforced and ON DELETE actions still fire",
         "use PRAGMA defer_foreign_keys = on (defers checks; does not stop cascades)"),
    Rule("D1-ATTACH", "error", "ATTACH/DETACH", "D1 does not allow ATTACH or DETACH",
         "work on one database per migration"),
    Rule("D1-VACUUM", "warning", "VACUUM", "D1 does not run VACUUM from SQL",
         "remove it; D1 manages storage itself"),
    Rule("D1-STATEMENT-SIZE", "error", "statement over 100 KB",
         "D1 rejects a statement over 100 KB", "split the data into several statements"),
    Rule("D1-LIMITS", "error", "over D1's columns, function arguments or LIKE pattern",
         "D1 refuses a table of more than 100 columns, a function of more than 32 arguments, "
         "a LIKE or GLOB pattern over 50 bytes (developers.cloudflare.com/d1/platform/limits/)",
         "split the table, the call (nest it: json_object(…) || …) or the pattern"),
    Rule("D1-CASCADE-REBUILD", "error", "DROP TABLE of a parent with ON DELETE CASCADE children",
         "on D1 the drop's implicit DELETE cascades into the child tables",
         "avoid the rebuild (ALTER TABLE … ADD/RENAME/DROP COLUMN), or copy the child tables "
         "aside and rebuild them in the same migration"),
    Rule("D1-FK-ACTION-REBUILD", "warning", "DROP TABLE of a parent with SET NULL/DEFAULT children",
         "on D1 the drop's implicit DELETE fires the children's ON DELETE actions",
         "rebuild the child tables in the same migration, or avoid the rebuild"),
    Rule("D1-RESTRICT-DROP", "error", "DROP TABLE of a parent with RESTRICT children with rows",
         "on D1 the drop's implicit DELETE fails: child rows still reference the parent",
         "drop or rebuild the child tables first in the same migration, or avoid the rebuild"),
)  # fmt: skip
register(*D1_RULES)
_BY_ID = {r.id: r for r in D1_RULES}
_FK_OFF = {"off", "0", "false", "no"}
_ON = {"on", "1", "true", "yes"}


@dataclass
class D1State:
    """Per migration: whether ``PRAGMA defer_foreign_keys = on`` ran already."""

    probe: RowProbe | None
    deferred: bool = False
    probe_missing_noted: bool = False
    # DROP TABLEs made while deferred, whose RESTRICT/NO ACTION children's orphaned rows stay
    # counted until a later PRAGMA defer_foreign_keys = off: (line, parent, children).
    counted: list[tuple[int, str, list[tuple[str, str, str]]]] = field(default_factory=list)


def _finding(rule_id: str, file: str, line: int, why: str, instead: str = "") -> Finding:
    r = _BY_ID[rule_id]
    severity: Severity = r.severity
    return Finding(rule_id, severity, file, line, why, instead or r.instead)


def d1_template(m: Migration) -> list[Finding]:
    """The seed template's own BEGIN/COMMIT: stripped by the tool, but D1 would reject it."""
    return d1_template_lines(m.filename, m.parts().transaction_lines)


def d1_template_lines(file: str, lines: list[int]) -> list[Finding]:
    """D1-TRANSACTION at each of ``file``'s template BEGIN/COMMIT ``lines`` (a migration's or
    its rollback file's: the tool strips both)."""
    return [
        Finding(
            "D1-TRANSACTION",
            "warning",
            file,
            line,
            "D1 rejects BEGIN/COMMIT in SQL sent over its API; this template statement is "
            "stripped by the tool, which runs the file as one batch",
            "remove the BEGIN TRANSACTION/COMMIT lines from the file",
        )
        for line in lines
    ]


def d1_statement(
    file: str, st: Statement, op: Op, replay: Replay, state: D1State, notes: list[str]
) -> list[Finding]:
    """D1 findings for ``st``, against the replayed schema *before* it runs."""
    found: list[Finding] = []
    words = st.first_words
    verb = words.split(" ", 1)[0]
    if verb in ("SAVEPOINT", "RELEASE") or words.startswith("ROLLBACK TO"):
        found.append(
            _finding("D1-SAVEPOINT", file, st.line, f"D1 rejects {verb} in SQL sent over its API")
        )
    elif verb in ("BEGIN", "COMMIT", "END", "ROLLBACK"):
        found.append(
            _finding(
                "D1-TRANSACTION",
                file,
                st.line,
                f"D1 rejects explicit transaction control ({words.title()})",
            )
        )
    if op.kind == "pragma":
        # After `defer_foreign_keys = on` (Prisma writes it first) the advice is followed.
        if op.name == "foreign_keys" and op.value in _FK_OFF and not state.deferred:
            found.append(
                _finding(
                    "D1-PRAGMA-FK",
                    file,
                    st.line,
                    "D1 ignores PRAGMA foreign_keys = OFF: foreign keys stay enforced and "
                    "ON DELETE actions still fire",
                )
            )
        elif op.name == "defer_foreign_keys":
            state.deferred = op.value in _ON
            if not state.deferred:
                state.counted.clear()  # SQLite forgets the counted violations
    if verb in ("ATTACH", "DETACH"):
        found.append(_finding("D1-ATTACH", file, st.line, f"D1 does not allow {verb}"))
    if verb == "VACUUM":
        found.append(_finding("D1-VACUUM", file, st.line, "D1 does not run VACUUM from SQL"))
    size = len(st.text.encode()) + 2  # as sent: each statement ends with "\n;" (d1/client.py)
    if size > MAX_STATEMENT_BYTES:
        found.append(
            _finding(
                "D1-STATEMENT-SIZE",
                file,
                st.line,
                f"statement is {size} bytes; D1 allows {MAX_STATEMENT_BYTES} per statement",
            )
        )
    found.extend(_limits(file, st))
    if op.kind == "drop_table":
        for parent in op.names:
            found.extend(_drop_parent(file, st.line, parent, replay, state, notes))
    return found


_PATTERN = re.compile(r"\b(?:LIKE|GLOB)\s+'((?:[^']|'')*)'", re.IGNORECASE)
MAX_PATTERN_BYTES = 50


def _limits(file: str, st: Statement) -> list[Finding]:
    """A table of over 100 columns, a function of over 32 arguments (:func:`_may_exceed`), a
    literal LIKE/GLOB pattern over 50 bytes (refused as it runs: in a CHECK, by every INSERT
    of the application afterwards)."""
    found: list[Finding] = []
    if (refused := parsed_limit_refusal(st.text)) is not None:
        found.append(_finding("D1-LIMITS", file, st.line, f"D1 would refuse it: {refused}"))
    for m in _PATTERN.finditer(st.text):
        size = len(m.group(1).replace("''", "'").encode())
        if size > MAX_PATTERN_BYTES:
            found.append(
                _finding(
                    "D1-LIMITS",
                    file,
                    st.line,
                    f"a LIKE/GLOB pattern of {size} bytes; D1 refuses one over "
                    f"{MAX_PATTERN_BYTES} (LIKE or GLOB pattern too complex) when it runs",
                )
            )
    return found


def _drop_parent(
    file: str, line: int, parent: str, replay: Replay, state: D1State, notes: list[str]
) -> list[Finding]:
    found: list[Finding] = []
    children = replay.foreign_keys_to(parent)
    cascades = [c for c in children if c[2] == "CASCADE"]
    actions = [c for c in children if c[2] in ("SET NULL", "SET DEFAULT")]
    held = [c for c in children if c[2] in ("RESTRICT", "NO ACTION")]
    if state.deferred:  # not refused at the drop: counted, and refused at the end
        if held:
            state.counted.append((line, parent, held))
        held = []
    restrict = held
    if cascades:
        names = ", ".join(f"{c}({col})" for c, col, _ in cascades)
        found.append(
            _finding(
                "D1-CASCADE-REBUILD",
                file,
                line,
                f"DROP TABLE {parent} first deletes its rows, and on D1 foreign keys are always "
                f"on: ON DELETE CASCADE empties the matching rows of {names} (a table rebuild "
                "this way has wiped child rows for real users)",
            )
        )
    if actions:
        names = ", ".join(f"{c}({col}) {a}" for c, col, a in actions)
        found.append(
            _finding(
                "D1-FK-ACTION-REBUILD",
                file,
                line,
                f"DROP TABLE {parent} fires ON DELETE actions on D1: {names}",
            )
        )
    found += _restricted(
        file,
        line,
        restrict,
        state,
        notes,
        unreachable=f"DROP TABLE {parent} has ON DELETE RESTRICT/NO ACTION children ("
        + ", ".join(c for c, _, _ in restrict)
        + "): whether they hold rows (the drop would fail on D1) needs the live database, "
        "which was not reachable",
        says=(
            f"DROP TABLE {parent} fails on D1: rows of ",
            " reference it and foreign keys are always enforced",
        ),
    )
    return found


def d1_end(file: str, state: D1State, notes: list[str]) -> list[Finding]:
    """At the end of a migration: the drops made under ``PRAGMA defer_foreign_keys = on``
    whose orphaned child rows are still counted (no ``= off`` came after them)."""
    found: list[Finding] = []
    for line, parent, held in state.counted:
        found += _restricted(
            file,
            line,
            held,
            state,
            notes,
            unreachable=f"DROP TABLE {parent} has ON DELETE RESTRICT/NO ACTION children ("
            + ", ".join(c for c, _, _ in held)
            + ") and no PRAGMA defer_foreign_keys = off after it: whether they hold rows (the "
            "migration would fail at its end on D1) needs the live database, which was not "
            "reachable",
            says=(
                f"DROP TABLE {parent} leaves rows of ",
                " without their parent: with PRAGMA defer_foreign_keys = on SQLite counts them "
                "and does not count again once the rebuilt table is renamed, so on D1 the "
                "migration fails at its end (FOREIGN KEY constraint failed)",
            ),
            instead="put PRAGMA defer_foreign_keys = off after the ALTER TABLE … RENAME (as "
            "Prisma's migrations end): it clears the count",
        )
    return found


def _restricted(
    file: str,
    line: int,
    held: Sequence[tuple[str, str, str]],
    state: D1State,
    notes: list[str],
    *,
    unreachable: str,
    says: tuple[str, str],
    instead: str = "",
) -> list[Finding]:
    """RESTRICT/NO ACTION children ``held`` of a dropped table: D1-RESTRICT-DROP naming those
    the live database shows rows in (between the two parts of ``says``); without a live
    database, the ``unreachable`` note (once per run) in its place. None held, nothing said:
    the drop of a table no key points at (a D1 set's rebuild) noted "children ()", and took
    the run's one note from a later drop whose children it was about."""
    if not held:
        return []
    if state.probe is None:
        if not state.probe_missing_noted:
            notes.append(f"{file}:{line}: {unreachable}")
            state.probe_missing_noted = True
        return []
    filled = [(c, col, a) for c, col, a in held if state.probe(c, col)]
    if not filled:
        return []
    names = ", ".join(f"{c}({col}) {a}" for c, col, a in filled)
    return [_finding("D1-RESTRICT-DROP", file, line, says[0] + names + says[1], instead)]
