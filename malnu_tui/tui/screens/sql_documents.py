"""The SQL view's documents: a migration's SQL and its rollback's, read and translated to
PostgreSQL in the view's worker (:func:`load_sql`; a file too large to translate, a piece at a
time, see :mod:`sql_pages`), and what the view's panes show of them: the PostgreSQL pane's
text, never empty, and the unified diff of narrow terminals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from malnu_tui.tui.screens.sql_pages import Piece, large_note, read_piece

if TYPE_CHECKING:
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.translate import FileTranslation

# The diff layout shows this many lines of a large file's diff (a seed's runs to millions).
DIFF_LINES = 5000


@dataclass(frozen=True)
class SqlDocument:
    """One file's SQL and its translation (``None`` when the file does not exist). A file too
    large to translate whole (the CLI's rule, TRANSLATE_WHOLE_BYTES) is not translated: ``sql``
    is then one ``piece`` of it (the first, then the one the operator pages to), and ``note``
    the one line that says so and where the piece is."""

    filename: str | None
    sql: str | None
    translation: FileTranslation | None
    note: str | None = None
    piece: Piece | None = None


@dataclass(frozen=True)
class SqlBundle:
    migration: SqlDocument
    rollback: SqlDocument


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # (the read names the error)


def _large(filename: str, piece: Piece, translate: bool) -> SqlDocument:
    """A file over TRANSLATE_WHOLE_BYTES: a piece of it, untranslated, and the one line."""
    return SqlDocument(filename, piece.text, None, large_note(piece, translate), piece)


READING = "reading the migration file and its rollback…"
NOT_READ = "✘ not read (the error above)"


def load_sql(mset: MigrationSet, filename: str, *, translate: bool = True) -> SqlBundle:
    """Read the migration and its rollback and translate both to PostgreSQL, with the schema
    knowledge of every earlier migration (runs in a worker). A PostgreSQL target's files are
    PostgreSQL already: ``translate=False`` shows them as written. The migrations before it are
    translated for the schema they leave only (a large one a statement at a time, as the CLI's
    plan does); a file over TRANSLATE_WHOLE_BYTES is not translated (the CLI refuses it) and
    only its first piece is read."""
    from malnu_tui.engine.translate import (
        TRANSLATE_WHOLE_BYTES,
        SchemaState,
        translate_migration,
        translate_script,
    )

    state = SchemaState()
    chosen = None
    for m in mset.migrations:
        if m.filename == filename:
            chosen = m
            break
        if translate:
            translate_migration(m, state, keep=False)
    if chosen is None:
        return SqlBundle(SqlDocument(None, None, None), SqlDocument(None, None, None))
    size = 0 if chosen.text is not None else _size(chosen.path)
    large = size > TRANSLATE_WHOLE_BYTES
    if large:
        mig = _large(chosen.filename, read_piece(chosen.path), translate)
    elif translate:
        text = chosen.read_text()
        mig = SqlDocument(chosen.filename, text, translate_script(text, chosen.filename, state))
    else:
        mig = SqlDocument(chosen.filename, chosen.read_text(), None)
    rollback = chosen.rollback
    if rollback is None:
        return SqlBundle(mig, SqlDocument(None, None, None))
    rb_size = _size(rollback.path)
    if rb_size > TRANSLATE_WHOLE_BYTES:
        rb = _large(rollback.filename, read_piece(rollback.path), translate)
    elif translate:
        if large:  # the schema it leaves, for its rollback: a statement at a time, not kept
            translate_migration(chosen, state, keep=False)
        rb_text = rollback.read_text()
        rb = SqlDocument(
            rollback.filename, rb_text, translate_script(rb_text, rollback.filename, state)
        )
    else:
        rb = SqlDocument(rollback.filename, rollback.read_text(), None)
    return SqlBundle(mig, rb)


def unified_diff(doc: SqlDocument) -> Text:
    """SQLite → PostgreSQL as a unified diff: ``-`` lines only in SQLite, ``+`` only in PG."""
    if doc.sql is None:
        return Text("no file")
    if doc.note is not None:  # too large to translate: its head as written
        return Text(doc.note + "\n\n", style="bold yellow") + Text(doc.sql)
    if doc.translation is None:  # a PostgreSQL target: nothing to translate
        return Text(doc.sql)
    from malnu_tui.engine.textdiff import unified_lines

    before = doc.sql.splitlines()
    after = doc.translation.postgres_sql().splitlines()
    text = Text()
    statements = [
        (st.line, "\n".join(s + ";" for s in st.output)) for st in doc.translation.statements
    ]
    lines = list(
        unified_lines(
            before,
            after,
            statements,
            "SQLite: " + (doc.filename or ""),
            "PostgreSQL",
            lineterm="",
            n=2,
        )
    )
    if not lines:
        return Text("= identical: the PostgreSQL translation is this file as written\n\n") + Text(
            doc.sql
        )
    if len(lines) > DIFF_LINES:
        more = len(lines) - DIFF_LINES
        lines = lines[:DIFF_LINES]
        name = doc.filename or ""
        lines.append(f"… {more:,} more lines of the diff not shown here: malnu-tui diff {name}")
    for line in lines:
        if line.startswith(("---", "+++")):
            text.append(line + "\n", style="bold")
        elif line.startswith("@@"):
            text.append(line + "\n", style="cyan")
        elif line.startswith("+"):
            text.append(line + "\n", style="green")
        elif line.startswith("-"):
            text.append(line + "\n", style="red")
        else:
            text.append(line + "\n")
    return text


def translation_pane_text(doc: SqlDocument) -> str:
    """What the PostgreSQL pane shows: never an empty pane, so an operator never wonders whether
    the translation failed to load."""
    if doc.note is not None:
        return f"-- {doc.note}\n"
    if doc.translation is None:
        return "-- a PostgreSQL target: its files run as written, no translation\n"
    pg = doc.translation.postgres_sql()
    if not pg.strip() or not doc.translation.statements:
        if doc.translation.findings:
            return "-- nothing runs on PostgreSQL: every statement is withheld (see the findings)\n"
        return "-- nothing runs on PostgreSQL: the file holds no statement\n" + pg
    if doc.sql is not None and pg.strip() == doc.sql.strip():
        return "-- = identical to the SQLite file\n" + pg
    return pg
