"""Every command that only reads (status, verify, history, log, check, diff, plan, lint,
doctor, backup list and verify, sync status and verify, the dry runs) run against databases
this user may only read: a SQLite file made read-only in a read-only directory, a PostgreSQL
role with SELECT only and a database whose sessions are read-only, and a D1 database whose
request log is read. Each reports as it would elsewhere, and nothing is written: the files'
bytes and mtimes, PostgreSQL's catalog and tool rows, D1's bookmarks are as they were (the
audit index an earlier version lacked is not added)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests import cliserver
from tests.fixtures_core import REPO, MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target
from tests.fixtures_matrix import DbTarget

READS = (
    ("status",), ("verify",), ("history",), ("log",), ("check",), ("diff",), ("plan",),
    ("lint",), ("backup", "list"), ("backup", "verify", "{backup}"), ("sync", "status"),
    ("sync", "verify", "copy"), ("sync", "copy", "--dry-run"), ("up", "--dry-run"),
    ("rollback", "--dry-run"), ("doctor",),
)  # fmt: skip
_AUDIT_INDEX = "DROP INDEX malnu_audit_action_id"  # as a version before session 9 left it


def _config(tmp_path: Path, primary: DbTarget, copy: DbTarget, d: MigrationDirs) -> Path:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "{primary.url}"\nmigrations_dir = "{d.migrations}"\n'
        f'rollback_dir = "{d.rollback}"\nbackup_dir = "{tmp_path / "store"}"\n'
        f'[targets.copy]\nurl = "{copy.url}"\nbackup_dir = "{tmp_path / "store2"}"\n'
        '[sync.copy]\nfrom = "primary"\nto = "copy"\ntables = ["users", "posts"]\n',
        encoding="utf-8",
    )
    return cfg


def _in_use(tmp_path: Path, fresh_db: Callable[[str], DbTarget], kind: str, mdirs: MigrationDirs,
            *, older: bool = True) -> tuple[DbTarget, DbTarget, Path, str]:  # fmt: skip
    """Two databases of ``kind`` as the tool leaves them: migrations applied, a verified
    backup, a sync from one to the other; then (``older``) the audit index dropped from both,
    as a version before session 9 left them."""
    school_set(mdirs)
    primary, copy = fresh_db(kind), fresh_db(kind)
    cfg = _config(tmp_path, primary, copy, mdirs)
    env = primary.env
    for args in (("up", "--yes"), ("backup", "create", "--yes"), ("sync", "copy", "--yes")):
        res = run_cli("--config", str(cfg), "--target", "primary", *args, env=env)
        assert res.code == 0, (args, res.err)
    listed = run_cli("--config", str(cfg), "--target", "primary", "backup", "list", "--json")
    [backup] = [b for b in json.loads(listed.out) if b["reason"] == "manual"]
    for db in (primary, copy) if older else ():
        _sql(db, _AUDIT_INDEX)
    return primary, copy, cfg, str(backup["id"])


def _sql(db: DbTarget, statement: str) -> list[tuple[object, ...]]:
    if db.kind == "sqlite":
        with sqlite3.connect(db.url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(statement).fetchall()
        conn.close()
        return rows
    if db.kind == "postgresql":
        with psycopg.connect(db.url, autocommit=True) as pg:
            cur = pg.execute(statement)
            return cur.fetchall() if cur.description else []
    assert db.d1 is not None
    return db.d1.sql(statement)


def _reads(cfg: Path, backup: str, env: dict[str, str], prefix: tuple[str, ...] = (),
           skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:  # fmt: skip
    """Each read command's exit code and output, run as a real process forked from the CLI
    fork server (``run_cli``), or from one of its own started behind ``prefix`` (a command
    that starts it: each run is what that command would start, the interpreter started once)."""
    out = {}
    with cliserver.behind(prefix) if prefix else contextlib.nullcontext() as server:
        for args in (a for a in READS if a[0] not in skip):
            argv = ["--config", str(cfg), "--target", "primary"]
            argv += [a.replace("{backup}", backup) for a in args]
            if server is None:
                res = run_cli(*argv, env=env, timeout=120)
                out[" ".join(args)] = (res.code, res.out + res.err)
                continue
            code, said, err = cliserver.run(argv, {**os.environ, **env}, "", 120, REPO, server)
            out[" ".join(args)] = (code, said + err)
    return out


def _reported_sensibly(results: dict[str, tuple[int, str]]) -> None:
    for command, (code, text) in results.items():
        assert "Traceback" not in text and "error:" not in text, (command, text)
        assert code == 0 or (command == "doctor" and code == 1), (command, code, text)
    assert "3 applied, 0 pending" in results["status"][1]
    assert "verify" not in results or "ok: 3 applied file(s) match" in results["verify"][1]
    assert "check" not in results or "OK" in results["check"][1].splitlines()[0]
    assert "2 table(s) equal on both sides" in results["sync verify copy"][1]
    assert "nothing was written" in results["sync copy --dry-run"][1]
    assert "users" in results["sync status"][1]
    assert "is good" in results["backup verify {backup}"][1]


def _file_state(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_a_sqlite_file_this_user_may_only_read(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """`status`, `verify`, `sync status`, `sync verify` and `sync --dry-run` refused such a
    file (exit 2, "may not write the file"): they opened it as a command that writes."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test as a reader"
    primary, copy, cfg, backup = _in_use(tmp_path, fresh_db, "sqlite", mdirs)
    folder = Path(primary.url.removeprefix("sqlite:///")).parent
    assert folder == Path(copy.url.removeprefix("sqlite:///")).parent
    store = tmp_path / "store"  # one backup not verified yet, in a store it may only read
    manifest = json.loads((store / f"{backup}.json").read_text())
    (store / f"{backup}.json").write_text(json.dumps({**manifest, "verified_at": None}))
    for where in (folder, store):
        for p in where.iterdir():
            if p.is_file():
                p.chmod(0o444)
        where.chmod(0o555)
    before = {where: _file_state(where) for where in (folder, store)}
    try:
        # root drops the capabilities that let it ignore file modes
        results = _reads(cfg, backup, {}, (setpriv, "--bounding-set",
                                           "-dac_override,-dac_read_search"))  # fmt: skip
    finally:
        folder.chmod(0o755)
        store.chmod(0o700)
    assert {where: _file_state(where) for where in (folder, store)} == before
    _reported_sensibly({c: r for c, r in results.items() if c != "doctor"})
    assert "may not write the file" in results["doctor"][1]  # its one finding: said, exit 1
    assert "read as it is, nothing created or upgraded" in results["verify"][1]
    # "is good", and said that it could not be recorded: it was silent, and the backup stayed
    # unverified for `check` and `recover`
    said = results["backup verify {backup}"][1]
    assert "the outcome could not be recorded in its manifest: Permission denied" in said, said
    assert "still count this backup as not verified" in said


