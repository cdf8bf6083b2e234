"""A restore leaves the database fully as the chosen backup was, or fully as before: large
objects on PostgreSQL, the bytes restored being the bytes verified (real SQLite files and a
real PostgreSQL cluster)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import (
    BackupCorrupt,
    BackupError,
    BackupProgress,
    create_backup,
    load_manifest,
    restore_backup,
)
from malnu_tui.engine.config import Target
from tests.backup_support import V2, execute, fill, make_target, mset_of, open_fresh, rows, up
from tests.fixtures_core import popen_cli, run_cli
from tests.fixtures_pg import PgCluster


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[Target, Backend]]:
    target = make_target(tmp_path, pg_url)
    backend = open_fresh(target)
    try:
        up(backend, target)
        yield target, backend
    finally:
        backend.close()


def _large_objects(url: str) -> dict[int, bytes]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT oid, lo_get(oid) FROM pg_largeobject_metadata ORDER BY oid"
        ).fetchall()
    return {int(oid): bytes(data) for oid, data in rows}


def test_restore_unlinks_large_objects_made_after_the_backup(
    pg: tuple[Target, Backend],
) -> None:
    # Photos kept as large objects (an `oid` column, lo_import): a restore rewrote the ones
    # the backup had but left every one created after it behind — the database was not
    # "as it was", and a restore over and over piled them up. Now they are unlinked in the
    # restore's transaction; the backup's own come back with their old content.
    target, backend = pg
    with psycopg.connect(target.url, autocommit=True) as conn:
        kept = conn.execute("SELECT lo_from_bytea(0, 'photo 1')").fetchone()[0]
    made = create_backup(backend, target)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("SELECT lo_put(%s, 0, 'PHOTO')", (kept,))
        conn.execute("SELECT lo_from_bytea(0, 'photo 2, after the backup')")
    restore_backup(backend, target, made.id)
    assert _large_objects(target.url) == {int(kept): b"photo 1"}


def test_large_objects_of_a_postgresql_17_dump_are_kept_by_their_groups(pg_url: str) -> None:
    # pg_dump 17 lists large objects in groups (`BLOB METADATA - 16401..16403`), 16 and
    # older one by one (`BLOB - 16405`): both kinds are kept, every other one unlinked.
    from malnu_tui.engine.backup.pg_prelude import _large_objects_not_in

    toc = [
        "3379; 2613 16401 BLOB METADATA - 16401..16403 postgres",
        "3380; 2613 16405 BLOB - 16405 postgres",
        "3381; 0 0 BLOBS - BLOBS ",
    ]
    with psycopg.connect(pg_url) as conn:
        for oid in (16400, 16401, 16402, 16403, 16404, 16405, 16406):
            conn.execute("SELECT lo_create(%s)", (oid,))
        conn.execute(_large_objects_not_in(toc))
        left = conn.execute("SELECT oid FROM pg_largeobject_metadata ORDER BY 1").fetchall()
    assert [int(r[0]) for r in left] == [16401, 16402, 16403, 16405]


def test_a_backup_file_swapped_after_its_verification_is_not_restored(
    db: tuple[Target, Backend],
) -> None:
    # The restore verified the file (hash and engine check), took the pre-restore backup,
    # then read the file again by its name: a file swapped (or damaged) in between — another
    # backup copied over it, a sync tool rewriting the store — was restored unchecked and
    # reported "restored <id>". Now the bytes restored are hashed as they are read.
    target, backend = db
    up(backend, target)
    fill(backend, users=5)
    chosen = create_backup(backend, target)
    execute(backend, "DELETE FROM posts")
    other = create_backup(backend, target)
    execute(backend, "DELETE FROM users WHERE id > 2")
    before = rows(backend)
    path, swapped_in = target.backup_dir / chosen.file, target.backup_dir / other.file

    def swap(p: BackupProgress) -> None:
        if p.phase == "done" and p.message == "verified":
            path.write_bytes(swapped_in.read_bytes())

    with pytest.raises(BackupCorrupt) as info:
        restore_backup(backend, target, chosen.id, progress=swap)
    assert "changed since it was verified" in str(info.value), info.value
    assert rows(backend) == before
    assert load_manifest(target.backup_dir, chosen.id).verified_at is None
    assert backend.read_audit(limit=1, action="restore")[0].outcome == "failed"


@pytest.mark.parametrize("read", ["users", "user_counts"])  # a table, a materialized view
def test_restore_behind_an_app_transaction_gives_up_after_lock_timeout_naming_it(
    pg_url: str, tmp_path: Path, read: str
) -> None:
    # The school app keeps a transaction open on a table (a request in progress, a pool's
    # "idle in transaction"). The dump's SQL says `SET lock_timeout = 0`, so pg_restore's
    # DROP TABLE waited for ever, silently, and every query of the app queued behind it.
    # Now the restore locks the tables first within the target's lock_timeout, says whom it
    # waits for, and gives up with the database unchanged, naming the sessions.
    target = make_target(tmp_path, f"{pg_url}?lock_timeout=1s")
    backend = open_fresh(target)
    try:
        up(backend, target)
        fill(backend, users=3)
        execute(backend, "CREATE MATERIALIZED VIEW user_counts AS SELECT count(*) n FROM users")
        made = create_backup(backend, target)
        execute(backend, "DELETE FROM posts")
        before = rows(backend)
        said: list[str] = []
        with psycopg.connect(pg_url, application_name="school-app") as app:
            # The server ends it after 20 s: without the bound the test finishes, and fails.
            app.execute("SET idle_in_transaction_session_timeout = '20s'")
            app.execute(f"SELECT count(*) FROM {read}")
            pid = app.info.backend_pid
            with pytest.raises(BackupError) as info:
                restore_backup(backend, target, made.id, progress=lambda p: said.append(p.message))
            app.rollback()
        assert "lock timeout" in str(info.value) and "the database is unchanged" in str(info.value)
        assert f"pid {pid} (school-app" in (info.value.hint or ""), info.value.hint
        assert any("waiting for other sessions" in m and f"pid {pid}" in m for m in said), said
        assert rows(backend) == before
        restore_backup(backend, target, made.id)  # the app done: the restore goes through
        assert rows(backend) != before
    finally:
        backend.close()


def _until_a_lock_waits(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(600):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'LOCK TABLE%%'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)


def _restore_stopped_while_it_waits(
    pg_url: str, tmp_path: Path, stop: Callable[[subprocess.Popen[str]], None]
) -> tuple[int, str]:
    """`backup restore` of a backup of 100 marks (70, then 90 written since), its LOCK left
    waiting behind an app's transaction, then ``stop(proc)``: (exit code, stderr). The marks
    are checked to be 90 still and the lock row gone."""
    url = f"{pg_url}?lock_timeout=60s"
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marks (id int PRIMARY KEY, mark int)")
        conn.execute("INSERT INTO marks SELECT g, 70 FROM generate_series(1, 100) g")
    made = run_cli("--database", url, "backup", "create", env=env)
    assert made.code == 0, made.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE marks SET mark = 90")
    with psycopg.connect(pg_url) as app:
        app.execute("SET idle_in_transaction_session_timeout = '30s'")
        app.execute("SELECT count(*) FROM marks")
        proc = popen_cli("--database", url, "backup", "restore", made.out.strip(), "--yes", env=env)
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "(one txn)" in line:  # psql runs the restore's SQL: it waits in its LOCK
                _until_a_lock_waits(pg_url)
                stop(proc)
                break
        _out, err = proc.communicate(timeout=60)
        app.rollback()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT DISTINCT mark FROM marks").fetchall() == [(90,)]
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    return proc.returncode, "".join(seen) + err


def test_sigterm_while_a_restore_waits_leaves_the_database_before_and_the_lock_free(
    pg_url: str, tmp_path: Path
) -> None:
    # A service manager's SIGTERM (or `kill`) during `backup restore`: the process died on
    # the spot — its lock row left behind, its temp files in the store, nothing said, and the
    # server kept waiting in the restore's LOCK (the app queued behind it) until the timeout.
    # Now it ends as Ctrl-C does: psql cancels on the server, rolled back, lock released,
    # temp files removed, `terminated`, exit 143.
    code, err = _restore_stopped_while_it_waits(
        pg_url, tmp_path, lambda proc: proc.send_signal(signal.SIGTERM)
    )
    assert code == 143, err
    assert "terminated" in err and "Traceback" not in err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE%%'"
        ).fetchone()
        assert waiting == (0,), "the server no longer waits on the restore's behalf"
    store = next((tmp_path / "backups").iterdir())
    assert not [f.name for f in store.iterdir() if f.name.startswith(".tmp-")]


def _children(pid: int, name: str) -> list[int]:
    """The pids of ``pid``'s children running ``name``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if comm == name and int(rest.split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_restore_whose_psql_dies_of_the_terminals_hangup_is_said_interrupted(
    pg_url: str, tmp_path: Path
) -> None:
    # The terminal's SIGHUP (SSH gone; Ctrl-C's SIGINT, systemd's SIGTERM alike) goes to the
    # whole process group: psql can die of it before the tool's own handler runs. The restore
    # was rolled back either way, but the run was recorded "restore failed … psql exited with
    # -1", read by `check` and the audit as a broken restore. Now "interrupted", named.
    def hang_up_psql(proc: subprocess.Popen[str]) -> None:
        (psql,) = _children(proc.pid, "psql")
        os.kill(psql, signal.SIGHUP)  # the hangup reaching psql first

    code, err = _restore_stopped_while_it_waits(pg_url, tmp_path, hang_up_psql)
    assert code == 1, err
    assert "restore interrupted and was rolled back" in err and "psql was stopped by SIGHUP" in err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        (detail,) = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert "interrupted" in detail, detail


