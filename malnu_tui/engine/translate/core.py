"""Translate SQLite-dialect migrations into PostgreSQL, statement by statement.

Each statement is split by the engine's splitter, parsed by sqlglot (``read=SQLITE``), rewritten
where sqlglot passes SQLite-only syntax through or means something else, and generated with
``write="postgres"``. What cannot be carried over faithfully becomes an error :class:`Finding`
and is withheld: the output never contains SQL known to fail or to mean something else.
This module is the driver (what reaches :func:`.pipeline.generate`, the scratch schema,
withheld dependents, triggers); one statement's rewrites are in :mod:`.pipeline`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.sqlsplit import SplitError, Statement, split_statements
from malnu_tui.engine.sqltemplate import strip_template
from malnu_tui.engine.translate.common import Context
from malnu_tui.engine.translate.functions import Untranslatable
from malnu_tui.engine.translate.keys import dropped_table_keys, rename_pending, resolve_pending
from malnu_tui.engine.translate.model import FileTranslation, Finding, TranslatedStatement
from malnu_tui.engine.translate.names import SQLITE_NAME
from malnu_tui.engine.translate.pipeline import generate
from malnu_tui.engine.translate.renames import implicit_renames
from malnu_tui.engine.translate.schema import SchemaState
from malnu_tui.engine.translate.sequence import names_sequence_table, sequence_statements
from malnu_tui.engine.translate.triggers import (
    parse_trigger,
    pg_ident,
    trigger_function_name,
    trigger_sql,
    unquote,
)

if TYPE_CHECKING:
    from malnu_tui.engine.files import Migration

__all__ = [
    "TRANSLATE_WHOLE_BYTES",
    "name_dependents",
    "translate_expression",
    "translate_migration",
    "translate_migrations",
    "translate_script",
    "translate_statement",
]

# sqlglot logs a warning when it falls back to an opaque Command; we report those as findings.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_TABLE_OPTIONS = re.compile(
    r"\)\s*((?:WITHOUT\s+ROWID|STRICT)(?:\s*,\s*(?:WITHOUT\s+ROWID|STRICT))*)\s*$", re.I
)
_CONFLICT_CLAUSE = re.compile(
    r"\bON\s+CONFLICT\s+(ROLLBACK|ABORT|FAIL|IGNORE|REPLACE)\b", re.IGNORECASE
)
_CREATES = re.compile(
    r"^\s*CREATE\s+(?:TEMP\w*\s+)?(?:UNIQUE\s+)?(?:VIRTUAL\s+)?(?P<kind>TABLE|VIEW|INDEX|TRIGGER)"
    rf"\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{SQLITE_NAME}\s*\.\s*)?(?P<name>{SQLITE_NAME})",
    re.IGNORECASE,
)
_RENAME = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:{SQLITE_NAME}\s*\.\s*)?(?P<old>{SQLITE_NAME})\s+RENAME\s+TO\s+"
    rf"(?P<name>{SQLITE_NAME})\s*$",
    re.IGNORECASE,
)
_DROP_TABLE = re.compile(
    rf"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:{SQLITE_NAME}\s*\.\s*)?(?P<name>{SQLITE_NAME})\s*$",
    re.IGNORECASE,
)
_DROP_VIEW = re.compile(
    rf"^\s*DROP\s+VIEW\s+(?P<ie>IF\s+EXISTS\s+)?(?:{SQLITE_NAME}\s*\.\s*)?(?P<name>{SQLITE_NAME})\s*$",
    re.IGNORECASE,
)
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")+)\"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$]*)"
)
_DROP_TRIGGER = re.compile(
    r"^\s*DROP\s+TRIGGER\s+(?P<ie>IF\s+EXISTS\s+)?(?:[\w\"`\[\]]+\s*\.\s*)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|\w+)\s*$",
    re.IGNORECASE,
)


# -- driver -----------------------------------------------------------------------------------
def _dropped(st: Statement, ctx: Context, construct: str, why: str) -> TranslatedStatement:
    ctx.note(construct, why)
    return TranslatedStatement(st.line, st.text, (), tuple(ctx.findings))


def _withheld(
    st: Statement, ctx: Context, construct: str, why: str, suggestion: str = ""
) -> TranslatedStatement:
    ctx.findings.append(Finding(ctx.file, st.line, construct, why, suggestion, "error"))
    return TranslatedStatement(st.line, st.text, (), tuple(ctx.findings))


def translate_expression(sql: str, state: SchemaState | None = None) -> str:
    """A SQLite expression as PostgreSQL text (raises :class:`Untranslatable`)."""
    ctx = Context("<expression>", 1, state or SchemaState())
    return generate("SELECT " + sql, ctx, expression_only=True)


def _created(text: str) -> str | None:
    """The table/view/index/trigger a statement creates (or renames a table to), lower-cased."""
    m = _CREATES.match(text) or _RENAME.match(text)
    return unquote(m["name"]).lower() if m else None


def _mentioned(text: str) -> set[str]:
    """Every name a statement mentions (lower-cased; string literals skipped)."""
    names: set[str] = set()
    for m in _TOKENS.finditer(text):
        word = m[1] or m[2] or m[3] or m[4]
        if word:
            names.add(word.replace('""', '"').lower())
    return names


def translate_statement(
    st: Statement, file: str, state: SchemaState, *, track: bool = True
) -> TranslatedStatement:
    """Translate one SQLite statement. ``state`` follows the schema: with ``track`` the
    statement is also run in it (so later statements know this one's tables and keys).

    A statement that needs an object whose CREATE was withheld is withheld too, naming it
    (instead of failing on PostgreSQL later)."""
    # (Only a statement whose first word is CREATE or ALTER can create or rename; the name
    # matters only while something is withheld, or when this statement is.)
    creates = st.first_words.startswith(("CREATE", "ALTER"))
    created = _created(st.text) if creates and state.withheld else None
    root: tuple[str, int] | None = None
    if state.withheld:
        needs = _mentioned(st.text) & set(state.withheld)
        needs.discard(created or "")
        if needs:
            name = sorted(needs)[0]
            root = state.withheld[name]
    result = _translate_one(st, file, state, track=track, root=root)
    if creates and created is None and result.withheld:
        created = _created(st.text)
    if created is not None:
        if result.withheld:
            state.withheld[created] = root or (file, st.line)
        else:
            state.withheld.pop(created, None)
    if root is not None:
        state.dependents.setdefault(root, []).append((file, st.line))
    return result


def _translate_one(
    st: Statement,
    file: str,
    state: SchemaState,
    *,
    track: bool,
    root: tuple[str, int] | None,
) -> TranslatedStatement:
    ctx = Context(file, st.line, state)
    text = st.text
    words = st.first_words
    verb = words.split(" ", 1)[0] if words else ""

    trigger_table: str | None = None
    drop = _DROP_TRIGGER.match(text) if verb == "DROP" else None
    if drop:
        trigger_table = state.trigger_table(unquote(drop["name"]))
    dropped_table = _DROP_TABLE.match(text) if verb == "DROP" else None
    referencing: tuple[list[tuple[str, list[object]]], list[tuple[str, str]]] = ([], [])
    if dropped_table and track:
        gone = unquote(dropped_table["name"])
        referencing = (state.referencing_keys(gone), state.referencing_views(gone))
    # Never run statements that reach outside the scratch database (ATTACH creates files).
    if track and verb not in ("PRAGMA", "VACUUM", "ATTACH", "DETACH"):
        error = state.run(text)
        ctx.sqlite_accepted = error is None
        if error:
            ctx.note(
                "schema tracking",
                f"SQLite rejected the statement in the scratch schema "
                f"({error}); keys and types it implies are unknown to later statements",
            )

    if root is not None and verb != "PRAGMA":
        name = sorted(_mentioned(st.text) & set(state.withheld))[0]
        return _withheld(
            st,
            ctx,
            "depends on a withheld statement",
            f"needs {name}, whose statement ({root[0]}:{root[1]}) is withheld",
            "translate that statement by hand first",
        )
    try:
        if verb == "PRAGMA":
            return _dropped(st, ctx, "PRAGMA", "dropped: PRAGMAs configure SQLite only")
        if verb == "VACUUM":
            return _dropped(st, ctx, "VACUUM", "dropped: cannot run inside a transaction")
        if verb == "REINDEX":
            return _dropped(st, ctx, "REINDEX", "dropped: PostgreSQL keeps indexes current")
        if verb in ("ATTACH", "DETACH"):
            return _withheld(
                st,
                ctx,
                verb,
                "PostgreSQL has no attached databases",
                "use a schema or postgres_fdw",
            )
        if verb in ("SAVEPOINT", "RELEASE"):
            return _withheld(
                st, ctx, verb, "the tool owns the migration's transaction", "remove it"
            )
        if words.startswith("CREATE VIRTUAL TABLE"):
            return _withheld(
                st,
                ctx,
                "CREATE VIRTUAL TABLE",
                "SQLite virtual tables (FTS, R*Tree) do not exist in PostgreSQL",
                "use a tsvector column with a GIN index",
            )
        if verb == "CREATE" and "TRIGGER" in words.split()[1:4]:
            return _translate_trigger(st, ctx)
        if drop:
            name = unquote(drop["name"])
            if trigger_table is None:
                if drop["ie"]:
                    return _dropped(
                        st,
                        ctx,
                        "DROP TRIGGER IF EXISTS",
                        f"dropped: no trigger {name!r} exists at this point",
                    )
                return _withheld(
                    st,
                    ctx,
                    "DROP TRIGGER",
                    f"PostgreSQL needs the trigger's table; {name!r} is unknown",
                    "write DROP TRIGGER name ON table",
                )
            fn = state.trigger_functions.get(name.lower(), trigger_function_name(name))
            drops = (
                f"DROP TRIGGER IF EXISTS {pg_ident(name)} ON {pg_ident(trigger_table)}",
                f"DROP FUNCTION IF EXISTS {pg_ident(fn)}()",
            )
            return TranslatedStatement(st.line, text, drops, tuple(ctx.findings))
        if verb in ("INSERT", "UPDATE", "DELETE", "REPLACE") and names_sequence_table(text):
            counters = sequence_statements(text, ctx)
            if counters is not None:
                return TranslatedStatement(st.line, st.text, tuple(counters), tuple(ctx.findings))
        if verb == "REPLACE":
            text = re.sub(r"^\s*REPLACE\b", "INSERT OR REPLACE", text, count=1, flags=re.I)
        if verb == "CREATE" and "TABLE" in words.split()[1:3]:
            if _CONFLICT_CLAUSE.search(text):
                return _withheld(
                    st,
                    ctx,
                    "constraint ON CONFLICT clause",
                    "PostgreSQL constraints have no conflict resolution",
                    "drop the clause; use INSERT … ON CONFLICT where needed",
                )
            m = _TABLE_OPTIONS.search(text)
            if m:
                text = text[: m.start()] + ")"
                ctx.note(
                    " ".join(m[1].upper().split()),
                    "dropped: PostgreSQL tables have no rowid and are strictly typed",
                )
        view_drop = _DROP_VIEW.match(text) if verb == "DROP" else None
        if view_drop and _pending_view(state, unquote(view_drop["name"])):
            text = f"DROP VIEW IF EXISTS {view_drop['name']}"  # dropped with a rebuilt table
        out = generate(text, ctx)
        if dropped_table and dropped_table_keys(
            unquote(dropped_table["name"]), referencing[0], referencing[1], ctx
        ):
            out += " CASCADE"
        after: list[str] = []
        renamed = _RENAME.match(text) if verb == "ALTER" else None
        if renamed:
            rename_pending(unquote(renamed["old"]), unquote(renamed["name"]), state)
            ctx.extra.extend(
                implicit_renames(unquote(renamed["old"]), unquote(renamed["name"]), state)
            )
        now_exists = (
            _created(text)
            if verb in ("CREATE", "ALTER") and (state.pending_keys or state.pending_views)
            else None
        )
        if now_exists is not None and (
            now_exists in state.pending_keys or now_exists in state.pending_views
        ):
            after = [*resolve_pending(now_exists, ctx), *_recreate_views(now_exists, ctx)]
    except Untranslatable as exc:
        return _withheld(st, ctx, exc.construct, exc.why, exc.suggestion)
    return TranslatedStatement(st.line, st.text, (out, *ctx.extra, *after), tuple(ctx.findings))


def _pending_view(state: SchemaState, name: str) -> bool:
    """Forget a view dropped with a rebuilt table (the migration drops it itself)."""
    found = False
    for views in state.pending_views.values():
        for item in list(views):
            if item[0].lower() == name.lower():
                views.remove(item)
                found = True
    return found


def _recreate_views(table: str, ctx: Context) -> list[str]:
    out: list[str] = []
    for name, sql in ctx.state.pending_views.pop(table.lower(), []):
        inner = Context(ctx.file, ctx.line, ctx.state)
        try:
            out.append(generate(sql, inner))
        except Untranslatable as exc:
            ctx.warn(
                f"view {name}",
                f"dropped with {table} and not re-created: {exc.why}",
                "re-create the view in a PostgreSQL-specific migration",
            )
            continue
        ctx.note(f"view {name}", f"re-created now that {table} exists again")
    return out


# Trigger expressions that read no table (e.g. the touch idiom's CURRENT_TIMESTAMP): nothing
# of the schema goes into their translation, so it is kept by text.
_TABLELESS: dict[str, tuple[str, tuple[Finding, ...]]] = {}


def _translate_trigger(st: Statement, ctx: Context) -> TranslatedStatement:
    parts = parse_trigger(st.text)
    if parts is None:
        return _withheld(
            st,
            ctx,
            "CREATE TRIGGER",
            "cannot read the trigger's header",
            "write the PL/pgSQL function and trigger by hand",
        )

    def one(sql: str) -> str:
        inner = Context(ctx.file, ctx.line, ctx.state)
        inner.sqlite_accepted = ctx.sqlite_accepted
        inner.row_table = parts.table
        out = generate(sql, inner)
        ctx.findings.extend(inner.findings)
        if inner.extra:
            raise Untranslatable("trigger body", "needs statements a trigger cannot hold", "")
        return out

    def when_expr(sql: str) -> str:  # (the trigger's WHEN: a condition)
        inner = Context(ctx.file, ctx.line, ctx.state)
        inner.row_table = parts.table
        out = generate("SELECT " + sql, inner, expression_only=True, condition=True)
        ctx.findings.extend(inner.findings)
        return out

    def text_expr(sql: str) -> str:  # (a value assigned to a TEXT column)
        inner = Context(ctx.file, ctx.line, ctx.state)
        inner.row_table = parts.table
        out = generate("SELECT " + sql, inner, expression_only=True, text_value=True)
        ctx.findings.extend(inner.findings)
        return out

    def expr(sql: str) -> str:
        known = _TABLELESS.get(sql)
        if known is not None:  # (the same text, the same translation and findings)
            out, found = known
            ctx.findings.extend(dataclasses.replace(f, file=ctx.file, line=ctx.line) for f in found)
            return out
        inner = Context(ctx.file, ctx.line, ctx.state)
        inner.row_table = parts.table
        out = generate("SELECT " + sql, inner, expression_only=True)
        ctx.findings.extend(inner.findings)
        if not inner.tables:
            if len(_TABLELESS) >= 1024:
                _TABLELESS.clear()
            _TABLELESS[sql] = (out, tuple(inner.findings))
        return out

    keys = frozenset(k[0].lower() for k in ctx.state.unique_keys(parts.table) if len(k) == 1)
    rowid = (ctx.state.rowid_names(parts.table), ctx.state.rowid_alias(parts.table))
    text = ctx.state.text_columns(parts.table)[0]
    try:
        statements, notes = trigger_sql(parts, one, expr, keys, (text, text_expr), when_expr, rowid)
    except SplitError as exc:  # (a body SQLite's own parser took: never a traceback)
        return _withheld(st, ctx, "CREATE TRIGGER", f"cannot split the trigger's body ({exc})", "")
    for n in notes:
        ctx.note("CREATE TRIGGER", n)
    ctx.state.trigger_functions[parts.name.lower()] = trigger_function_name(parts.name)
    return TranslatedStatement(st.line, st.text, tuple(statements), tuple(ctx.findings))


def translate_script(
    sql: str, file: str = "<sql>", state: SchemaState | None = None
) -> FileTranslation:
    """Translate a whole SQLite script. Pass one ``state`` through a sequence of files so that
    later files know the tables and keys earlier ones created."""
    state = state if state is not None else SchemaState()
    try:
        statements = split_statements(sql)
    except SplitError as exc:
        return FileTranslation(
            file, (), (Finding(file, exc.line, "SQL text", str(exc), "fix the file"),)
        )
    parts = strip_template(statements)
    outside = [
        Finding(file, line, "template statement",
                "not translated: the tool owns the transaction and the tracking row", "", "note")
        for line in [*parts.transaction_lines, *parts.tracking_insert_lines,
                     *parts.tracking_delete_lines, *parts.tracking_table_lines]
    ]  # fmt: skip
    outside += [  # PRAGMA journal_mode / synchronous: not run on SQLite either
        Finding(file, line, "PRAGMA", "dropped: PRAGMAs configure SQLite only", "", "note")
        for line in parts.setting_lines
    ]
    if not parts.statements:
        outside.append(
            Finding(file, 1, "file", "holds only comments: a no-op on both databases", "", "note")
        )
    translated = tuple(translate_statement(st, file, state) for st in parts.statements)
    return FileTranslation(file, translated, tuple(outside), _header_comments(sql))


def _header_comments(sql: str) -> str:
    """The file's leading ``--`` comment block (Description/Author/Dependencies…)."""
    if not sql.lstrip().startswith("--"):
        return ""  # (its first line that is not blank holds no comment: none)
    lines: list[str] = []
    for line in sql.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped)
        elif stripped or lines:
            break
    return "\n".join(lines)


