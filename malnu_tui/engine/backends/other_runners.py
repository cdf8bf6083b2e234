"""Other migration runners' history tables in the target database, so a database another tool
migrated is not migrated a second time by ``up`` (as wrangler's ``d1_migrations``,
d1/wrangler.py, and the Supabase CLI's ``supabase_migrations.schema_migrations``,
supabase_history.py, are not).

Each table is known by its name *and* its shape (three tools call theirs ``schema_migrations``):

- Prisma ``_prisma_migrations`` (id, checksum, finished_at, migration_name, logs,
  rolled_back_at, started_at, applied_steps_count): a migration is applied when finished and not
  rolled back; its name is its directory's, ``20240101120000_init``.
- dbmate ``schema_migrations (version varchar primary key)``, Rails the same table beside its
  ``ar_internal_metadata``: one row per applied version (``20240101120000``).
- golang-migrate ``schema_migrations (version bigint, dirty boolean)``: one row, the last
  version applied (dirty: it failed half-way).
- Drizzle ``__drizzle_migrations (id, hash, created_at)`` (schema ``drizzle`` on PostgreSQL):
  the SHA-256 of each file's text and the journal's time; since drizzle-orm 1.0 (beta) also
  ``name`` (the migration's folder, ``20251124120500_init``) and ``applied_at``, on a table
  made new and on an older one it upgrades (its old rows named when it can tell, else NULL).
  Its ``migrationsTable`` may be named otherwise: a table of Drizzle's exact columns is its
  history whatever its name (in the schemas it is looked for in).
- Flyway ``flyway_schema_history``: its own versions (``1``, ``1.1``), repeatable scripts and
  baselines. Alembic ``alembic_version (version_num)``: one row, the head revision's id.

Prisma's, dbmate's, Rails' and Drizzle 1.0's rows name a file by its ``YYYYMMDDHHMMSS`` version
(Drizzle's only when every row has its name), the way the Supabase CLI's do: they are
matched to this tool's files as those are (pg_record.cli_matcher).
The others name no file of ours: nothing of theirs is ever guessed to be a file here, and the
operator says which files they applied (``adopt --through VERSION``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL

if TYPE_CHECKING:
    from pathlib import Path

    from malnu_tui.engine.backends.d1.wrangler import AdoptPlan
    from malnu_tui.engine.files import MigrationSet

__all__ = [
    "HISTORY_TABLES",
    "Finding",
    "OtherRunner",
    "Runner",
    "applied_by_other_runners",
    "doctor_lines",
    "history_by_columns",
    "known_histories",
    "plan_adopt",
    "read_other_runners",
]


@dataclass(frozen=True)
class Runner:
    """How one tool's history table is told apart and read."""

    tool: str
    table: str
    columns: frozenset[str]  # every one of these is there
    exact: bool  # and no other column (the three shapes of schema_migrations)
    applied: str  # the WHERE of its applied rows
    names: str | None  # the column naming each applied file by its version, or None
    last: str | None = None  # the column saying where it stands (golang-migrate, Alembic)
    failed: str | None = None  # the WHERE of a migration that failed half-way
    way_out: str = ""  # the tool's own command that settles such a migration
    shapes: tuple[frozenset[str], ...] = ()  # its exact columns, found under any table name


_PRISMA_COLUMNS = (
    "id checksum finished_at migration_name logs rolled_back_at started_at applied_steps_count"
)
_FLYWAY_COLUMNS = (
    "installed_rank version description type script checksum installed_by installed_on "
    "execution_time success"
)
_DRIZZLE = ("id", "hash", "created_at")
RUNNERS = (
    Runner(
        "Prisma",
        "_prisma_migrations",
        frozenset(_PRISMA_COLUMNS.split()),
        False,
        "finished_at IS NOT NULL AND rolled_back_at IS NULL",
        "migration_name",
        failed="finished_at IS NULL AND rolled_back_at IS NULL",
        way_out="`prisma migrate resolve --applied|--rolled-back NAME`",
    ),
    Runner(
        "Drizzle",
        "__drizzle_migrations",
        frozenset(_DRIZZLE),
        False,
        "1=1",
        "name",  # (1.0's; a row without it: none matched)
        shapes=(
            frozenset(_DRIZZLE),
            frozenset({*_DRIZZLE, "name", "applied_at"}),
            frozenset({*_DRIZZLE, "name", "applied_at", "version"}),  # (a 1.0 beta's)
        ),
    ),
    Runner("dbmate", "schema_migrations", frozenset({"version"}), True, "1=1", "version"),
    Runner(
        "golang-migrate",
        "schema_migrations",
        frozenset({"version", "dirty"}),
        True,
        "1=1",
        None,
        "version",
        failed="dirty",
        way_out="`migrate force VERSION`",
    ),
    Runner(
        "Flyway",
        "flyway_schema_history",
        frozenset(_FLYWAY_COLUMNS.split()),
        False,
        "success",
        None,
        failed="NOT success",
        way_out="`flyway repair`",
    ),
    Runner(
        "Alembic", "alembic_version", frozenset({"version_num"}), True, "1=1", None, "version_num"
    ),
)
_NAMES = sorted({r.table for r in RUNNERS} | {"ar_internal_metadata"})
# Their tables are no data of the school's: a sync of every table leaves them out (copied, the
# primary's Prisma history went into the analytics database's own).
HISTORY_TABLES = frozenset(_NAMES)