def test_sigterm_during_a_deep_verify_drops_its_scratch_database(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    # `backup verify --deep` restores into a scratch database `malnu_verify_…`; a SIGTERM (a
    # systemd timer's stop, a CI timeout) killed the process and left that database on the
    # server for good, a full copy of the school's data. SIGTERM now ends every command as
    # Ctrl-C does, and the verify drops its scratch database on the way out.
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE log (id int PRIMARY KEY, line text)")
        conn.execute("INSERT INTO log SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g")
    made = run_cli("--database", pg_url, "backup", "create", env=env)
    assert made.code == 0, made.err
    proc = popen_cli("--database", pg_url, "backup", "verify", made.out.strip(), "--deep", env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "restoring into scratch database" in line:
            proc.send_signal(signal.SIGTERM)
            break
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err, err
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'malnu\\_verify\\_%%'"
        ).fetchall()
    assert left == []


def test_backup_behind_an_exclusive_lock_names_the_session_and_makes_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    # A Django migration (or a VACUUM FULL) holds a table exclusively: the backup (and `up`'s
    # safety backup) stopped on "canceling statement due to lock timeout" with nothing more,
    # read as a failed migration. Now it says no backup was made and who holds the lock.
    target = make_target(tmp_path, f"{pg_url}?lock_timeout=1s")
    backend = open_fresh(target)
    try:
        up(backend, target)
        with psycopg.connect(pg_url, application_name="django-migrate") as other:
            other.execute("SET idle_in_transaction_session_timeout = '20s'")
            other.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(BackupError) as info:
                create_backup(backend, target)
            pid = other.info.backend_pid
        assert "lock timeout" in str(info.value) and "no backup was made" in str(info.value)
        assert f"pid {pid} (django-migrate" in (info.value.hint or ""), info.value.hint
        assert not [p.name for p in target.backup_dir.iterdir() if not p.name.startswith(".")]
    finally:
        backend.close()


PRISMA = """
CREATE TYPE "Role" AS ENUM ('STUDENT', 'TEACHER');
CREATE DOMAIN nis_text AS text CHECK (VALUE ~ '^[0-9]+$');
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE PROCEDURE archive(days int) LANGUAGE sql AS 'SELECT 1';
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (day date PRIMARY KEY, n int);
"""


def test_restore_drops_types_functions_and_schemas_made_after_the_backup(
    pg: tuple[Target, Backend],
) -> None:
    # A Prisma migration after the backup made an enum, a domain, a trigger function and a
    # schema: the restore dropped its tables but left those, and running the migration again
    # (`up` after a restore, as the README says) failed on `type "Role" already exists`.
    # What the backup had (an enum, a function made before it) comes back as it was.
    target, backend = pg
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        conn.execute("CREATE FUNCTION add1(i int, j int) RETURNS int LANGUAGE sql AS 'SELECT i+j'")
    made = create_backup(backend, target)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(PRISMA)
    restore_backup(backend, target, made.id)
    with psycopg.connect(target.url, autocommit=True) as conn:
        types = conn.execute(
            "SELECT typname FROM pg_type WHERE typname IN ('Role', 'nis_text', 'mood')"
        ).fetchall()
        funcs = conn.execute(
            "SELECT proname FROM pg_proc WHERE proname IN ('touch', 'archive', 'add1')"
        ).fetchall()
        assert types == [("mood",)] and funcs == [("add1",)]
        assert conn.execute("SELECT to_regnamespace('reporting')").fetchone() == (None,)
        conn.execute(PRISMA)  # the migration runs again


def test_restore_of_a_target_keeping_its_tool_tables_in_their_own_schema(
    pg_url: str, tmp_path: Path
) -> None:
    # `schema = "malnu"` (the tool's tables apart from the school's): every restore failed,
    # "cannot drop schema malnu because other objects depend on it" — pg_restore --clean
    # dropped the schema that still held the live audit trail the restore keeps.
    from malnu_tui.engine.rehearse import rehearse

    target = make_target(tmp_path, f"{pg_url}?schema=malnu")
    backend = open_fresh(target)
    try:
        up(backend, target, to=V2)
        fill(backend, users=3)
        assert rehearse(target, mset_of(target), backup_id=create_backup(backend, target).id).ok
        up(backend, target)
        made = create_backup(backend, target)
        before = rows(backend)
        execute(backend, "DELETE FROM posts")
        restore_backup(backend, target, made.id)
        assert rows(backend) == before
        assert backend.read_audit(limit=1, action="restore")[0].outcome == "ok"
        assert [r.filename for r in backend.fetch_records()] == list(made.applied_filenames)
    finally:
        backend.close()


def test_restore_beside_another_targets_tool_tables_in_the_same_database(
    pg: tuple[Target, Backend], tmp_path: Path
) -> None:
    # README's analytics set (public) and reporting mirror (schema = "reporting") in one
    # database: every `backup restore` of analytics failed, "cannot drop schema reporting
    # because other objects depend on it", pg_restore --clean dropping the schema whose live
    # audit trail and lock table the restore keeps out of it.
    target, backend = pg
    with psycopg.connect(target.url, autocommit=True) as conn:  # the hint of that guard
        conn.execute("CREATE SCHEMA reporting")
        conn.execute("CREATE TABLE reporting.migrations (LIKE public.migrations INCLUDING ALL)")
    mirror = make_target(tmp_path / "mirror", f"{target.url}?schema=reporting", name="reporting")
    open_fresh(mirror).close()  # its malnu_audit and malnu_lock in reporting
    made = create_backup(backend, target)
    before = rows(backend)
    execute(backend, "DELETE FROM posts")
    restore_backup(backend, target, made.id)
    assert rows(backend) == before
    assert backend.read_audit(limit=1, action="restore")[0].outcome == "ok"


def test_backup_of_a_target_whose_tables_sit_beside_another_targets_sync_state(
    pg_url: str, tmp_path: Path
) -> None:
    # `schema = "reporting"` keeps the tool's tables there while the migrations' tables stay
    # in public, where a sync into the analytics target keeps its malnu_sync: every backup of
    # the mirror (and every `up`, behind its safety backup) failed, `relation
    # "reporting.malnu_sync" does not exist`, counting public's table in the tool's schema.
    target = make_target(tmp_path, f"{pg_url}?schema=reporting")
    backend = open_fresh(target)
    try:
        up(backend, target)
        execute(backend, "CREATE TABLE public.malnu_sync (table_name text PRIMARY KEY)")
        execute(backend, "INSERT INTO public.malnu_sync VALUES ('users')")
        made = create_backup(backend, target)
        assert made.row_counts["malnu_sync"] == 1
    finally:
        backend.close()


def test_restore_by_the_database_owner_leaves_a_platform_roles_new_function(
    pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str, tmp_path: Path
) -> None:
    # Supabase: the operator's role owns the database; the platform (a superuser here) adds a
    # function to public after the backup. The restore may not drop it — it must not fail on
    # it either (what the operator's role made after the backup is dropped).
    role, password = pg_password_role
    url = f"postgresql://{role}:{quote(password)}@{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    target = make_target(tmp_path, url)
    backend = open_fresh(target)
    try:
        up(backend, target)
        made = create_backup(backend, target)
        with psycopg.connect(pg_cluster.url(pg_password_db), autocommit=True) as conn:
            conn.execute("CREATE FUNCTION platform_hook() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        execute(backend, "CREATE TYPE mine AS ENUM ('x')")
        restore_backup(backend, target, made.id)
        with psycopg.connect(pg_cluster.url(pg_password_db), autocommit=True) as conn:
            assert conn.execute("SELECT to_regproc('platform_hook')::text").fetchone() == (
                "platform_hook",
            )
            assert conn.execute("SELECT to_regtype('mine')").fetchone() == (None,)
    finally:
        backend.close()


def test_backup_outlasting_the_servers_idle_in_transaction_timeout(
    pg_url: str, tmp_path: Path
) -> None:
    # A DBA set idle_in_transaction_session_timeout (to end an app's stuck transactions). The
    # backup keeps a transaction open, idle, while pg_dump runs (the snapshot its manifest is
    # read in): any pg_dump longer than the timeout ended that session and the backup failed
    # — and with it every `up`'s safety backup. Here pg_dump waits 3 s on a lock.
    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.old (id int)")
        conn.execute(f"ALTER DATABASE \"{dbname}\" SET idle_in_transaction_session_timeout = '1s'")
    target = make_target(tmp_path, pg_url)
    backend = open_fresh(target)
    try:
        up(backend, target)
        holder = psycopg.connect(pg_url)  # the server ends it after 3 s idle
        try:
            holder.execute("SET idle_in_transaction_session_timeout = '3s'")
            holder.execute("LOCK TABLE archive.old IN ACCESS EXCLUSIVE MODE")
            made = create_backup(backend, target)
        finally:
            holder.close()
        assert made.verified
    finally:
        backend.close()


def test_backup_of_a_target_whose_config_keeps_the_tool_tables_in_their_own_schema(
    pg_url: str, tmp_path: Path
) -> None:
    # `schema = "malnu"` in malnu.toml (not in the URL): the backup opened the URL alone, so
    # it made a second, empty set of tool tables in public (or, for a role without CREATE
    # there — PostgreSQL 15's default — failed, and every `up` with it, at its safety
    # backup), and its manifest said no migration was applied: a rehearsal or a recovery
    # from it would run them all again.
    from dataclasses import replace

    from malnu_tui.engine.backup import verify_backup

    target = replace(make_target(tmp_path, pg_url), options={"schema": "malnu"})
    backend = open_fresh(target)
    try:
        up(backend, target)
        fill(backend, users=2)
        made = create_backup(backend, target)
        applied = [r.filename for r in backend.fetch_records()]
        assert applied and list(made.applied_filenames) == applied
        with psycopg.connect(pg_url) as conn:
            stray = conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND relname IN ('migrations', 'malnu_audit')"
            ).fetchall()
        assert stray == []
        report = verify_backup(target, made.id, deep=True)
        assert report.ok, report
    finally:
        backend.close()