# A translation holds its file: its text, statements, PostgreSQL and findings (`plan`, `diff`
# peaked at 18-24 times the file). Larger files are refused where their translation is kept.
TRANSLATE_WHOLE_BYTES = 16 << 20


def translate_migration(
    m: Migration, state: SchemaState, *, keep: bool = True, refuse: str = ""
) -> FileTranslation:
    """:func:`translate_script` of migration ``m`` (``state``: the schema the ones before it
    left). ``keep=False`` when only the schema it leaves is wanted (an applied migration before
    those asked for): a large file is then translated a statement at a time as it is read
    from the file (filestatements.py), only its errors kept. A file over
    :data:`TRANSLATE_WHOLE_BYTES` whose translation is kept is refused (MigrationFileError,
    exit 2), ``refuse`` saying what else to do."""
    from malnu_tui.engine.errors import MigrationFileError
    from malnu_tui.engine.files import KEEP_TEXT_BYTES

    size = _file_size(m)
    if size <= KEEP_TEXT_BYTES or (keep and size <= TRANSLATE_WHOLE_BYTES):
        return translate_script(m.read_text(), m.filename, state)
    if keep:
        raise MigrationFileError(str(m.path), too_large_to_translate(size, refuse))
    errors: list[TranslatedStatement] = []
    try:
        for st in m.statements():
            done = translate_statement(st, m.filename, state)
            if done.withheld:
                errors.append(dataclasses.replace(done, output=()))
    except MigrationFileError as exc:
        where = f"{exc.path}:{exc.line}: " if exc.line else f"{exc.path}: "
        message = str(exc).removeprefix(where)
        found = Finding(m.filename, exc.line or 1, "SQL text", message, "fix the file")
        return FileTranslation(m.filename, tuple(errors), (found,))
    return FileTranslation(m.filename, tuple(errors))


