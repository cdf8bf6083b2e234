"""The seed template's own statements, which the tool owns and so never runs as written: its
transaction control (``BEGIN TRANSACTION`` … ``COMMIT``, in every spelling of either dialect)
and its statements on the tracking table (the trailing ``INSERT INTO migrations``, a template
rollback's ``DELETE FROM migrations``). Split from :mod:`malnu_tui.engine.sqlsplit`, which
reads the statements; this module only classifies them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from malnu_tui.engine.sqlsplit import Statement, strip_comments

__all__ = [
    "TEMPLATE_KINDS",
    "TemplateParts",
    "is_transaction_control",
    "strip_template",
    "template_kind",
]

_WORD = re.compile(r"[A-Za-z_]+")
# Transaction control in either dialect (the words, comments and commas dropped): SQLite's
# BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] [TRANSACTION] / COMMIT / END / ROLLBACK [TRANSACTION];
# PostgreSQL's BEGIN / START TRANSACTION [WORK] with its modes, COMMIT / END / ROLLBACK /
# ABORT [WORK|TRANSACTION] [AND [NO] CHAIN]. A ``COMMIT WORK`` the tool did not strip ended
# its transaction half-way: what ran before stayed when a later statement failed.
_TXN = re.compile(
    r"(?:BEGIN(?: (?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?: (?:TRANSACTION|WORK))?|START TRANSACTION)"
    r"(?: (?:ISOLATION|LEVEL|SERIALIZABLE|REPEATABLE|READ|COMMITTED|UNCOMMITTED|WRITE|ONLY"
    r"|NOT|DEFERRABLE))*"
    r"|(?:COMMIT|END|ROLLBACK|ABORT)(?: (?:TRANSACTION|WORK))?(?: AND(?: NO)? CHAIN)?"
)

_TXN_VERBS = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT")
_TRACKING_NAME = (
    r"(?:(?:\w+|\"[^\"]+\"|`[^`]+`|\[[^\]]+\])\s*\.\s*)?[\"`\[]?migrations[\"`\]]?(?:[\s(]|$)"
)
# A statement on the tracking table, which the tool keeps itself: the template's trailing
# ``INSERT INTO migrations`` (or ``REPLACE INTO``, ``INSERT OR …``) and a template rollback's
# ``DELETE FROM migrations`` (the seed's rollback procedure deletes the row), the table named
# alone or after a schema (``main.migrations``, ``"public"."migrations"``). Run as written, a
# copy-pasted filename recorded a migration that never ran, or deleted another one's row.
_TRACKING_INSERT = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO)\s+" + _TRACKING_NAME,
    re.IGNORECASE,
)
_TRACKING_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+" + _TRACKING_NAME, re.IGNORECASE)
# SQLite connection settings SQLite refuses inside a transaction ("Safety level may not be
# changed inside a transaction", "cannot change into wal mode from within a transaction"), as
# an app's first migration sets them (leapkit's template: ``PRAGMA journal_mode = WAL;``). The
# tool keeps a SQLite file in WAL mode with its own sync level, and a connection setting ends
# with the file anyway: such a file failed `up` (or `test`, on its scratch copy).
_STORAGE_PRAGMA = re.compile(
    r"^\s*PRAGMA\s+(?:\w+\s*\.\s*)?(?:journal_mode|synchronous)\s*[=(]", re.IGNORECASE
)
_TRACKING_TABLE = re.compile(
    r"^\s*(?:CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?)"
    + _TRACKING_NAME,
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TemplateParts:
    """What :func:`strip_template` removed: transaction control and tracking inserts."""

    statements: Sequence[Statement]  # a large file's: filestatements.FileStatements
    transaction_lines: list[int]
    tracking_insert_lines: list[int]
    tracking_delete_lines: list[int] = field(default_factory=list)
    # CREATE TABLE / DROP TABLE of the tracking table itself (the guide's "Migration Metadata"
    # DDL written as a first migration, and its rollback's DROP): the tool keeps that table.
    tracking_table_lines: list[int] = field(default_factory=list)
    # PRAGMA journal_mode / synchronous = … (see _STORAGE_PRAGMA): not the file's to set.
    setting_lines: list[int] = field(default_factory=list)

    @property
    def is_template(self) -> bool:
        return bool(
            self.transaction_lines
            or self.tracking_insert_lines
            or self.tracking_delete_lines
            or self.tracking_table_lines
            or self.setting_lines
        )

    def notes(self, filename: str) -> tuple[str, ...]:
        """What was not run, for the plan: a note per kind, naming the lines."""

        def lines(at: list[int]) -> str:
            return ", ".join(map(str, at))

        notes: list[str] = []
        if self.transaction_lines:
            notes.append(
                f"{filename}: its own BEGIN/COMMIT (line {lines(self.transaction_lines)}) not "
                "run: the tool runs each migration in one transaction"
            )
        if self.tracking_insert_lines:
            notes.append(
                f"{filename}: its INSERT INTO migrations (line {lines(self.tracking_insert_lines)})"
                " not run: the tool records the migration itself"
            )
        if self.tracking_delete_lines:
            notes.append(
                f"{filename}: its DELETE FROM migrations (line {lines(self.tracking_delete_lines)})"
                " not run: the tool removes the migration's record itself"
            )
        if self.tracking_table_lines:
            notes.append(
                f"{filename}: its CREATE/DROP TABLE migrations (line "
                f"{lines(self.tracking_table_lines)}) not run: the tool keeps its tracking table"
            )
        if self.setting_lines:
            notes.append(
                f"{filename}: its PRAGMA journal_mode/synchronous (line "
                f"{lines(self.setting_lines)}) not run: SQLite refuses them inside the "
                "migration's transaction, and the tool keeps the database in WAL mode with its "
                "own sync level"
            )
        return tuple(notes)


def is_transaction_control(sql: str) -> str | None:
    """``BEGIN``/``COMMIT``/``END``/``ROLLBACK`` (the words, upper case) when the statement
    ``sql`` is transaction control, as a template or a ``sqlite3 .dump`` writes it; else None."""
    words = " ".join(_WORD.findall(strip_comments(sql))).upper()
    return words if _TXN.fullmatch(words) else None


def strip_template(statements: list[Statement]) -> TemplateParts:
    """Remove the seed template's ``BEGIN TRANSACTION``/``COMMIT`` and ``INSERT INTO migrations``.

    The engine owns the transaction and the tracking row, so these must never run as written
    (they would commit half a migration or record it twice).
    """
    kept: list[Statement] = []
    found: dict[str, list[int]] = {k: [] for k in TEMPLATE_KINDS}
    for st in statements:
        kind = template_kind(st)
        if kind is None:
            kept.append(st)
        else:
            found[kind].append(st.line)
    return TemplateParts(kept, *found.values())


# What :func:`template_kind` names, in the order of TemplateParts' line lists.
TEMPLATE_KINDS = ("transaction", "tracking_insert", "tracking_delete", "tracking_table", "settings")


def template_kind(st: Statement) -> str | None:
    """Which of the template's own statements ``st`` is (one of :data:`TEMPLATE_KINDS`), or
    None for a statement of the migration's own, which runs."""
    first = st.first_words  # cheap tests first: most statements are neither
    if first.startswith(_TXN_VERBS) and is_transaction_control(st.text):
        return "transaction"
    if first.startswith("PRAGMA") and _STORAGE_PRAGMA.match(strip_comments(st.text)):
        return "settings"
    if not first.startswith(("INSERT", "REPLACE", "DELETE", "CREATE", "DROP")) or (
        "migrations" not in st.text.lower()
    ):
        return None
    if first.startswith(("CREATE", "DROP")):
        return "tracking_table" if _is_tracking_table(st.text) else None
    if _is_tracking(_TRACKING_INSERT, st.text):
        return "tracking_insert"
    if _is_tracking(_TRACKING_DELETE, st.text):
        return "tracking_delete"
    return None


