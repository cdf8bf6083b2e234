"""What a migration's rollback file undoes, for the rules that ask whether the rollback
restores a column or drops what the migration creates (names folded)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration
from malnu_tui.engine.lint.model import Finding
from malnu_tui.engine.lint.ops import key, read_ops, strip_comments
from malnu_tui.engine.lint.pg_rls import policy_of
from malnu_tui.engine.lint.rules import RULES
from malnu_tui.engine.sqlsplit import SplitError, Statement, split_statements
from malnu_tui.engine.sqltemplate import strip_template

__all__ = ["RollbackFile", "read_rollback"]


def _f(rule_id: str, file: str, line: int, why: str) -> Finding:
    r = RULES[rule_id]
    return Finding(rule_id, r.severity, file, line, why, r.instead)


@dataclass
class RollbackFile:
    """What a migration's rollback file undoes (names folded)."""

    exists: bool
    drops: dict[str, set[str]] = field(default_factory=dict)  # kind → names
    pg_tables: set[str] = field(default_factory=set)  # the tables it drops, as PostgreSQL folds
    dropped_columns: set[tuple[str, str]] = field(default_factory=set)
    creates: set[str] = field(default_factory=set)  # tables it (re-)creates
    adds_columns: set[tuple[str, str]] = field(default_factory=set)
    bodies: dict[str, str] = field(default_factory=dict)  # re-created table → its body
    recreates: set[tuple[str, str]] = field(default_factory=set)  # (kind, name): a view…
    filename: str = ""
    text: str = ""  # the file's text (its own rules: lint/rollback_lint.py)
    lined: list[Statement] | None = None  # its statements with their lines, when split so

    def restores_column(self, table: str, column: str) -> bool:
        if (table, column) in self.adds_columns:
            return True
        body = self.bodies.get(table, "")
        return bool(body) and re.search(rf"\b{re.escape(column)}\b", body, re.I) is not None


_PLAIN = re.compile(r"['\"`\[$]|\bBEGIN\b|\bEND\b", re.IGNORECASE)


def _rollback_statements(text: str, dialect: str) -> list[Statement]:
    """A rollback file's statements. Most are plain DROPs: with no quote, dollar body or
    BEGIN/END, cutting at ``;`` is what the splitter would do (lines are not needed here;
    PostgreSQL's nested comments and parentheses are the splitter's)."""
    body = strip_comments(text) if "--" in text or "/*" in text else text
    if dialect == "postgresql" or _PLAIN.search(body):
        return list(strip_template(split_statements(text, dialect)).statements)
    return [Statement(part.strip(), 0) for part in body.split(";") if part.strip()]


def read_rollback(m: Migration, findings: list[Finding]) -> RollbackFile:
    """What ``m``'s rollback file undoes (an unreadable one is a FILE-UNREADABLE finding)."""
    if m.rollback is None:
        return RollbackFile(False)
    rb = RollbackFile(True, filename=m.rollback.filename)
    try:
        rb.text = m.rollback.read_text()
        statements = _rollback_statements(rb.text, m.rollback.dialect)
    except SplitError as exc:
        findings.append(_f("FILE-UNREADABLE", m.rollback.filename, exc.line, str(exc)))
        return rb
    except MalnuError as exc:
        findings.append(_f("FILE-UNREADABLE", m.rollback.filename, 1, str(exc)))
        return rb
    if not statements or statements[0].line:  # (the plain cut's have no lines: 0)
        rb.lined = statements
    for st in statements:
        op = read_ops(st)
        if (policy := policy_of(st)) is not None and policy[0] == "DROP":
            rb.drops.setdefault("policy", set()).add(f"{policy[2]}.{policy[1]}")
        elif op.kind.startswith("drop_"):
            rb.drops.setdefault(op.kind[5:], set()).update(key(n) for n in op.names)
            if op.kind == "drop_table":
                rb.pg_tables.update(op.pg_names)
        elif op.kind == "create_table":
            rb.creates.add(op.key)
            rb.bodies[op.key] = op.body
        elif op.kind.startswith("create_"):
            rb.recreates.add((op.kind[7:], op.key))
        elif op.kind == "alter_table":
            for a in op.actions:
                if a.kind == "drop_column":
                    rb.dropped_columns.add((op.key, key(a.column)))
                elif a.kind == "add_column":
                    rb.adds_columns.add((op.key, key(a.column)))
                elif a.kind == "drop_constraint":
                    rb.drops.setdefault("index", set()).add(key(a.new))
                elif a.kind == "rename_table":
                    rb.creates.add(key(a.new))
    return rb