def too_large_to_translate(size: int, refuse: str) -> str:
    """The one line that refuses to translate a file of ``size`` bytes."""
    limit = TRANSLATE_WHOLE_BYTES >> 20
    return (
        f"{size / (1 << 20):.1f} MB is too large to translate to PostgreSQL here (the "
        f"translation is held whole, about 20 times the file in memory; at most {limit} MB): "
        f"{refuse + ', or ' if refuse else ''}split it into migrations of at most {limit} MB each"
    )


def _file_size(m: Migration) -> int:
    if m.text is not None:
        return 0  # (read at discovery: small)
    try:
        return m.path.stat().st_size
    except OSError:
        return 0  # read whole: the read names the error


def translate_migrations(
    migrations: Iterable[Migration], state: SchemaState | None = None
) -> list[FileTranslation]:
    """Translate migrations in order, sharing schema knowledge between them."""
    state = state if state is not None else SchemaState()
    done = [translate_migration(m, state) for m in migrations]
    return name_dependents(done, state)


def name_dependents(fts: list[FileTranslation], state: SchemaState) -> list[FileTranslation]:
    """Each withheld statement that others depend on names them in its finding."""
    if not state.dependents:
        return fts
    out: list[FileTranslation] = []
    for ft in fts:
        statements: list[TranslatedStatement] = []
        for st in ft.statements:
            deps = state.dependents.get((ft.file, st.line))
            if deps and st.withheld:
                shown = ", ".join(f"{f}:{n}" for f, n in deps[:8])
                more = f" and {len(deps) - 8} more" if len(deps) > 8 else ""
                findings = list(st.findings)
                i = next(k for k, f in enumerate(findings) if f.severity == "error")
                findings[i] = dataclasses.replace(
                    findings[i],
                    why=f"{findings[i].why}; withheld with it, as they depend on it: {shown}{more}",
                )
                st = dataclasses.replace(st, findings=tuple(findings))
            statements.append(st)
        out.append(dataclasses.replace(ft, statements=tuple(statements)))
    return out


def translate_statements(
    statements: Sequence[Statement], file: str, state: SchemaState
) -> FileTranslation:
    """Translate already split statements (e.g. ``Migration.statements()``)."""
    return FileTranslation(file, tuple(translate_statement(st, file, state) for st in statements))
