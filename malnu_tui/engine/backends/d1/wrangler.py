"""Interop with wrangler's own migration history, so a team can switch tools without re-running
what wrangler already applied.

wrangler records applied migrations in ``d1_migrations (id, name UNIQUE, applied_at)`` (the
name is configurable with ``migrations_table`` in wrangler's config: wrangler_config.py) — in
the remote D1 database, and for ``--local`` in a plain SQLite file under
``.wrangler/state/v3/d1/``. :func:`adopt` records those migrations in our tracking table
without running them (one audited batch each).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from malnu_tui.engine.backends.base import AuditEntry, Backend, RecordApplied, TrackingRecord
from malnu_tui.engine.backends.d1.wrangler_config import DEFAULT_TABLE, find_config, pick_table
from malnu_tui.engine.backends.d1.wrangler_names import by_name_part, match
from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.clock import json_time
from malnu_tui.engine.errors import BackendError, ConfigError
from malnu_tui.engine.files import Migration, MigrationSet

__all__ = [
    "DEFAULT_TABLE",
    "AdoptPlan",
    "AdoptResult",
    "WranglerMigration",
    "WranglerRow",
    "adopt",
    "find_local_state",
    "in_database",
    "plan_adopt",
    "read_from_backend",
    "read_local_state",
    "table_for",
    "table_from_config",
    "wrangler_status",
]

STATE_SUBDIR = Path(".wrangler") / "state" / "v3" / "d1"


@dataclass(frozen=True)
class WranglerMigration:
    """One row of wrangler's ``d1_migrations`` table."""

    id: int
    name: str
    applied_at: str


@dataclass(frozen=True)
class WranglerRow:
    """A wrangler-applied migration as ``status`` shows it: is the file here, do we track it."""

    name: str
    applied_at: str
    in_files: bool
    tracked: bool

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "applied_at": json_time(self.applied_at),  # (wrangler's CURRENT_TIMESTAMP: UTC)
            "in_files": self.in_files,
            "tracked": self.tracked,
        }


@dataclass(frozen=True)
class AdoptPlan:
    """What :func:`adopt` will record: migrations wrangler applied that we do not track yet."""

    source: str
    to_adopt: tuple[tuple[Migration, WranglerMigration], ...]
    already_tracked: tuple[str, ...]
    unmatched: tuple[str, ...]  # applied by wrangler, but no such file in our migration set
    tool: str = "wrangler"  # whose history (the Supabase CLI's: backends/supabase_history.py)

    def describe(self) -> list[str]:
        lines = [f"{self.tool}'s history from {self.source}:"]
        for m, w in self.to_adopt:
            as_ = "" if w.name == m.filename else f" as {self.tool}'s {w.name}"
            at = f" at {w.applied_at}" if w.applied_at else ""
            lines.append(f"  adopt {m.filename}{as_} (applied by {self.tool}{at})")
        if self.already_tracked:
            lines.append(f"  already tracked: {', '.join(self.already_tracked)}")
        if self.unmatched:
            lines.append("  no matching file here (not adopted): " + ", ".join(self.unmatched))
        if not self.to_adopt:
            lines.append("  nothing to adopt")
        return lines

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "to_adopt": [
                {
                    "filename": m.filename,
                    "wrangler_name": w.name,
                    "applied_at": json_time(w.applied_at),
                }
                for m, w in self.to_adopt
            ],
            "already_tracked": list(self.already_tracked),
            "unmatched": list(self.unmatched),
        }


@dataclass(frozen=True)
class AdoptResult:
    """What :func:`adopt` recorded."""

    adopted: tuple[str, ...]
    plan: AdoptPlan


def _rows_to_migrations(rows: Sequence[Sequence[object]]) -> list[WranglerMigration]:
    return [WranglerMigration(int(str(r[0])), str(r[1]), str(r[2] or "")) for r in rows]


def table_from_config(project: Path, database_id: str | None = None) -> str | None:
    """The ``migrations_table`` of the wrangler config found from ``project`` as wrangler finds
    it (``wrangler.json``, ``wrangler.jsonc``, ``wrangler.toml``, up to the root), for the
    database ``database_id`` where the config names it; None: no config (``d1_migrations``).
    It read ``wrangler.toml`` in ``project`` only: a create-cloudflare project's
    ``wrangler.jsonc`` was not read, and wrangler's own table was taken for absent."""
    files = _local_files(Path(project))  # wrangler's local state there: which table it has

    def present(table: str) -> bool:
        return any(_has_table(f, table) for f in files)

    return pick_table(Path(project), database_id, present if files else None)


