"""PostgreSQL row level security enabled on a live table with no policy (Supabase's advisor
calls it "RLS enabled, no policy"): from the migration's commit every query of a role that is
neither the table's owner nor BYPASSRLS (Supabase's ``anon`` and ``authenticated``: the app)
sees no rows, and its writes fail, until a ``CREATE POLICY … ON`` the table exists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import Op, key, strip_comments
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["RowSecurity", "enables_rls", "policy_label", "policy_of"]

RULE = Rule(
    "PG-RLS-NO-POLICY",
    "warning",
    "row level security enabled on a table with no policy",
    "every query of a role other than the owner (Supabase's anon and authenticated) then "
    "returns no rows and its writes fail",
    "create the table's policies in the same migration (before or after the ENABLE); for a "
    "table only the server reads, accept it with lint:ignore and say so",
)
register(RULE)

_IDENT = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_ON_TABLE = rf"\s+ON\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})"
_POLICY = re.compile(
    rf"^(?P<verb>CREATE|DROP)\s+POLICY\s+(?:IF\s+EXISTS\s+)?(?P<name>{_IDENT}){_ON_TABLE}",
    re.IGNORECASE,
)


def policy_of(st: Statement) -> tuple[str, str, str] | None:
    """(CREATE or DROP, the policy's name, its table), folded, for a CREATE / DROP POLICY."""
    if not st.first_words.startswith(("CREATE POLICY", "DROP POLICY")):
        return None
    m = _POLICY.match(strip_comments(st.text))
    return (m["verb"].upper(), key(m["name"]), key(m["table"])) if m else None


def policy_label(st: Statement) -> str:
    """A CREATE / DROP POLICY's name as PostgreSQL knows it, for a finding: quoted as written
    (``"Anyone signed in edits a grade change"``: folded, it names no policy), else folded."""
    m = _POLICY.match(strip_comments(st.text))
    if m is None:
        return ""
    return m["name"] if m["name"].startswith('"') else m["name"].lower()


_ENABLE = re.compile(r"^\s*ENABLE\s+ROW\s+LEVEL\s+SECURITY\s*$", re.IGNORECASE)
_DISABLE = re.compile(r"^\s*DISABLE\s+ROW\s+LEVEL\s+SECURITY\s*$", re.IGNORECASE)


def enables_rls(op: Op) -> bool:
    """An ``ALTER TABLE … ENABLE ROW LEVEL SECURITY``."""
    return op.kind == "alter_table" and any(
        a.kind == "other" and _ENABLE.match(a.definition) for a in op.actions
    )


@dataclass
class RowSecurity:
    """Across the set's migrations, in order: each table's policies; per migration, the
    tables it enables row level security on (:meth:`see`), judged at its end (:meth:`end`)."""

    policies: dict[str, set[str]] = field(default_factory=dict)  # table → policy names
    enabled: dict[str, tuple[str, int]] = field(default_factory=dict)  # table → (name, line)
    rls_on: set[str] = field(default_factory=set)  # tables with row level security on
    dropped: dict[str, tuple[str, int]] = field(default_factory=dict)  # DROP POLICY's table

    def see(self, st: Statement, op: Op, new_tables: set[str] | dict[str, int]) -> None:
        if op.kind == "alter_table":
            for a in op.actions:
                if a.kind != "other":
                    continue
                if _ENABLE.match(a.definition):
                    self.rls_on.add(op.key)
                    if (op.pg_name or op.key) not in new_tables:  # (as PostgreSQL folds)
                        self.enabled.setdefault(op.key, (op.name, st.line))
                elif _DISABLE.match(a.definition):
                    self.rls_on.discard(op.key)
            return
        if op.kind != "other" or "POLICY" not in st.text.upper():
            return
        m = _POLICY.match(strip_comments(st.text))
        if m is None:
            return
        names = self.policies.setdefault(key(m["table"]), set())
        if m["verb"].upper() == "CREATE":
            names.add(key(m["name"]))
        else:
            names.discard(key(m["name"]))
            self.dropped.setdefault(key(m["table"]), (m["table"].replace('"', ""), st.line))

    def end(self, file: str) -> list[Finding]:
        """The migration's findings: each table it enabled row level security on that has
        no policy once it (and the migrations before it) ran."""
        out = [
            Finding(RULE.id, RULE.severity, file, line,
                    f"row level security is enabled on {name}, which has no policy: every "
                    "query of a role other than its owner or a BYPASSRLS role (Supabase's anon "
                    "and authenticated, the app) returns no rows, and its writes fail, until a "
                    f"CREATE POLICY … ON {name} runs", RULE.instead)
            for t, (name, line) in self.enabled.items()
            if not self.policies.get(t)
        ]  # fmt: skip
        out.extend(
            Finding(RULE.id, RULE.severity, file, line,
                    f"DROP POLICY leaves {name} with row level security on and no policy: every "
                    "query of a role other than its owner or a BYPASSRLS role (Supabase's anon "
                    "and authenticated, the app) returns no rows, and its writes fail",
                    RULE.instead)
            for t, (name, line) in self.dropped.items()
            if t in self.rls_on and not self.policies.get(t) and t not in self.enabled
        )  # fmt: skip
        self.enabled.clear()
        self.dropped.clear()
        return out
