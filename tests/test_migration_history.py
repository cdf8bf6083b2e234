"""A migration set as teams keep it for months, on every backend of the matrix: files renamed
after they ran, template files that touch the tracking table themselves. Each test checks the
real database, the tracking rows and the audit rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.errors import ChecksumDrift, MigrationFileError, MissingRollback
from malnu_tui.engine.files import MigrationSet, discover
from malnu_tui.engine.migrate import (
    MigrationState,
    apply_plan,
    plan_rollback,
    plan_up,
    repair,
    status,
    verify,
)
from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.reading import check_target
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget


def _up(b: Backend, d: MigrationDirs) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(b, mset, plan_up(b, mset)).done]


def _down(b: Backend, d: MigrationDirs, steps: int = 1) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(b, mset, plan_rollback(b, mset, steps=steps)).done]


def _seed_set(d: MigrationDirs) -> None:
    d.add(
        "20250101_000100",
        "create_kelas",
        "CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL);",
        "DROP TABLE kelas;",
    )
    # Seed data: run twice, it is two of every row (no key to stop it).
    d.add(
        "20250101_000200",
        "seed_kelas",
        "INSERT INTO kelas (id, nama) SELECT count(*) + 1, 'X-A' FROM kelas;",
        "DELETE FROM kelas WHERE nama = 'X-A';",
    )


def test_a_file_renamed_after_it_ran_is_drift_not_run_again(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    d = mdirs
    _seed_set(d)
    b = db_target.open(d)
    assert len(_up(b, d)) == 2
    old = d.migrations / "20250101_000200_seed_kelas.sql"
    new = old.with_name("20250101_000200_seed_data_kelas.sql")  # a name fixed in review
    old.rename(new)

    report = status(b, discover(d.migrations, d.rollback))
    rows = {m.filename: m for m in report.migrations}
    assert set(rows) == {"20250101_000100_create_kelas.sql", new.name}  # not missing + pending
    assert rows[new.name].state is MigrationState.DRIFTED
    assert rows[new.name].recorded_filename == old.name
    assert any("renamed since it ran" in w for w in report.warnings)
    assert verify(b, discover(d.migrations, d.rollback)).drifted[0].filename == new.name
    with pytest.raises(ChecksumDrift, match=r"recorded as 20250101_000200_seed_kelas\.sql"):
        _up(b, d)
    assert b.row_count("kelas") == 1  # it ran once, and only once
    health = check_target(db_target.target(d), MonitorConfig())
    assert f"{new.name} renamed (recorded as {old.name}) since it ran" in [
        p.message for p in health.problems
    ]

    assert repair(b, discover(d.migrations, d.rollback)) == [new.name]
    recs = {r.filename: r for r in b.fetch_records()}
    assert set(recs) == {"20250101_000100_create_kelas.sql", new.name}
    assert recs[new.name].success
    audit = b.read_audit(action="repair")[0]
    assert audit.object == new.name and f"renamed {old.name} → {new.name}" in audit.detail
    assert verify(b, discover(d.migrations, d.rollback)).ok
    assert _up(b, d) == []
    assert _down(b, d) == [new.name]  # the row under its new name is the one removed
    assert b.row_count("kelas") == 0
    assert {r.filename for r in b.fetch_records()} == {"20250101_000100_create_kelas.sql"}
    b.close()


def test_a_file_re_stamped_after_it_ran_is_drift_not_run_again(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """dbmate users re-stamp a branch's file to sort after main's (`mv 20250101_000200_x.sql
    20250301_000100_x.sql`): same name, same content, a new version. Once it had run, it was
    missing + pending and `up` ran it again."""
    d = mdirs
    _seed_set(d)
    b = db_target.open(d)
    assert len(_up(b, d)) == 2
    old = d.migrations / "20250101_000200_seed_kelas.sql"
    new = old.with_name("20250301_000100_seed_kelas.sql")
    old.rename(new)
    (d.rollback / "20250101_000200_undo_seed_kelas.sql").rename(
        d.rollback / "20250301_000100_undo_seed_kelas.sql"
    )
    rows = {m.filename: m for m in status(b, discover(d.migrations, d.rollback)).migrations}
    assert rows[new.name].state is MigrationState.DRIFTED
    assert rows[new.name].recorded_filename == old.name and old.name not in rows
    with pytest.raises(ChecksumDrift):
        _up(b, d)
    assert b.row_count("kelas") == 1
    assert repair(b, discover(d.migrations, d.rollback)) == [new.name]
    assert status(b, discover(d.migrations, d.rollback)).head == "20250301_000100"
    b.close()


def test_template_statements_on_the_tracking_table_are_not_run(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """The template's trailing INSERT with the table named after its schema, and a template
    rollback's own DELETE FROM migrations naming another file (copy-pasted): the tool keeps
    the tracking table; run as written they recorded a migration that never ran and removed
    another one's row."""
    d = mdirs
    schema = "public" if db_target.kind == "postgresql" else "main"
    d.add(
        "20250101_000100",
        "create_kelas",
        "CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL);",
        "DROP TABLE kelas;",
    )
    d.add(
        "20250101_000200",
        "create_mapel",
        f"""
        BEGIN TRANSACTION;
        CREATE TABLE mapel (id INTEGER PRIMARY KEY, nama TEXT NOT NULL);
        COMMIT;
        -- Record migration
        insert into {schema}.migrations (filename, checksum)
        VALUES ('20251124_120500_migration_name.sql', 'checksum_hash');
        """,
        """
        BEGIN TRANSACTION;
        DROP TABLE mapel;
        DELETE FROM "migrations" WHERE filename = '20250101_000100_create_kelas.sql';
        COMMIT;
        """,
    )
    b = db_target.open(d)
    mset = discover(d.migrations, d.rollback)
    plan = plan_up(b, mset)
    assert "its INSERT INTO migrations (line 5) not run" in " ".join(plan.steps[1].notes)
    apply_plan(b, mset, plan)
    assert sorted(r.filename for r in b.fetch_records()) == [
        "20250101_000100_create_kelas.sql",
        "20250101_000200_create_mapel.sql",
    ]
    rollback = plan_rollback(b, mset, steps=1)
    assert "its DELETE FROM migrations (line 3) not run" in " ".join(rollback.steps[0].notes)
    apply_plan(b, mset, rollback)
    assert [r.filename for r in b.fetch_records()] == ["20250101_000100_create_kelas.sql"]
    assert "kelas" in b.table_names() and "mapel" not in b.table_names()
    b.close()