def _pg_catalog(db: DbTarget) -> list[tuple[object, ...]]:
    """The tables, columns and indexes of the public schema, and the tool's rows."""
    return [
        *_sql(db, "SELECT table_name, column_name FROM information_schema.columns "
                  "WHERE table_schema = 'public' ORDER BY 1, 2"),
        *_sql(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"),
        *_sql(db, "SELECT count(*), max(id) FROM malnu_audit"),
        *_sql(db, "SELECT * FROM migrations ORDER BY filename"),
    ]  # fmt: skip


@pytest.mark.parametrize("how", ["select_only", "read_only_database"])
def test_postgresql_that_takes_no_writes(
    how: str, tmp_path: Path, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """A role granted SELECT only (a reporting role), or every session read-only: `status`
    and `verify` were an error (they upgraded an earlier version's tool tables first), as
    were `sync status`, `sync verify` and `sync --dry-run` (the same upgrade at each end)."""
    primary, copy, cfg, backup = _in_use(tmp_path, fresh_db, "postgresql", mdirs)
    before = {db.url: _pg_catalog(db) for db in (primary, copy)}
    role = f"ro_{uuid.uuid4().hex[:8]}"
    for db in (primary, copy):
        with psycopg.connect(db.url, autocommit=True) as pg:
            if how == "select_only":
                if db is primary:
                    pg.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
                pg.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                    sql.Identifier(role)))  # fmt: skip
            else:
                pg.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on")
                           .format(sql.Identifier(pg.info.dbname)))  # fmt: skip
    if how == "select_only":
        for db in (primary, copy):
            db.url = db.url.replace("://postgres@", f"://{role}@", 1)
        cfg = _config(tmp_path, primary, copy, mdirs)
    try:
        results = _reads(cfg, backup, {})
    finally:
        for db in (primary, copy):
            db.url = db.url.replace(f"://{role}@", "://postgres@", 1)
            with psycopg.connect(db.url, autocommit=True) as pg:
                pg.execute("SET default_transaction_read_only = off")
                pg.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only")
                           .format(sql.Identifier(pg.info.dbname)))  # fmt: skip
                if how == "select_only":
                    pg.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        if how == "select_only":
            with psycopg.connect(primary.url, autocommit=True) as pg:
                pg.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert {db.url: _pg_catalog(db) for db in (primary, copy)} == before
    if how == "select_only":  # what a sync would be refused for, said before anything is read
        code, text = results.pop("sync copy --dry-run")
        assert code == 2 and 'lacks INSERT, UPDATE, DELETE on "public"."users"' in text, text
        results["sync copy --dry-run"] = (0, "nothing was written")
    if how == "read_only_database":  # check warns that writes (up, backups' audit) would fail
        code, text = results.pop("check")
        assert code == 1 and text.startswith("MALNU WARNING") and "read-only" in text, text
    _reported_sensibly({c: r for c, r in results.items() if c not in ("doctor", "check")})