def table_for(backend: Backend, near: Path | None = None) -> str:
    """wrangler's history table in ``backend``'s database: the ``migrations_table`` of the
    wrangler config found from the migration files' directory ``near`` (wrangler's
    ``migrations_dir`` lies in its project), else from the working directory (for wrangler's
    local state opened as a SQLite target, from its project), for that D1 database (by its
    id), else ``d1_migrations``. ``up``, ``status``, ``doctor`` and ``adopt`` read it alike:
    a cron job run from the home directory found no config, and `up` ran again what
    wrangler had applied."""
    start, database_id = Path.cwd(), None
    path = getattr(backend, "path", None)
    if backend.kind == "d1":
        database_id = str(backend.name)
    elif isinstance(path, Path) and ".wrangler" in path.parts:
        start = Path(*path.parts[: path.parts.index(".wrangler")])
    if near is not None and find_config(near) is not None:
        start = near
    return pick_table(start, database_id, lambda t: in_database(backend, t)) or DEFAULT_TABLE


def in_database(backend: Backend, table: str) -> bool:
    exists = "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?"
    if backend.kind == "d1":
        from malnu_tui.engine.backends.d1.backend import D1Backend

        assert isinstance(backend, D1Backend)
        return bool(int(backend.query(exists, (table,))[0]["n"]))
    conn = getattr(backend, "conn", None)
    return isinstance(conn, sqlite3.Connection) and bool(
        conn.execute(exists, (table,)).fetchone()[0]
    )


def _local_files(path: Path) -> list[Path]:
    """The SQLite files of wrangler's local D1 state under ``path`` (see find_local_state)."""
    if path.is_file():
        return [path]
    for root in (path / STATE_SUBDIR, path):
        if root.is_dir() and (
            found := sorted(p for p in root.rglob("*.sqlite") if p.name != "metadata.sqlite")
        ):
            return found
    return []


def find_local_state(path: Path, table: str = DEFAULT_TABLE) -> Path:
    """The SQLite file of wrangler's local D1 state under ``path``: the file itself, a project
    directory (``.wrangler/state/v3/d1`` below it) or the state directory. Exactly one
    database there must hold wrangler's migrations table (``table``: its config's
    ``migrations_table``; with only ``d1_migrations`` looked for, a project of two D1
    databases whose history table is named otherwise was "several wrangler local
    databases")."""
    path = Path(path)
    if path.is_file():
        return path
    candidates = _local_files(path)
    with_table = [p for p in candidates if _has_table(p, table)]
    chosen = with_table or candidates
    if not chosen:
        raise ConfigError(
            f"no wrangler local D1 state under {path}",
            hint="run `wrangler d1 migrations apply DB --local` there first, or give the "
            ".sqlite file itself",
        )
    if len(chosen) > 1:
        raise ConfigError(
            f"several wrangler local databases under {path}: " + ", ".join(str(p) for p in chosen),
            hint="give the .sqlite file of the database you mean",
        )
    return chosen[0]


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=5)


def _has_table(path: Path, table: str) -> bool:
    try:
        conn = _connect_ro(path)
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None