def history_by_columns(columns: Sequence[str]) -> str | None:
    """The tool whose history table has exactly ``columns`` under any name (Drizzle's
    ``migrationsTable``), or None."""
    found = frozenset(c.lower() for c in columns)
    return next((r.tool for r in RUNNERS if found in r.shapes), None)


@dataclass(frozen=True)
class OtherRunner:
    """Another runner's history found in the target database."""

    tool: str
    table: str  # as found: ``_prisma_migrations``, ``drizzle.__drizzle_migrations``
    rows: int  # its applied rows
    names: tuple[str, ...] | None  # each applied file by version (matchable), or None
    last: str = ""  # where it stands: golang-migrate's version, Alembic's revision
    failed: int = 0  # migrations it left failed half-way (Prisma, golang-migrate's dirty, Flyway)
    way_out: str = ""  # the tool's own command that settles those
    known: bool = False  # wrangler's or the Supabase CLI's: `up` and `status` have their own

    def rows_at(self) -> str:
        """``_prisma_migrations, 3 row(s)`` (and where it stands, when it says)."""
        at = f", at {self.last}" if self.last else ""
        failed = f", {self.failed} failed half-way" if self.failed else ""
        return f"{self.table}, {self.rows} row(s){at}{failed}"

    def describe(self) -> str:
        return f"{self.tool} ({self.rows_at()})"

    def adopt_command(self) -> str:
        if self.names is not None:
            return "`malnu-tui adopt --dry-run`, then `malnu-tui adopt`"
        return (
            "`malnu-tui adopt --through VERSION --dry-run` (VERSION: the last of these files "
            f"{self.tool} applied), then without --dry-run"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "tool": self.tool,
            "table": self.table,
            "rows": self.rows,
            "matched_by_version": self.names is not None,
            "last": self.last or None,
        }


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reader(
    backend: Backend,
) -> tuple[str, Callable[[str, Sequence[object]], list[tuple[Any, ...]]]]:
    """The dialect and a query function of the target (read-only statements only)."""
    if backend.kind == "d1":
        api = backend.api  # type: ignore[attr-defined]
        return "sqlite", lambda sql, params: [tuple(r) for r in api.raw(sql, params).rows]
    conn = getattr(backend, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        return "sqlite", lambda sql, params: conn.execute(sql, tuple(params)).fetchall()
    if backend.kind == "postgresql" and conn is not None:
        return "postgresql", lambda sql, params: conn.execute(sql, tuple(params)).fetchall()
    raise LookupError(backend.kind)


def _tables(
    dialect: str, run: Callable[[str, Sequence[object]], list[tuple[Any, ...]]], schema: str
) -> dict[tuple[str, str], set[str]]:
    """(schema, table) → its columns, for the tables of :data:`RUNNERS`' names that are there,
    and those with a ``hash`` column (Drizzle's history under its ``migrationsTable``'s name).
    On PostgreSQL only in the target's schema (where its tool tables are), and Drizzle's own
    schema for a target in ``public`` (Drizzle's tables' default): an application's Prisma
    history in ``public`` is not the history of the school's analytics set in ``analytics``."""
    found: dict[tuple[str, str], set[str]] = {}
    marks = ", ".join("?" for _ in _NAMES)
    if dialect == "sqlite":
        rows = run(
            "SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p "
            f"WHERE m.type = 'table' AND (m.name IN ({marks}) OR ("
            # (first: D1 refuses any reading of its own _cf_ tables, the whole query with it)
            f"{NOT_INTERNAL.replace('name', 'm.name')} AND EXISTS (SELECT 1 FROM "
            "pragma_table_info(m.name) AS h WHERE lower(h.name) = 'hash')))",
            _NAMES,
        )
        for table, column in rows:
            found.setdefault(("", str(table)), set()).add(str(column).lower())
        return found
    hashed = (
        "EXISTS (SELECT 1 FROM information_schema.columns AS h WHERE h.table_schema = "
        "c.table_schema AND h.table_name = c.table_name AND h.column_name = 'hash')"
    )
    rows = run(
        "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns AS c "
        f"WHERE ((c.table_schema = %s AND (c.table_name = ANY(%s) OR {hashed})) OR (%s = "
        f"'public' AND c.table_schema = 'drizzle' AND {hashed})) "
        "AND has_schema_privilege(c.table_schema, 'USAGE') "
        "AND has_table_privilege(quote_ident(c.table_schema) || '.' || "
        "quote_ident(c.table_name), 'SELECT')",
        (schema, _NAMES, schema),
    )
    for sch, table, column in rows:
        found.setdefault((str(sch), str(table)), set()).add(str(column).lower())
    return found


def _is(r: Runner, schema: str, table: str, columns: set[str]) -> bool:
    """Whether the table is ``r``'s history: its name and columns, or its exact columns under
    any name (Drizzle's ``migrationsTable``); in Drizzle's own schema, only Drizzle's."""
    if schema == "drizzle" and r.tool != "Drizzle":
        return False
    if frozenset(columns) in r.shapes:
        return True
    if r.table != table or not r.columns <= columns:
        return False
    return not r.exact or columns == r.columns


def _names(
    r: Runner,
    columns: set[str],
    run: Callable[[str, Sequence[object]], list[tuple[Any, ...]]],
    where: str,
) -> tuple[str, ...] | None:
    """Each applied row's file by version (``r.names``), or None: the runner names none, its
    table has no such column (Drizzle before 1.0), or a row has none (an older Drizzle row
    1.0 could not name)."""
    if r.names is None or r.names not in columns:
        return None
    col = f"CAST({r.names} AS TEXT)"
    got = run(f"SELECT {col} FROM {where} WHERE {r.applied} ORDER BY 1", ())
    if any(v is None or not str(v).strip() for (v,) in got):
        return None
    return tuple(f"{v}.sql" if "_" in str(v) else str(v) for (v,) in got)


def _read(backend: Backend) -> list[OtherRunner]:
    dialect, run = _reader(backend)
    found = _tables(dialect, run, str(getattr(backend, "schema", "") or "public"))
    rails = any(t == "ar_internal_metadata" for _s, t in found)
    out: list[OtherRunner] = []
    for (schema, table), columns in sorted(found.items()):
        for r in RUNNERS:
            if not _is(r, schema, table, columns):
                continue
            name = f"{schema}.{table}" if schema and schema != "public" else table
            where = f"{_q(schema)}.{_q(table)}" if schema else _q(table)
            n = int(run(f"SELECT count(*) FROM {where} WHERE {r.applied}", ())[0][0])
            names = _names(r, columns, run, where)
            last = ""
            if r.last is not None and n:
                got = run(f"SELECT CAST({r.last} AS TEXT) FROM {where} LIMIT 1", ())
                last = str(got[0][0]) if got else ""
            failed = 0
            if r.failed is not None:
                failed = int(run(f"SELECT count(*) FROM {where} WHERE {r.failed}", ())[0][0])
            tool = "Rails" if r.tool == "dbmate" and rails else r.tool
            out.append(OtherRunner(tool, name, n, names, last, failed, r.way_out))
    return out


def read_other_runners(backend: Backend) -> list[OtherRunner]:
    """Every other runner's history in the target database (none it may not read). Reads
    only; on PostgreSQL in a transaction rolled back (an error aborts nothing of the
    caller's), on any database error: none."""
    from malnu_tui.engine.errors import MalnuError

    conn = getattr(backend, "conn", None)
    if backend.kind == "postgresql" and conn is not None:
        import psycopg

        from malnu_tui.engine.backends.pg_refusals import every_row
        from malnu_tui.engine.backends.pg_rowsec import history_hidden

        try:
            with conn.transaction(force_rollback=True):
                every_row(conn, local=True)  # every row, or an error: never what a policy shows
                return _read(backend)
        except psycopg.Error as exc:
            hidden = history_hidden(backend.display_url, exc, conn)
            if hidden is not None:
                raise hidden from None
            return []
    try:
        return _read(backend)
    except (LookupError, sqlite3.Error, MalnuError):  # (D1's client errors are MalnuErrors)
        return []


@dataclass(frozen=True)
class Finding:
    """A runner's history beside ours: whether this tool has taken the database over (its
    tracking table has an applied row), and the pending files it shows as applied."""

    runner: OtherRunner
    taken_over: bool
    applied_here: tuple[tuple[str, str], ...]  # (our file, the runner's name for it)

    @property
    def refuses_up(self) -> bool:
        r = self.runner
        if r.known:  # the Supabase CLI's: the pending files it applied (engine/preflight.py)
            return bool(self.applied_here)
        return bool(r.rows or r.failed) and (not self.taken_over or bool(self.applied_here))

    def _applied(self) -> str:
        r = self.runner
        if not self.taken_over:
            return (
                f"{r.tool} applied this database's migrations ({r.rows_at()}) "
                "and this tool tracks none of them"
            )
        names = ", ".join(f if f == w else f"{f} ({r.tool}'s {w})" for f, w in self.applied_here)
        return (
            f"{r.tool} already applied {len(self.applied_here)} pending migration(s) "
            f"({r.rows_at()}): {names}"
        )

    def refusal(self, where: str) -> str:
        """The one line ``up`` refuses with (exit 2)."""
        other = "" if self.taken_over else " (not this set's history: `up --unrelated-history`)"
        return (
            f"{where}: {self._applied()}: `up` would run them again; nothing was run or "
            "recorded; record them without "
            f"running them: {self.runner.adopt_command()}{other}"
        )

    def status_note(self) -> tuple[bool, str]:
        """What ``status`` says of it: (a warning: `up` refuses, the sentence)."""
        r = self.runner
        if self.refuses_up:
            return True, (
                f"{self._applied()}: `up` refuses to run them again; record them "
                f"without running them: {r.adopt_command()}"
            )
        return False, (
            f"{r.tool}'s migration history is here too ({r.rows_at()}); "
            "this tool has tracked the database since it applied or adopted its first migration"
        )

    def status_line(self) -> str:
        """What ``status`` says of it (stderr)."""
        warning, text = self.status_note()
        return f"{'warning' if warning else 'note'}: {text}"

    def as_json(self) -> dict[str, object]:
        return {
            **self.runner.as_json(),
            "tracked_here": self.taken_over,
            "pending_it_applied": [f for f, _w in self.applied_here],
            "up_refuses": self.refuses_up,
        }


def applied_by_other_runners(
    backend: Backend,
    taken_over: bool,
    pending: Sequence[str],
    mset: MigrationSet,
    *,
    with_known: bool = False,
) -> list[Finding]:
    """Each other runner's history in the database, with what it means for ``up``: before this
    tool has applied or adopted anything (``taken_over``: an applied row in its tracking
    table, as `status` read it), every one of its rows would run again; after, the
    pending files its rows name by version (Prisma, dbmate, Rails). ``with_known``: the
    Supabase CLI's too (``status --json``), matched as `up` matches it."""
    found = read_other_runners(backend)
    if with_known:
        found += [r for r in known_histories(backend) if r.tool == SUPABASE]
    if not found:
        return []
    out: list[Finding] = []
    for runner in found:
        both: list[tuple[str, str]] = []
        if runner.names is not None and pending:
            from malnu_tui.engine.backends.pg_record import files_applied

            theirs = files_applied(mset, runner.names)
            both = [(f, theirs[f]) for f in pending if f in theirs]
        out.append(Finding(runner, taken_over, tuple(both)))
    return out


SUPABASE = "the Supabase CLI"


def known_histories(backend: Backend, near: Path | None = None) -> list[OtherRunner]:
    """wrangler's ``d1_migrations`` (D1, SQLite) and the Supabase CLI's table (PostgreSQL),
    when they have rows: read as `up` reads them (d1/wrangler.py, pg_record.py)."""
    from malnu_tui.engine.errors import MalnuError

    if backend.kind == "postgresql":
        from malnu_tui.engine.backends.pg_record import SUPABASE_TABLE, cli_history

        names = cli_history(getattr(backend, "conn", None))
        if not names:
            return []
        return [OtherRunner(SUPABASE, SUPABASE_TABLE, len(names), tuple(names), known=True)]
    from malnu_tui.engine.backends.d1.wrangler import read_from_backend, table_for

    try:
        table = table_for(backend, near)  # near: the migration files (d1/wrangler.py)
        applied = read_from_backend(backend, table)
    except (MalnuError, sqlite3.Error):
        return []
    if not applied:
        return []
    names = [w.name for w in applied]
    return [OtherRunner("wrangler", table, len(names), tuple(names), known=True)]


def doctor_lines(backend: Backend, near: Path | None = None) -> list[tuple[bool, str, str]]:
    """``doctor``'s lines for other runners' histories, wrangler's and the Supabase CLI's
    with them: (ok, detail, fix). Failed while this tool tracks nothing there (`up` refuses
    what they applied then)."""
    found = [r for r in read_other_runners(backend) if r.rows or r.failed]
    found += known_histories(backend, near)
    if not found:
        return []
    try:
        taken_over = any(r.success for r in backend.fetch_records())
    except Exception:  # not initialised by this tool (no table): it tracks nothing
        taken_over = False
    lines: list[tuple[bool, str, str]] = []
    for r in found:
        if taken_over:
            detail = (
                f"{r.tool}'s migration history is here too ({r.rows_at()}); this tool tracks "
                "the database (`status` names any pending file it applied)"
            )
            lines.append((True, detail, ""))
        else:
            detail = (
                f"{r.tool} applied this database's migrations ({r.rows_at()}) and this tool "
                "tracks none of them: `up` refuses them"
            )
            lines.append((False, detail, f"record them without running them: {r.adopt_command()}"))
    return lines


def plan_adopt(backend: Backend, mset: MigrationSet, through: str | None) -> AdoptPlan | None:
    """What ``adopt`` records from another runner's history (None: there is none with rows).
    Prisma's, dbmate's and Rails' rows by version, as the Supabase CLI's are; with
    ``through``, every file of ours up to that version (the operator says what the runner
    applied: its rows name no file of ours). Changes nothing; bad input is exit 2."""
    from malnu_tui.engine.backends.d1.wrangler import AdoptPlan, WranglerMigration
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.files import normalise_version

    found = [r for r in read_other_runners(backend) if r.rows or r.failed]
    if not found:
        return None
    for r in found:
        if r.failed:
            raise ConfigError(
                f"{backend.display_url}: {r.describe()}: what such a migration left is not "
                "known; nothing was recorded",
                hint=f"settle it with {r.tool} first ({r.way_out}), then adopt",
            )
    records = backend.fetch_records()
    tables = ", ".join(r.table for r in found)
    source = f"{tables} in {backend.display_url}"
    tool = " and ".join(r.tool for r in found)
    if through is None:
        if len(found) > 1 or found[0].names is None:
            why = (
                f"{len(found)} runners' histories are here: "
                + "; ".join(r.describe() for r in found)
                if len(found) > 1
                else f"{found[0].describe()} names no file of this set"
            )
            raise ConfigError(
                f"{backend.display_url}: {why}; nothing was recorded: say which of these files "
                f"{tool} applied: `malnu-tui adopt --through VERSION --dry-run`",
                hint="VERSION is the last file it applied (`malnu-tui status` lists them)",
            )
        from malnu_tui.engine.backends.supabase_history import plan_adopt as by_version

        names = found[0].names or ()
        applied = [WranglerMigration(i, n, "") for i, n in enumerate(names, 1)]
        return by_version(mset, applied, records, source, tool=found[0].tool)
    version = normalise_version(through)
    if not any(m.version == version for m in mset.migrations):
        raise ConfigError(
            f"--through {through}: no migration file of version {version} in this set; "
            "nothing was recorded",
            hint="name the last file the other runner applied, by its version (`malnu-tui status`)",
        )
    tracked = {r.filename for r in records if r.success}
    upto = [m for m in mset.migrations if m.version <= version]
    to_adopt = tuple(
        (m, WranglerMigration(0, m.filename, "")) for m in upto if m.filename not in tracked
    )
    already = tuple(m.filename for m in upto if m.filename in tracked)
    return AdoptPlan(source, to_adopt, already, (), tool=tool)