def test_d1_is_sent_no_write(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """No read sends D1 a write (a new bookmark each): doctor's probe of CREATE is one batch
    D1 rolls back. (`status` and `verify` upgrade an earlier version's tool tables where this
    user may write: the documented point of that upgrade; `verify` records its run.)"""
    primary, copy, cfg, backup = _in_use(tmp_path, fresh_db, "d1", mdirs, older=False)
    assert primary.d1 is not None and copy.d1 is not None
    bookmarks = [len(t.db.snapshots) for t in (primary.d1, copy.d1)]
    first = len(primary.d1.server.requests)
    results = _reads(cfg, backup, primary.env, skip=("verify",))
    assert [len(t.db.snapshots) for t in (primary.d1, copy.d1)] == bookmarks
    bodies = [r.body.upper() for r in primary.d1.server.requests[first:]]
    bodies = [b for b in bodies if "MALNU_DOCTOR_PROBE" not in b]  # fails by design
    verbs = ("CREATE ", "INSERT ", "ALTER ", "DROP ", "UPDATE ", "DELETE ")
    assert [b for b in bodies if any(w in b for w in verbs)] == []
    _reported_sensibly(results)


def test_d1_the_tool_never_used_is_sent_no_write(d1: D1Target, tmp_path: Path) -> None:
    """`d1 bookmark`, `d1 wrangler-status` and `d1 export` opened the database as a command
    that writes: one the tool had never used got its tables (CREATE TABLE, a new bookmark)."""
    app_table = "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)"
    d1.server.execute(d1.db, [(app_table, [])], raw=False)
    bookmarks = len(d1.db.snapshots)
    dump = tmp_path / "dump.sql"
    for args, code in (
        (("d1", "bookmark"), 0), (("d1", "wrangler-status"), 0), (("d1", "export", str(dump)), 0),
        (("d1", "lint"), 0), (("doctor",), 0), (("history",), 1), (("check",), 3),
    ):  # fmt: skip
        res = run_cli("--database", d1.url, *args, env=d1.env)
        assert res.code == code and "Traceback" not in res.err, (args, res.err)
        assert len(d1.db.snapshots) == bookmarks, (args, res.err)
    assert "CREATE TABLE siswa" in dump.read_text(encoding="utf-8")
    assert [r[0] for r in d1.sql("SELECT name FROM sqlite_master")] == ["siswa"]


def test_a_sync_dry_run_into_a_copy_not_made_yet_makes_nothing(tmp_path: Path) -> None:
    """Opened to write, the destination's file was created (empty) by `sync --dry-run` and
    `sync verify`; opened read-only it was refused. It reads as the new file the first sync
    makes: every row to copy, and nothing made."""
    src, dst = tmp_path / "src.db", tmp_path / "copy" / "dst.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("INSERT INTO users VALUES (1, 'Siti')")
    conn.commit()
    conn.close()
    ends = ("sync", "--from", f"sqlite:///{src}", "--to", f"sqlite:///{dst}")
    dry = run_cli(*ends, "--dry-run")
    assert dry.code == 0 and "nothing was written" in dry.err, dry.err
    verify = run_cli(ends[0], "verify", *ends[1:])
    assert verify.code == 1 and "users" in verify.err and "Traceback" not in verify.err
    assert not dst.parent.exists()


def test_a_command_refused_for_its_files_makes_no_database(tmp_path: Path) -> None:
    """`status`, `up`, `rollback` and `repair` opened (so made) the SQLite file before they
    read the migrations directory: a mistyped one (or a bad file name in it) was refused,
    exit 2, and an empty `schoo.db` with the tool's tables was left for the next command to
    "work" on. The files are read first; the reads and checks make nothing either."""
    folder = tmp_path / "data"
    db, rb = folder / "schoo.db", folder / "rollback"
    rb.mkdir(parents=True)
    where = ("--database", str(db), "--migrations-dir", str(folder / "nope"),
             "--rollback-dir", str(rb))  # fmt: skip
    for args in (("status",), ("--json", "status"), ("up",), ("--yes", "up"),
                 ("--yes", "rollback"), ("--yes", "repair"), ("verify",), ("log",), ("check",),
                 ("doctor",), ("lint",), ("plan",), ("history",), ("up", "--dry-run")):  # fmt: skip
        res = run_cli(*where, *args)
        assert res.code != 0 and "Traceback" not in res.err, (args, res.err)
        assert [p.name for p in folder.iterdir()] == ["rollback"], (args, res.err)
    # `up` refused by its plan (an unknown --to) made it too; one that applies makes it.
    (folder / "nope").mkdir()
    (folder / "nope" / "20250101_000100_t.sql").write_text("CREATE TABLE t (v TEXT);\n")
    (rb / "20250101_000100_t.sql").write_text("DROP TABLE t;\n")
    res = run_cli(*where, "--yes", "up", "--to", "20990101_000000")
    assert res.code == 2 and "no migration with version 20990101_000000" in res.err, res.err
    assert sorted(p.name for p in folder.iterdir()) == ["nope", "rollback"], res.err
    assert run_cli(*where, "--yes", "up", "--no-backup").code == 0 and db.is_file()