def read_local_state(path: Path, table: str = DEFAULT_TABLE) -> list[WranglerMigration]:
    """wrangler's applied migrations from its local state (see :func:`find_local_state`)."""
    db = find_local_state(path, table)
    try:
        conn = _connect_ro(db)
        try:
            if not _has_table(db, table):
                return []
            rows = conn.execute(
                f"SELECT id, name, applied_at FROM {quote_ident(table)} ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackendError(f"cannot read wrangler's state {db}: {exc}") from None
    return _rows_to_migrations(rows)


def read_from_backend(backend: Backend, table: str | None = None) -> list[WranglerMigration]:
    """wrangler's applied migrations from the target database itself (a remote D1 database,
    or a SQLite file such as wrangler's local state opened as a target); ``table`` by default
    as wrangler's config names it (:func:`table_for`)."""
    if backend.kind not in ("d1", "sqlite"):
        raise ConfigError(
            f"{backend.display_url} is a {backend.kind} database: wrangler keeps its history in "
            "D1 or in its local SQLite state",
            hint="use --wrangler-state PATH to read wrangler's local state",
        )
    table = table or table_for(backend)
    if not in_database(backend, table):
        return []
    select = f"SELECT id, name, applied_at FROM {quote_ident(table)} ORDER BY id"
    if backend.kind == "d1":  # checked by kind first: importing the D1 module costs httpx
        from malnu_tui.engine.backends.d1.backend import D1Backend

        assert isinstance(backend, D1Backend)
        return _rows_to_migrations(backend.api.raw(select).rows)
    conn = getattr(backend, "conn", None)
    assert isinstance(conn, sqlite3.Connection)
    return _rows_to_migrations(conn.execute(select).fetchall())


def wrangler_status(
    mset: MigrationSet, applied: Sequence[WranglerMigration], records: Sequence[TrackingRecord]
) -> list[WranglerRow]:
    """wrangler's history beside ours: for each wrangler-applied name, whether the file is in
    the migration set and whether our tracking table has it."""
    files, by_part = mset.by_filename(), by_name_part(mset)
    tracked = {r.filename for r in records if r.success}
    rows: list[WranglerRow] = []
    for w in applied:
        # Matched as adopt matches it (a 0002_name.sql renamed to a timestamp is that file):
        # else an adopted history read "not tracked, run adopt" for ever.
        m = match(files, by_part, w.name)
        here = m is not None and m.filename in tracked
        rows.append(WranglerRow(w.name, w.applied_at, m is not None, here))
    return rows


def plan_adopt(
    mset: MigrationSet,
    applied: Sequence[WranglerMigration],
    records: Sequence[TrackingRecord],
    source: str,
) -> AdoptPlan:
    """Match wrangler's applied names to our files; changes nothing.

    A name matches the file of the same name; failing that, wrangler's own numbering
    (``0001_create_users.sql``) matches the one file with the same descriptive part
    (``20251124_120500_create_users.sql``), so a team renames its files to timestamps once
    and adopts its history.
    """
    files = mset.by_filename()
    by_part = by_name_part(mset)
    tracked = {r.filename for r in records if r.success}
    to_adopt: list[tuple[Migration, WranglerMigration]] = []
    already: list[str] = []
    unmatched: list[str] = []
    chosen: set[str] = set()
    for w in applied:
        m = match(files, by_part, w.name)
        if m is None or m.filename in chosen:
            unmatched.append(w.name)
        elif m.filename in tracked:
            if m.filename not in already:  # (wrangler's 0002_name.sql and its new name)
                already.append(m.filename)
        else:
            to_adopt.append((m, w))
            chosen.add(m.filename)
    to_adopt.sort(key=lambda pair: (pair[0].version, pair[0].filename))
    return AdoptPlan(source, tuple(to_adopt), tuple(already), tuple(unmatched))


def adopt(backend: Backend, plan: AdoptPlan, wrangler_table: str | None = None) -> AdoptResult:
    """Record every migration of ``plan`` as applied, without running it: for each, the
    tracking row and an ``adopt`` audit row in one transaction, under the migration lock.

    ``wrangler_table``: wrangler's history table in ``backend``'s own database (as `up` keeps
    it in step). A file adopted under wrangler's ``0002_name.sql`` (renamed to a timestamp)
    also gets its row there under its new name, in the same unit: wrangler, reading the
    renamed directory, listed every adopted file as still to apply, and a `wrangler d1
    migrations apply` run afterwards (a CI job, a teammate) ran the whole history again."""
    from malnu_tui.engine.backends.sqlite_sql import bind_literals
    from malnu_tui.engine.oplock import migration_lock
    from malnu_tui.engine.sqlsplit import Statement

    done: list[str] = []
    with migration_lock(backend, "adopt"):
        tracked = {r.filename for r in backend.fetch_records() if r.success}
        for m, w in plan.to_adopt:
            if m.filename in tracked:
                continue  # another operator adopted or applied it meanwhile
            renamed = wrangler_table is not None and w.name != m.filename
            audit = AuditEntry.now(
                "adopt",
                m.filename,
                "ok",
                f"applied by {plan.tool} as {w.name}"
                + (f" at {w.applied_at}" if w.applied_at else "")
                + f" ({plan.source}); recorded, not run"
                + (f"; {wrangler_table} names it {m.filename} too" if renamed else ""),
            )
            row = f"INSERT OR IGNORE INTO {quote_ident(wrangler_table or '')} (name) VALUES (?)"
            sqls = [Statement(bind_literals(row, (m.filename,)), 0)] if renamed else []
            backend.run_unit(m.filename, sqls, RecordApplied(m.filename, m.checksum), audit)
            done.append(m.filename)
    return AdoptResult(tuple(done), plan)