def test_a_dependency_archived_after_it_ran_is_met_by_its_row(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """Old files moved out after months (archived, squashed) while a later file names one of
    them in ``-- Dependencies:``: every command, `status` included, stopped on "unknown
    dependency" (exit 2). The applied row meets the dependency; one no row has is refused by
    `up` before anything runs."""
    d = mdirs
    _seed_set(d)
    d.add(
        "20250101_000300",
        "index_kelas",
        "CREATE INDEX kelas_nama ON kelas (nama);",
        "DROP INDEX kelas_nama;",
        dependencies="20250101_000100_create_kelas.sql",
    )
    b = db_target.open(d)
    assert len(_up(b, d)) == 3
    (d.migrations / "20250101_000100_create_kelas.sql").unlink()  # archived
    d.add(
        "20250101_000400",
        "create_siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas_id INTEGER REFERENCES kelas (id));",
        "DROP TABLE siswa;",
        dependencies="20250101_000100_create_kelas.sql",
    )
    mset = discover(d.migrations, d.rollback)
    states = {m.filename: m.state for m in status(b, mset).migrations}
    assert states["20250101_000100_create_kelas.sql"] is MigrationState.MISSING
    assert states["20250101_000400_create_siswa.sql"] is MigrationState.PENDING
    assert _up(b, d) == ["20250101_000400_create_siswa.sql"]
    assert "siswa" in b.table_names()

    d.add(
        "20250101_000500", "typo", "CREATE TABLE typo (id INTEGER);", dependencies="20250101_000099"
    )
    with pytest.raises(MigrationFileError, match=r"000500_typo\.sql:1: unknown dependency"):
        _up(b, d)
    assert "typo" not in b.table_names()
    b.close()


def _t2_after_t1_and_t3(db_target: DbTarget, d: MigrationDirs) -> Backend:
    """t1 and t3 applied, then t2 (a version between them) added: pending out of order."""
    for day in (1, 3):
        d.add(
            f"2025010{day}_000100",
            f"t{day}",
            f"CREATE TABLE t{day} (x INTEGER);",
            f"DROP TABLE t{day};",
        )
    b = db_target.open(d)
    _up(b, d)
    d.add("20250102_000100", "t2", "CREATE TABLE t2 (x INTEGER);", "DROP TABLE t2;")
    return b


def test_rollback_names_a_migration_applied_out_of_order_that_stays(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """A branch merged with a version older than the head is applied out of order (a note);
    a later `rollback` goes by version, so "undo the last deploy" undoes main's newest and
    keeps the branch's: the plan says so before anything is asked."""
    from malnu_tui.engine.preflight import preflight_rollback

    d = mdirs
    b = _t2_after_t1_and_t3(db_target, d)
    mset = discover(d.migrations, d.rollback)
    assert any("applied out of order" in n for n in plan_up(b, mset).steps[0].notes)
    # `rollback --to` the pending t2 undoes t3, as asked, and says t2 stays pending (the
    # database is then not "at" t2; it said nothing): a notice, not a refusal.
    pf = preflight_rollback(b, db_target.target(d), mset, to="20250102000100")
    assert [s.filename for s in pf.rows] == ["20250103_000100_t3.sql"] and pf.ok
    assert [p.describe() for p in pf.notices] == [
        "--to 20250102000100: 20250102_000100_t2.sql is pending, not applied: the rollback "
        "undoes the migrations newer than it and leaves it pending (`up --to 20250102_000100` "
        "applies it afterwards)"
    ]
    _up(b, d)
    for day, filename in ((1, "t1"), (3, "t3"), (4, "t2")):  # t2 ran a day after t3
        version = "20250102_000100" if filename == "t2" else f"2025010{day}_000100"
        sql = (
            f"UPDATE migrations SET executed_at = '2025-01-0{day} 08:00:00' "
            f"WHERE filename = '{version}_{filename}.sql'"
        )
        b.query(sql) if db_target.kind == "d1" else b.conn.execute(sql)  # type: ignore[attr-defined]
    pf = preflight_rollback(b, db_target.target(d), mset)
    assert [s.filename for s in pf.rows] == ["20250103_000100_t3.sql"]
    notes = [p.describe() for p in pf.notices]
    assert any(
        n.startswith("20250102_000100_t2.sql ran at 2025-01-04 08:00:00") and "--steps 2" in n
        for n in notes
    ), notes
    assert pf.ok  # a notice, not a refusal
    assert not any(
        "out of order" in p.describe()
        for p in preflight_rollback(b, db_target.target(d), mset, steps=2).problems
    )
    b.close()


@pytest.mark.parametrize("kind", ["sqlite", "d1"])  # PostgreSQL's TIMESTAMP drops an offset
def test_a_tracking_time_hand_edited_with_its_offset_is_ordered_by_its_utc_time(
    kind: str, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """An operator in WIB corrected `executed_at` by hand with its offset
    (`2025-01-03T15:00:00+07:00`, 08:00 UTC) beside the tool's UTC times: compared as text,
    15:00 came after a migration applied out of order at 09:00 UTC, so the rollback's plan
    did not name it (and named one that ran before it). Times are compared in UTC."""
    from malnu_tui.engine.preflight import preflight_rollback

    db_target = fresh_db(kind)
    d = mdirs
    b = _t2_after_t1_and_t3(db_target, d)
    _up(b, d)
    mset = discover(d.migrations, d.rollback)
    for name, at in (
        ("20250101_000100_t1", "2025-01-03T14:00:00+07:00"),  # 07:00 UTC: before t3
        ("20250103_000100_t3", "2025-01-03T15:00:00+07:00"),  # 08:00 UTC
        ("20250102_000100_t2", "2025-01-03 09:00:00"),  # an hour after t3
    ):
        sql = f"UPDATE migrations SET executed_at = '{at}' WHERE filename = '{name}.sql'"
        b.query(sql) if db_target.kind == "d1" else b.conn.execute(sql)  # type: ignore[attr-defined]
    pf = preflight_rollback(b, db_target.target(d), mset)
    assert [s.filename for s in pf.rows] == ["20250103_000100_t3.sql"]
    notes = [p.describe() for p in pf.notices if "out of order" in p.describe()]
    assert len(notes) == 1 and notes[0].startswith("20250102_000100_t2.sql ran at"), notes
    b.close()


def test_rows_the_guides_runner_wrote_on_a_windows_checkout_are_not_drift(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """The school guide's runner records ``sha256(content)`` of the file as read (CRLF and
    BOM kept): adopted from a Windows checkout, every such row was "drifted" and `up`
    refused until a `repair` of the whole history. The same content is not drift; an edit
    still is, and a template's placeholder checksum too."""
    import hashlib

    d = mdirs
    d.add("20250101_000100", "create_kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);")
    d.add("20250101_000200", "create_mapel", "CREATE TABLE mapel (id INTEGER PRIMARY KEY);")
    d.add("20250101_000300", "create_guru", "CREATE TABLE guru (id INTEGER PRIMARY KEY);")
    for p in d.migrations.iterdir():  # a Windows checkout, saved by Notepad
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes().replace(b"\n", b"\r\n"))
    b = db_target.open(d)
    runner = {  # what the guide's runner recorded, and a row from the template's own INSERT
        "20250101_000100_create_kelas.sql": "kelas",
        "20250101_000200_create_mapel.sql": "mapel",
    }
    for name, table in runner.items():
        raw = (d.migrations / name).read_bytes()
        checksum = hashlib.sha256(raw).hexdigest() if table == "kelas" else "checksum_hash"
        for sql in (
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)",
            f"INSERT INTO migrations (filename, checksum) VALUES ('{name}', '{checksum}')",
        ):
            b.query(sql) if db_target.kind == "d1" else b.conn.execute(sql)  # type: ignore[attr-defined]
    mset = discover(d.migrations, d.rollback)
    got = {m.filename: m.state for m in status(b, mset).migrations}
    assert got == {
        "20250101_000100_create_kelas.sql": MigrationState.APPLIED,
        "20250101_000200_create_mapel.sql": MigrationState.DRIFTED,  # 'checksum_hash'
        "20250101_000300_create_guru.sql": MigrationState.PENDING,
    }
    kelas = d.migrations / "20250101_000100_create_kelas.sql"
    kelas.write_bytes(kelas.read_bytes().replace(b"kelas (id", b"kelas (kode"))
    drifted = verify(b, discover(d.migrations, d.rollback)).drifted
    assert [m.filename for m in drifted] == [kelas.name, "20250101_000200_create_mapel.sql"]
    b.close()


def test_clear_failed_takes_a_version_as_every_command_does(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.migrate import MigrationFailed, clear_failed

    d = mdirs
    d.add("20250101_000100", "bad", "INSERT INTO nowhere VALUES (1);")
    b = db_target.open(d)
    with pytest.raises(MigrationFailed):
        _up(b, d)
    with pytest.raises(ConfigError, match="no tracking row for 20250101_000900"):
        clear_failed(b, "20250101_000900")
    assert clear_failed(b, "20250101000100").filename == "20250101_000100_bad.sql"
    assert b.fetch_records() == []
    assert b.read_audit(action="clear-failed")[0].object == "20250101_000100_bad.sql"
    b.close()


def test_hidden_files_in_the_directories_are_not_migrations(mdirs: MigrationDirs) -> None:
    """An emacs lock (a dangling symlink, while the file is being edited on the server) and
    macOS's AppleDouble files (copied from a Mac) stopped every command, `status` included."""
    d = mdirs
    d.add(
        "20250101_000100", "create_kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;"
    )
    (d.migrations / ".#20250101_000100_create_kelas.sql").symlink_to("root@vm.4242:1733470000")
    (d.migrations / "._20250101_000100_create_kelas.sql").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (d.rollback / "._20250101_000100_undo_create_kelas.sql").write_bytes(b"\x00\x05\x16\x07")
    mset = discover(d.migrations, d.rollback)
    assert [m.filename for m in mset.migrations] == ["20250101_000100_create_kelas.sql"]
    assert mset.migrations[0].rollback is not None and not mset.warnings


def test_repair_forgets_a_missing_row_only_when_it_is_named(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """A row whose file is gone (the template's placeholder name recorded by its own
    INSERT run through `wrangler d1 execute --file`, or an archived file) stayed `missing` for
    good: `verify` exit 1 and `check` CRITICAL, with raw SQL the only way out."""
    d = mdirs
    d.add(
        "20250101_000100", "create_kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;"
    )
    b, mset = _with_placeholder_row(db_target, d)
    assert repair(b, mset) == []  # never without being named
    with pytest.raises(MissingRollback) as err:  # it is the newest "applied": rollback's first
        _down(b, d)
    assert err.value.hint and "forget its row with `malnu-tui repair FILE`" in err.value.hint
    assert repair(b, mset, ["20251124_120500"]) == ["20251124_120500_migration_name.sql"]
    assert verify(b, mset).ok
    assert [r.filename for r in b.fetch_records()] == ["20250101_000100_create_kelas.sql"]
    audit = b.read_audit(action="repair")[0]
    assert audit.detail.startswith("forgot 20251124_120500_migration_name.sql: applied, its file")
    assert '"checksum": "checksum_hash"' in audit.detail  # the before-image
    b.close()


def _with_placeholder_row(db_target: DbTarget, d: MigrationDirs) -> tuple[Any, MigrationSet]:
    """``d`` applied, then the template's placeholder tracking row inserted by hand (its file
    never existed): the open backend and the set, the row reported missing."""
    b = db_target.open(d)
    _up(b, d)
    sql = (
        "INSERT INTO migrations (filename, checksum) "
        "VALUES ('20251124_120500_migration_name.sql', 'checksum_hash')"
    )
    b.query(sql) if db_target.kind == "d1" else b.conn.execute(sql)
    mset = discover(d.migrations, d.rollback)
    assert [m.filename for m in verify(b, mset).missing] == ["20251124_120500_migration_name.sql"]
    return b, mset


def test_repair_forgets_the_placeholder_row_beside_the_file_of_its_version(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """README "The CLI": `repair 20251124_120500_migration_name.sql` forgets the template's
    placeholder row. Beside the file it was run from (the same version,
    20251124_120500_create_users_table.sql) the name was taken for that file: "…
    create_users_table.sql has not drifted; nothing to repair", exit 2, the row kept."""
    d = mdirs
    d.add(
        "20251124_120500",
        "create_users_table",
        "CREATE TABLE users (id INTEGER);",
        "DROP TABLE users;",
    )
    b, mset = _with_placeholder_row(db_target, d)
    assert repair(b, mset, ["20251124_120500_migration_name.sql"]) == [
        "20251124_120500_migration_name.sql"
    ]
    assert verify(b, mset).ok
    assert [r.filename for r in b.fetch_records()] == ["20251124_120500_create_users_table.sql"]
    b.close()


def test_create_names_the_new_file_after_the_newest(mdirs: MigrationDirs) -> None:
    """Two `create`s in one second (a script): the second was refused ("wait a second"). A
    set whose newest file was named by a clock ahead of UTC (WIB, typed by hand, in
    Supabase's form): the new file sorted before it and ran out of order."""
    from datetime import UTC, datetime

    from malnu_tui.engine.migrate import create_migration

    d = mdirs
    now = datetime(2025, 11, 24, 5, 0, 0, tzinfo=UTC)
    dirs = (d.migrations, d.rollback)
    first, _ = create_migration(dirs, "add nisn", now=now)
    second, second_rb = create_migration(dirs, "add nisn index", now=now)
    assert (first.name, second.name) == (
        "20251124_050000_add_nisn.sql",
        "20251124_050001_add_nisn_index.sql",
    )
    assert second_rb.name == "20251124_050001_undo_add_nisn_index.sql"
    (d.migrations / "20251124120000_wib.sql").write_text("SELECT 1;\n")  # 12:00 WIB is 05:00 UTC
    third, _ = create_migration(dirs, "add kelas", now=now)
    assert third.name == "20251124_120001_add_kelas.sql"
    assert [m.filename for m in discover(d.migrations, d.rollback).migrations][-1] == third.name


def test_a_dependency_named_by_its_migration_name_alone(mdirs: MigrationDirs) -> None:
    """`-- Dependencies: create_kelas` (the name as the guide's directory listing shows it,
    without its version) was "unknown dependency" and stopped every command; it names the one
    file of that name. A name two files share stays an error."""
    d = mdirs
    d.add("20250101_000100", "create_kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);")
    d.add(
        "20250101_000200",
        "create_siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas_id INTEGER REFERENCES kelas (id));",
        dependencies="create_kelas",
    )
    mset = discover(d.migrations, d.rollback)
    assert mset.find("create_kelas").filename == "20250101_000100_create_kelas.sql"
    d.add("20250101_000300", "add_index", "CREATE INDEX a ON kelas (id);")
    d.add("20250101_000400", "add_index", "CREATE INDEX b ON siswa (id);")
    d.add("20250101_000500", "later", "SELECT 1;", dependencies="add_index")
    with pytest.raises(MigrationFileError, match=r"000500_later\.sql:1: unknown dependency"):
        discover(d.migrations, d.rollback)
    d.add("20250101_000500", "later", "SELECT 1;", dependencies="later")
    with pytest.raises(MigrationFileError, match="dependency 'later' is this migration itself"):
        discover(d.migrations, d.rollback)


def test_another_frameworks_migrations_table_is_written_as_the_file_says(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """The school's Laravel app keeps its own `public.migrations` (migration, batch) and the
    tool's tables live in `schema = "malnu"`: a migration that marks a Laravel migration as
    run writes that table; only statements naming the tracking key (`filename`) are the
    tool's to skip."""
    import psycopg

    db = fresh_db("postgresql")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.migrations (id serial PRIMARY KEY, migration text, batch int)"
        )
        conn.execute("INSERT INTO public.migrations (migration, batch) VALUES ('2019_old', 1)")
    d = mdirs
    d.add(
        "20250101_000100",
        "laravel_mark",
        """
        INSERT INTO public.migrations (migration, batch) VALUES ('2025_01_01_kelas', 2);
        DELETE FROM public.migrations WHERE migration = '2019_old';
        INSERT INTO migrations (filename, checksum) VALUES ('x.sql', 'checksum_hash');
        """,
    )
    b = db.open(d, schema="malnu")
    mset = discover(d.migrations, d.rollback, "postgresql")
    plan = plan_up(b, mset)
    assert [st.line for st in plan.steps[0].statements] == [1, 2]
    apply_plan(b, mset, plan)
    with psycopg.connect(db.url) as conn:
        laravel = conn.execute("SELECT migration, batch FROM public.migrations").fetchall()
        tool = conn.execute("SELECT filename FROM malnu.migrations").fetchall()
    assert laravel == [("2025_01_01_kelas", 2)]
    assert tool == [("20250101_000100_laravel_mark.sql",)]
    b.close()


def test_a_new_file_reusing_an_applied_version_is_held_and_explained(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """The version of an applied migration whose file is gone, on a file of another name and
    content: renamed and edited, or a new migration given a used version. Neither may run
    unseen; the warning names both ways out."""
    d = mdirs
    _seed_set(d)
    b = db_target.open(d)
    _up(b, d)
    (d.migrations / "20250101_000200_seed_kelas.sql").unlink()
    d.add("20250101_000200", "add_wali_kelas", "ALTER TABLE kelas ADD COLUMN wali TEXT;")
    report = status(b, discover(d.migrations, d.rollback))
    warning = next(w for w in report.warnings if w.startswith("20250101_000200_add_wali_kelas"))
    assert "has the version of 20250101_000200_seed_kelas.sql" in warning
    assert "give it a version of its own" in warning
    with pytest.raises(ChecksumDrift):
        _up(b, d)
    b.close()


def test_a_golang_migrate_down_file_among_the_migrations_is_named(mdirs: MigrationDirs) -> None:
    """golang-migrate writes `<version>_<name>.up.sql` and `.down.sql` side by side; copied
    into migrations/, the down file was "duplicate version" (or, alone, a migration that
    drops what it should create)."""
    d = mdirs
    (d.migrations / "20240101000000_create_users.up.sql").write_text(
        "CREATE TABLE users (id int);\n"
    )
    (d.migrations / "20240101000000_create_users.down.sql").write_text("DROP TABLE users;\n")
    with pytest.raises(
        MigrationFileError, match=r"golang-migrate.*20240101_000000_create_users\.sql"
    ):
        discover(d.migrations, d.rollback)


def test_a_failed_migration_fixed_and_renamed_replaces_its_failed_row(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """A retry under the same name updates the failed row; one whose fix also renamed the
    file left the old failed row for good beside the applied migration (`check` CRITICAL)."""
    from malnu_tui.engine.migrate import MigrationFailed

    d = mdirs
    _seed_set(d)
    bad = d.add("20250101_000300", "index_kelas", "CREATE INDEX kelas_nama ON kelas (namaa);")
    b = db_target.open(d)
    with pytest.raises(MigrationFailed):
        _up(b, d)
    bad.unlink()
    d.add("20250101_000300", "index_kelas_nama", "CREATE INDEX kelas_nama ON kelas (nama);")
    report = status(b, discover(d.migrations, d.rollback))
    assert any(w.startswith("20250101_000300_index_kelas.sql failed") for w in report.warnings)
    assert _up(b, d) == ["20250101_000300_index_kelas_nama.sql"]
    recs = {r.filename: r.success for r in b.fetch_records()}
    assert "20250101_000300_index_kelas.sql" not in recs
    assert recs["20250101_000300_index_kelas_nama.sql"] is True
    audit = b.read_audit(action="clear-failed")[0]
    assert audit.object == "20250101_000300_index_kelas.sql"
    assert audit.detail.startswith("superseded: 20250101_000300_index_kelas_nama.sql")
    b.close()


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_rename_repaired_is_kept_in_step_in_wranglers_history(
    kind: str, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """`up` keeps wrangler's `d1_migrations` in step; a rename accepted by `repair` left the
    old name there, and wrangler on the same directory took the renamed file for new."""
    db = fresh_db(kind)
    d = mdirs
    _seed_set(d)
    b = db.open(d)
    create = (
        "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    b.query(create) if kind == "d1" else b.conn.execute(create)  # type: ignore[attr-defined]
    _up(b, d)
    old = d.migrations / "20250101_000200_seed_kelas.sql"
    old.rename(old.with_name("20250101_000200_seed_data_kelas.sql"))
    repair(b, discover(d.migrations, d.rollback))
    names = "SELECT name FROM d1_migrations ORDER BY name"
    rows = b.query(names) if kind == "d1" else b.conn.execute(names).fetchall()  # type: ignore[attr-defined]
    got = [r["name"] if kind == "d1" else r[0] for r in rows]
    assert got == ["20250101_000100_create_kelas.sql", "20250101_000200_seed_data_kelas.sql"]
    b.close()


GUIDE_TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY,
    filename TEXT NOT NULL UNIQUE,
    checksum TEXT NOT NULL,
    executed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    execution_time_ms INTEGER,
    success BOOLEAN DEFAULT TRUE,
    error_message TEXT
);
"""


def test_the_guides_tracking_table_as_a_first_migration_rolls_back(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """The guide's "Migration Metadata" DDL written as the first migration, its rollback
    `DROP TABLE IF EXISTS migrations`: rolling it back dropped the tool's own table in the
    unit that then removes its row (a traceback on SQLite). The tool keeps that table; a file
    that renames it anyway fails with one line, all of it rolled back."""
    from malnu_tui.engine.errors import MalnuError

    d = mdirs
    d.add(
        "20251124_120000",
        "create_migrations_table",
        GUIDE_TRACKING_DDL,
        "DROP TABLE IF EXISTS migrations;",
    )
    d.add(
        "20251124_120500",
        "create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);",
        "DROP TABLE users;",
    )
    b = db_target.open(d)
    mset = discover(d.migrations, d.rollback)
    plan = plan_up(b, mset)
    notes = " ".join(plan.steps[0].notes)
    assert "its CREATE/DROP TABLE migrations (line 1) not run" in notes
    assert "nothing left to run: a no-op" in notes and "holds only comments" not in notes
    apply_plan(b, mset, plan)
    assert _down(b, d, steps=2) == [
        "20251124_120500_create_users.sql",
        "20251124_120000_create_migrations_table.sql",
    ]
    assert b.fetch_records() == [] and "users" not in b.table_names()
    assert len(_up(b, d)) == 2
    d.add("20251124_121000", "rename_it", "ALTER TABLE migrations RENAME TO old_migrations;")
    with pytest.raises(MalnuError, match="ran, but its tracking row could not be written"):
        _up(b, d)
    assert "old_migrations" not in b.table_names()
    recs = {r.filename: r.success for r in b.fetch_records()}
    assert recs.get("20251124_120500_create_users.sql") is True
    assert recs.get("20251124_121000_rename_it.sql") is not True
    b.close()


def test_a_baseline_dumped_with_the_tools_tables_says_so(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """`sqlite3 prod.db .dump > migrations/…_baseline.sql` holds the tool's own tables: the
    tracking table's CREATE and rows are skipped, the audit table's CREATE fails; the hint
    said "fix the file"."""
    from malnu_tui.engine.migrate import MigrationFailed

    d = mdirs
    d.add(
        "20250201_000000",
        "baseline",
        """
        CREATE TABLE kelas (id INTEGER PRIMARY KEY);
        CREATE TABLE malnu_audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
        """,
    )
    b = db_target.open(d)
    with pytest.raises(MigrationFailed) as err:
        _up(b, d)
    assert err.value.hint and "creates the tool's own tables" in err.value.hint
    assert "kelas" not in b.table_names()
    b.close()


def test_a_file_saved_as_utf16_is_named_so(mdirs: MigrationDirs) -> None:
    """Windows PowerShell's `>` and Notepad's "Unicode" write UTF-16: it was "not UTF-8 (byte
    0xff)", which does not say what to do."""
    d = mdirs
    (d.migrations / "20250101_000100_kelas.sql").write_bytes(
        "CREATE TABLE kelas (id INTEGER);\r\n".encode("utf-16")
    )
    with pytest.raises(MigrationFileError, match=r"kelas\.sql:1: saved as UTF-16, not UTF-8"):
        discover(d.migrations, d.rollback)


def test_create_in_a_supabase_project_names_files_as_the_supabase_cli_reads_them(
    tmp_path: Path,
) -> None:
    """In `supabase/migrations` (or a directory of 14-digit names only) `create` wrote
    `20251124_050000_x.sql`, which the Supabase CLI reads as version `20251124`."""
    from datetime import UTC, datetime

    from malnu_tui.engine.migrate import create_migration

    now = datetime(2025, 11, 24, 5, 0, 0, tzinfo=UTC)
    supa = (tmp_path / "supabase" / "migrations", tmp_path / "supabase" / "rollback")
    mig, rb = create_migration(supa, "add profiles", now=now)
    assert (mig.name, rb.name) == (
        "20251124050000_add_profiles.sql",
        "20251124050000_undo_add_profiles.sql",
    )
    other = (tmp_path / "db" / "migrations", tmp_path / "db" / "rollback")
    other[0].mkdir(parents=True)
    (other[0] / "20240101000000_init.sql").write_text("SELECT 1;\n")
    assert create_migration(other, "next", now=now)[0].name == "20251124050000_next.sql"
    plain = (tmp_path / "migrations", tmp_path / "rollback")
    assert create_migration(plain, "next", now=now)[0].name == "20251124_050000_next.sql"


def test_a_row_without_a_version_is_no_head(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    """A row another runner wrote under a name with no version (`init.sql`) sorted after every
    version: it was the head, every new file "older than the head: applied out of order", and
    the first thing `rollback` picked (then refused: no rollback file)."""
    d = mdirs
    _seed_set(d)
    b = db_target.open(d)
    _up(b, d)
    sql = "INSERT INTO migrations (filename, checksum) VALUES ('init.sql', 'x')"
    b.query(sql) if db_target.kind == "d1" else b.conn.execute(sql)  # type: ignore[attr-defined]
    d.add(
        "20250101_000300",
        "index_kelas",
        "CREATE INDEX kelas_nama ON kelas (nama);",
        "DROP INDEX kelas_nama;",
    )
    mset = discover(d.migrations, d.rollback)
    report = status(b, mset)
    assert report.head == "20250101_000200"
    assert not any("out of order" in n for s in plan_up(b, mset).steps for n in s.notes)
    _up(b, d)
    assert _down(b, d) == ["20250101_000300_index_kelas.sql"]
    b.close()


def test_an_operators_script_in_the_rollback_directory_is_a_warning(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """`rollback/emergency_rollback_all.sql` (an operator's own script, written at 2 a.m.)
    stopped every command, `status` and `rollback` included, with "bad rollback file name"."""
    d = mdirs
    _seed_set(d)
    (d.rollback / "emergency_rollback_all.sql").write_text("DROP TABLE kelas;\n")
    b = db_target.open(d)
    _up(b, d)
    mset = discover(d.migrations, d.rollback)
    assert any("emergency_rollback_all.sql: not a rollback file name" in w for w in mset.warnings)
    assert _down(b, d) == ["20250101_000200_seed_kelas.sql"]
    b.close()


def test_create_refuses_what_it_cannot_write_in_one_line(tmp_path: Path) -> None:
    """A name past the file system's 255 bytes and a rollback directory that cannot be made
    were tracebacks (the latter after the migration file was written: half a pair); a name
    holding a line break wrote its second line into the new file as SQL."""
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.migrate import create_migration

    mig_dir, rb_dir = tmp_path / "migrations", tmp_path / "rollback"
    with pytest.raises(ConfigError, match="file systems allow 255: shorten it"):
        create_migration((mig_dir, rb_dir), "tambah kolom " * 30)
    mig, _rb = create_migration((mig_dir, rb_dir), "kolom baru\nDROP TABLE users;")
    assert discover(mig_dir, rb_dir).migrations[0].statements() == []  # comments only
    blocked = tmp_path / "not_a_dir"
    blocked.write_text("")
    with pytest.raises(ConfigError, match="cannot write"):
        create_migration((mig_dir, blocked / "rollback"), "lagi")
    assert [p.name for p in mig_dir.iterdir()] == [mig.name]  # no half pair left