def _is_tracking_table(sql: str) -> bool:
    """``CREATE``/``DROP TABLE migrations`` of the tool's table: a DROP with no other table
    named, or a CREATE whose columns hold ``filename`` (the guide's DDL); another framework's
    table of that name beside the tool's schema is the file's business."""
    text = strip_comments(sql)
    m = _TRACKING_TABLE.match(text)
    if m is None:
        return False
    if text.lstrip().upper().startswith("DROP"):
        return "," not in text[m.end() - 1 :]  # DROP TABLE migrations, other: left to run
    return "filename" in text.lower()


def _is_tracking(pattern: re.Pattern[str], sql: str) -> bool:
    """Whether ``sql`` writes the tool's tracking table: ``pattern`` names a ``migrations``
    table, and the statement names the tracking key, ``filename`` (an INSERT without a column
    list counts too). Another framework's ``migrations`` table beside the tool's schema
    (Laravel's ``migration``/``batch``, with the tool's tables in ``schema = "malnu"``) is the
    migration's own business and runs."""
    text = strip_comments(sql)
    m = pattern.match(text)
    if m is None:
        return False
    if "filename" in text.lower():
        return True
    rest = text[m.end() - 1 :].lstrip()
    return pattern is _TRACKING_INSERT and not rest.startswith("(")
