"""What makes a migration file's statement one the tool may run: a statement verb of SQLite
or PostgreSQL, no shell command (sqlite3's ``.read``, psql's ``\\i``), no ROLLBACK of its own
transaction, and no other tool's down section in the file. Split from
:mod:`malnu_tui.engine.files` so that a large file read in pieces
(:mod:`malnu_tui.engine.filestatements`) is checked by the very same rules."""

from __future__ import annotations

import re
from pathlib import Path

from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.sqlsplit import Statement, strip_comments
from malnu_tui.engine.sqltemplate import is_transaction_control

__all__ = ["SQL_VERBS", "check_statement", "down_section", "meta_command", "shell_command"]

# Other tools' marker of the undo kept in the migration's own file.
_DOWN_MARKER = re.compile(
    r"^[ \t]*(--[ \t]*(?:migrate:down|\+goose[ \t]+down|\+migrate[ \t]+down))\b",
    re.IGNORECASE | re.MULTILINE,
)

# Every statement verb of SQLite and PostgreSQL a migration may start a statement with; a
# statement starting otherwise is "unparsable SQL" (engine/files.py), named with its line.
SQL_VERBS = {
    "ALTER",
    "ANALYZE",
    "ANALYSE",  # PostgreSQL's other spelling (refused as "unparsable SQL")
    "ATTACH",
    "BEGIN",
    "COMMENT",
    "COMMIT",
    "CREATE",
    "DELETE",
    "DETACH",
    "DO",
    "DROP",
    "END",
    "EXPLAIN",
    "GRANT",
    "INSERT",
    "PRAGMA",
    "REINDEX",
    "RELEASE",
    "REPLACE",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TRUNCATE",
    "UPDATE",
    "UPSERT",
    "VACUUM",
    "VALUES",
    "WITH",
    "CALL",
    "CLUSTER",
    "COPY",
    "LOCK",
    "NOTIFY",
    "REFRESH",
    "RESET",
    "SECURITY",
    # PostgreSQL statements a migration may hold that were refused as "unparsable SQL":
    "MERGE",  # PostgreSQL 15+: a backfill that inserts or updates
    "IMPORT",  # IMPORT FOREIGN SCHEMA
    "DISCARD",
    "LISTEN",
    "UNLISTEN",
    "CHECKPOINT",
    "LOAD",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "SHOW",
    "TABLE",
    "START",  # START TRANSACTION: a template's BEGIN, stripped as one
    "ABORT",  # PostgreSQL's ROLLBACK: refused as one
    "REASSIGN",  # REASSIGN OWNED BY old_role TO new_role (retiring a role)
    "DECLARE",  # a cursor a data migration walks (DECLARE / FETCH / MOVE / CLOSE)
    "FETCH",
    "MOVE",
    "CLOSE",
}


def down_section(path: Path, text: str, lines_before: int = 0) -> tuple[str, int] | None:
    """Refuse a file holding another tool's down section: run whole, it would apply its
    change and undo it at once. (``text`` may be a piece of the file starting at a line's
    start, after ``lines_before`` lines.) An empty down section (dbmate's ``dbmate new``
    template ends in one, and a data migration often keeps it so) undoes nothing: its marker
    is a comment, and the file runs as it is; its (marker, line) is returned, for a piece of
    the file (:func:`.filestatements.text_pieces`): what follows is then in the next pieces."""
    if "migrate" not in text and "goose" not in text:  # cheap: nearly every file
        return None
    m = _DOWN_MARKER.search(text)
    if m is None:
        return None
    found = m[1].strip(), lines_before + text.count("\n", 0, m.start()) + 1
    if strip_comments(text[m.end() :]).strip():
        raise down_error(path, *found)
    return found


def down_error(path: Path, marker: str, line: int) -> MigrationFileError:
    """The refusal of a down section whose marker ``marker`` is on ``line``."""
    return MigrationFileError(
        str(path),
        f"{marker!r} starts a down section (dbmate/goose/sql-migrate style): run whole, the "
        "file would undo itself; keep the up part here and move the down part into the "
        "rollback file (rollback/<same version>_<name>.sql)",
        line=line,
    )


# psql meta-commands the tool may skip: pg_dump's (15.14/16.10/17.6 and later) around a dump,
# which only stop psql from running other meta-commands a hostile server could slip into it;
# and ON_ERROR_STOP turned on (the tool always stops at the first error). Any other
# meta-command is refused (:func:`meta_command`).
_PSQL_SKIPPED = re.compile(
    r"\\(?:restrict|unrestrict)(?:\s.*)?|\\set\s+ON_ERROR_STOP\s+'?(?:on|true|yes|1)'?\s*",
    re.IGNORECASE,
)


def meta_command(path: Path, st: Statement) -> bool:
    """True for a psql meta-command the tool may skip; a MigrationFileError for any other."""
    if _PSQL_SKIPPED.fullmatch(st.text):
        return True
    raise MigrationFileError(str(path), shell_command(st.text), line=st.line)


def shell_command(text: str) -> str:
    """Why a shell's own command (sqlite3's ``.read``, psql's ``\\i``) cannot run here."""
    command = text.split(None, 1)[0]
    shell = "sqlite3 shell command" if command.startswith(".") else "psql meta-command"
    return (
        f"{shell} '{command}' is not SQL: the tool sends the file's statements to the "
        "database itself, not through the shell, so it cannot run it (remove the line)"
    )


def check_statement(path: Path, st: Statement) -> None:
    """A MigrationFileError naming the file and line when ``st`` (not a psql meta-command the
    tool skips) may not run: not SQL, a shell command, or a ROLLBACK of the file's own
    transaction."""
    verb = st.first_words.split(" ", 1)[0]
    if verb not in SQL_VERBS and st.text.startswith((".", "\\")):
        raise MigrationFileError(str(path), shell_command(st.text), line=st.line)
    if verb not in SQL_VERBS:
        raise MigrationFileError(
            str(path),
            f"unparsable SQL: statement starts with {verb or st.text[:20]!r}",
            line=st.line,
        )
    if verb in ("ROLLBACK", "ABORT") and is_transaction_control(st.text):
        # The tool owns the transaction and strips the template's BEGIN/COMMIT; a file
        # that ends its own transaction with ROLLBACK means "do not keep this": running
        # it would keep what its author threw away.
        raise MigrationFileError(
            str(path),
            f"{verb}: the file undoes its own transaction, so it cannot be applied "
            "(the tool owns the transaction: end with COMMIT, as the seed's template "
            "does, or leave both out)",
            line=st.line,
        )
