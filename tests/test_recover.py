"""Point-in-time recovery (pgBackRest's pattern: mark a row before each target time, recover,
assert the marks and the schema of that time), on real SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from malnu_tui.engine.apply import MigrationFailed
from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import (
    BackupError,
    create_backup,
    list_backups,
    load_manifest,
    parse_when,
    plan_recover,
    restore_backup,
    run_recover,
)
from malnu_tui.engine.backup.store import RecoverTooEarly
from malnu_tui.engine.clock import local_time_line
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ChecksumDrift, ConfigError
from malnu_tui.engine.migrate import MigrationState, apply_plan, plan_up, status
from malnu_tui.engine.safety import backup_taker, record_skipped_backup
from tests.backup_support import V1, V2, V3, execute, make_target, mset_of, open_fresh, up
from tests.fixtures_core import MigrationDirs, next_second


def _marks(backend: Backend) -> set[str]:
    conn = getattr(backend, "conn")  # noqa: B009
    return {r[0] for r in conn.execute("SELECT email FROM users").fetchall()}


def _mark(backend: Backend, n: int, name: str) -> None:
    execute(backend, "INSERT INTO users (id, email) VALUES (?, ?)", (n, name))


def _tick() -> datetime:
    """A time strictly between what came before and what comes after (audit: 1 s resolution)."""
    next_second()
    when = datetime.now(UTC)
    next_second()
    return when


def test_recover_to_a_time_between_migrations(db: tuple[Target, Backend]) -> None:
    target, backend = db
    mset = mset_of(target)
    up(backend, target, to=V1)
    _mark(backend, 1, "m1")
    b0 = create_backup(backend, target, reason="scheduled")
    next_second()
    # V2 without a safety backup (recorded in the audit): recovery must replay it from the trail.
    record_skipped_backup(backend, "up")
    apply_plan(backend, mset, plan_up(backend, mset, V2))
    _mark(backend, 2, "m2")  # written after b0 and before t1: not recoverable to t1
    t1 = _tick()
    schema_t1 = backend.schema_fingerprint()
    # V3 with the default safety backup (pre-up, taken after t1, holding m1 and m2).
    apply_plan(backend, mset, plan_up(backend, mset), safety_backup=backup_taker(backend, target))
    _mark(backend, 3, "m3")
    t2 = _tick()
    schema_t2 = backend.schema_fingerprint()
    _mark(backend, 4, "m4")

    plan = plan_recover(backend, target, mset, t1)
    assert plan.backup.id == b0.id
    assert plan.reapply == (mset.find(V2).filename,) and plan.rollback == ()
    assert plan.lost_seconds > 1 and "NOT recovered" in "\n".join(plan.describe())
    assert _marks(backend) == {"m1", "m2", "m3", "m4"}, "planning changes nothing"

    result = run_recover(backend, target, mset, plan)
    assert backend.schema_fingerprint() == schema_t1
    assert _marks(backend) == {"m1"}
    states = [s.state for s in status(backend, mset).migrations]
    assert states == [MigrationState.APPLIED, MigrationState.APPLIED, MigrationState.PENDING]
    assert result.reapplied == (mset.find(V2).filename,)

    plan2 = plan_recover(backend, target, mset, t2)
    assert plan2.backup.reason == "pre-up" and plan2.reapply == (mset.find(V3).filename,)
    run_recover(backend, target, mset, plan2)
    assert backend.schema_fingerprint() == schema_t2
    assert _marks(backend) == {"m1", "m2"}
    assert status(backend, mset).head == V3
    audit = backend.read_audit(limit=100, action="recover")
    assert [e.outcome for e in audit] == ["ok", "ok"]
    assert any(b.reason == "pre-recover" for b in _backups(target))


def test_recover_to_a_time_after_a_restore_starts_from_the_restored_backup(
    db: tuple[Target, Backend],
) -> None:
    """After `backup restore A` (taken before a bad deploy), the app kept writing. `recover
    --to` a time after that restore chose the newest backup before the time: the restore's
    own pre-restore backup, holding the bad deploy's rows, which the restore had thrown away.
    It brought them back and said only that 3 s of changes were lost."""
    target, backend = db
    mset = mset_of(target)
    up(backend, target, to=V1)
    _mark(backend, 1, "good")
    a = create_backup(backend, target)
    _mark(backend, 2, "bad deploy")
    restored = restore_backup(backend, target, a.id)
    # V2 applied after the restore, without a backup: replayed from the restore on.
    record_skipped_backup(backend, "up")
    apply_plan(backend, mset, plan_up(backend, mset, V2))
    t = _tick()
    _mark(backend, 3, "later")

    plan = plan_recover(backend, target, mset, t)
    assert plan.backup.id == a.id, plan.describe()
    assert plan.reapply == (mset.find(V2).filename,) and plan.rollback == ()
    assert (restored.pre_restore_id, f"backup {a.id} was restored over its data") in [
        (bid, why.split(" at ")[0]) for bid, why in plan.skipped_backups
    ]
    assert f"between the restore of backup {a.id} (" in plan.not_recovered
    assert plan.lost_seconds < (t - a.created).total_seconds()
    run_recover(backend, target, mset, plan)
    assert _marks(backend) == {"good"}
    assert status(backend, mset).head == V2


def test_recover_after_a_restore_whose_backup_is_gone_is_refused(tmp_path: Path) -> None:
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'g.db'}")
    backend = open_fresh(target)
    try:
        up(backend, target)
        a = create_backup(backend, target)
        _mark(backend, 2, "bad deploy")
        pre = restore_backup(backend, target, a.id).pre_restore_id
        (target.backup_dir / f"{a.id}.json").unlink()
        with pytest.raises(BackupError) as err:
            plan_recover(backend, target, mset_of(target), _tick())
        assert f"restoring {pre} would bring back the data that restore replaced" in str(err.value)
    finally:
        backend.close()


def test_recover_refuses_to_re_apply_a_file_edited_since_it_ran(tmp_path: Path) -> None:
    """`up` refuses an applied file edited since it ran; recover re-applied it as edited
    (a table the database never had at TIME), and its new tracking row hid the drift."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'e.db'}")
    backend = open_fresh(target)
    try:
        up(backend, target, to=V2)
        create_backup(backend, target)
        next_second()
        record_skipped_backup(backend, "up")
        up(backend, target)
        t = _tick()
        edited = mset_of(target).find(V3).path
        edited.write_text(edited.read_text() + "CREATE TABLE sneaky (id INTEGER);\n")
        with pytest.raises(ChecksumDrift) as err:
            plan_recover(backend, target, mset_of(target), t)
        assert err.value.filenames == [edited.name]
        assert err.value.hint is not None and "recover would re-apply them" in err.value.hint
        assert "sneaky" not in backend.table_names()
    finally:
        backend.close()


def _backups(target: Target) -> list[object]:
    from malnu_tui.engine.backup import list_backups

    return list(list_backups(target.backup_dir))


def test_recover_rolls_back_what_was_undone_without_a_backup(tmp_path: Path) -> None:
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    backend = open_fresh(target)
    try:
        mset = mset_of(target)
        up(backend, target)
        b = create_backup(backend, target)
        next_second()
        from malnu_tui.engine.migrate import plan_rollback

        record_skipped_backup(backend, "rollback")
        apply_plan(backend, mset, plan_rollback(backend, mset))
        t = _tick()
        up(backend, target)
        plan = plan_recover(backend, target, mset, t)
        assert plan.backup.id == b.id and plan.rollback == (mset.find(V3).filename,)
        run_recover(backend, target, mset, plan)
        assert status(backend, mset).head == V2
    finally:
        backend.close()


def test_recover_needs_a_backup_before_the_time(tmp_path: Path) -> None:
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    backend = open_fresh(target)
    try:
        before = datetime.now(UTC) - timedelta(hours=1)
        create_backup(backend, target)
        with pytest.raises(RecoverTooEarly, match="is before the earliest backup") as err:
            plan_recover(backend, target, mset_of(target), before)
        first = min(m.created_at for m in list_backups(target.backup_dir))
        assert str(err.value).endswith(f"(taken {first}): nothing was done")
        assert err.value.exit_code == 2  # the operator's input, as a time in the future
        with pytest.raises(ConfigError, match="future"):
            plan_recover(backend, target, mset_of(target), datetime.now(UTC) + timedelta(hours=1))
    finally:
        backend.close()


def test_the_plan_gives_the_time_on_this_machines_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A naive --to is UTC (contract): an operator in WIB who typed local time got a plan
    naming only the UTC time, and restored 7 hours off. The plan (CLI and console show its
    lines) now gives the local time too."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'l.db'}")
    backend = open_fresh(target)
    try:
        create_backup(backend, target)
        when = parse_when(datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "))
        for zone, line in (("Asia/Jakarta", "here (WIB, UTC+07:00"), ("UTC", None)):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            lines = plan_recover(backend, target, mset_of(target), when).describe()
            local = when.astimezone()
            assert [x for x in lines if "here (" in x] == (
                [
                    f"That is {local:%Y-%m-%d %H:%M:%S} {line}, this machine's local time); "
                    "a time given without a zone is read as UTC."
                ]
                if line
                else []
            ), lines
        # A machine kept in UTC: 08:00 typed, meaning WIB, is read 08:00 UTC, 15:00 WIB; the
        # plan said `…T08:00:00+00:00` and nothing else.
        # (TZ is UTC here, as the loop left it.)
        wib, wita, wit = (when + timedelta(hours=h) for h in (7, 8, 9))
        said = f"That is {wib:%Y-%m-%d %H:%M:%S} WIB ({wita:%H:%M:%S} WITA, {wit:%H:%M:%S} WIT)"
        lines = plan_recover(backend, target, mset_of(target), when).describe()
        if wit.date() == wib.date():  # (else the next case's)
            assert lines[1].startswith(said + "; this machine's clock is UTC"), lines
        # A night's deploy: 00:30 WITA and 01:30 WIT are of the day after 23:30 WIB's, and
        # were said without their date (read a day early in Makassar and Jayapura).
        assert local_time_line("2026-12-07T16:30:00+00:00") == (
            "That is 2026-12-07 23:30:00 WIB (2026-12-08 00:30:00 WITA, 2026-12-08 01:30:00 "
            "WIT); this machine's clock is UTC, and a time given without a zone is read as UTC."
        )
        assert local_time_line("2026-12-07T15:30:00+00:00").startswith(  # (WIT's day only)
            "That is 2026-12-07 22:30:00 WIB (23:30:00 WITA, 2026-12-08 00:30:00 WIT);"
        )
    finally:
        monkeypatch.undo()
        time.tzset()
        backend.close()


def test_parse_when() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_when("-2h", now=now) == now - timedelta(hours=2)
    assert parse_when("-1h30m", now=now) == now - timedelta(minutes=90)
    assert parse_when("90s ago", now=now) == now - timedelta(seconds=90)
    assert parse_when("-1d", now=now) == now - timedelta(days=1)
    assert parse_when("2026-11-24T09:30:00Z") == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert parse_when("2026-11-24T16:30:00+07:00") == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert parse_when("2026-11-24 09:30") == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    for bad in ("2h", "yesterday", "-2x"):
        with pytest.raises(ConfigError):
            parse_when(bad, now=now)
    assert parse_when("2026-11-24 14:05:30,5+07:00") == datetime(
        2026, 11, 24, 7, 5, 30, 500000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("2026-11-24 14.05", "14.05 is a fraction of an hour in ISO 8601; write the time with "
         "colons (14:05)"),
        ("2026-11-24T02.30+07:00", "(02:30)"),
        ("2026-11-24 02,30", "(02:30)"),
        ("2026-11-24 14:05.5", "14:05.5 is a fraction of a minute in ISO 8601; write the time "
         "with colons (14:05:SS)"),
    ],
)  # fmt: skip
def test_a_time_written_with_a_dot_is_refused(typed: str, said: str) -> None:
    """Indonesian writes 14:05 as "14.05". Python's fromisoformat read "2026-11-24 02.30" as
    02:00:00.3 and the recover went to half an hour before the time meant, saying nothing."""
    with pytest.raises(ConfigError) as err:
        parse_when(typed)
    assert said in str(err.value) and typed in str(err.value)


def test_a_relative_time_in_capital_m_is_refused() -> None:
    """`-1M` (a month on a Grafana dashboard) was read as one minute ago."""
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_when("-1m", now=now) == now - timedelta(minutes=1)
    assert parse_when("-2H", now=now) == now - timedelta(hours=2)
    for typed in ("-1M", "1M ago", "-1h30M"):
        with pytest.raises(ConfigError, match="M is a month in Grafana, a minute here"):
            parse_when(typed, now=now)


def test_a_time_with_an_indonesian_zone_name_says_its_offset() -> None:
    with pytest.raises(ConfigError) as err:
        parse_when("2026-11-24 14:05 WIB")
    assert str(err.value).endswith(": write WIB as its offset")
    assert err.value.hint is not None and "WIB is +07:00, WITA +08:00, WIT +09:00" in err.value.hint


def test_a_time_in_the_future_says_now_and_the_zone_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator in WIB types the local time of a moment ago; read as UTC it is 7 hours
    ahead. The error only said "is in the future"."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'f.db'}")
    backend = open_fresh(target)
    monkeypatch.setenv("TZ", "Asia/Jakarta")
    time.tzset()
    try:
        now = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
        with pytest.raises(ConfigError) as err:
            plan_recover(backend, target, mset_of(target), parse_when("2026-12-06 13:55"), now=now)
        assert "(it is 2026-12-06 07:00:00 UTC now)" in str(err.value)
        assert err.value.hint is not None and "add its offset (+07:00)" in err.value.hint
    finally:
        monkeypatch.undo()
        time.tzset()
        backend.close()


def test_a_recover_stopped_half_way_says_so_and_how_to_undo_it(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    # The backup holds duplicates the application cleaned up before a UNIQUE index was
    # added: recover restores the backup, then re-applying the index fails. The error said
    # "fix the file and run again" — not that the database had just been put back to an old
    # backup, nor the id of the pre-recover backup that undoes it.
    mdirs.add("20250101_000100", "s", "CREATE TABLE s (nis TEXT);", "DROP TABLE s;")
    mdirs.add(
        "20250101_000200", "uniq", "CREATE UNIQUE INDEX s_nis ON s (nis);", "DROP INDEX s_nis;"
    )
    target = Target("r", f"sqlite:///{tmp_path / 'r.db'}", mdirs.migrations, mdirs.rollback,
                    tmp_path / "backups")  # fmt: skip
    backend = open_fresh(target)
    try:
        mset = mset_of(target)
        apply_plan(backend, mset, plan_up(backend, mset, "20250101_000100"))
        execute(backend, "INSERT INTO s VALUES ('A'), ('A'), ('B')")
        b = create_backup(backend, target)
        execute(backend, "DELETE FROM s WHERE rowid = 2")
        next_second()
        apply_plan(backend, mset, plan_up(backend, mset))
        plan = plan_recover(backend, target, mset, _tick())
        assert plan.backup.id == b.id
        with pytest.raises(MigrationFailed) as info:
            run_recover(backend, target, mset, plan)
        hint = info.value.hint or ""
        assert f"backup {b.id} is restored and 0 of 1 migration(s) re-run" in hint, hint
        undo = hint.split("malnu-tui backup restore ")[1].split(";")[0]
        assert load_manifest(target.backup_dir, undo).reason == "pre-recover"
        assert backend.read_audit(action="recover")[0].outcome == "failed"
    finally:
        backend.close()


def test_a_migration_rolled_back_and_applied_again_edited_is_recovered_as_it_ran(
    tmp_path: Path,
) -> None:
    """The fix of a bad deploy: V3 rolled back, its file corrected, applied again with `up
    --no-backup`. Recover to a time after that restored the backup (V3 as first written) and
    said `No migration to re-apply: the backup has the schema of then`: the schema was the old
    one and `status` called V3 drifted. Now it rolls the backup's V3 back and applies the file;
    where the rollback file changed too (it undoes the new V3, not the backup's), it is
    refused before anything is restored."""
    from malnu_tui.engine.errors import RollbackEdited
    from malnu_tui.engine.migrate import plan_rollback

    v3_fixed = (
        "ALTER TABLE users ADD COLUMN nick TEXT DEFAULT '';\n"
        "CREATE INDEX idx_posts_user ON posts(user_id);\n"
    )
    # (in the backup's second, a fix script run at once: the re-apply's rollback sums were
    # taken for those of the version the backup holds, and the edit was never seen)
    for case in ("migration edited", "rollback edited too", "in the backup's second"):
        target = make_target(tmp_path / case, f"sqlite:///{tmp_path / case / 'c.db'}")
        backend = open_fresh(target)
        try:
            up(backend, target)
            together = case == "in the backup's second"
            if together:
                next_second()  # (room for what follows in one second)
            b = create_backup(backend, target)
            if not together:
                next_second()
            mset = mset_of(target)
            record_skipped_backup(backend, "rollback")
            apply_plan(backend, mset, plan_rollback(backend, mset))
            mset.find(V3).path.write_text(v3_fixed)
            if case != "migration edited":
                undo = next(target.rollback_dir.glob(f"{V3}_*"))
                undo.write_text("DROP INDEX idx_posts_user;\nALTER TABLE users DROP COLUMN n;\n")
            record_skipped_backup(backend, "up")
            up(backend, target)
            t = datetime.now(UTC)  # (the audit's second of that `up`, or after it)
            schema_t = backend.schema_fingerprint()
            mset = mset_of(target)
            if together:
                second = backend.read_audit(limit=1, action="apply")[0].at
                assert second == f"{b.created:%Y-%m-%d %H:%M:%S}", "one second, all"
                with pytest.raises(RollbackEdited) as err:
                    plan_recover(backend, target, mset, t)
                assert f"{V3}_undo.sql" in str(err.value), str(err.value)
                continue
            if case == "rollback edited too":
                with pytest.raises(RollbackEdited) as err:
                    plan_recover(backend, target, mset, t)
                assert f"{V3}_undo.sql" in str(err.value), str(err.value)
                assert len(list_backups(target.backup_dir)) == 1, "nothing was done"
                # Accepted: run as edited, audited as such under the lock (here it fails
                # half-way: it drops a column the backup's version never had).
                plan = plan_recover(backend, target, mset, t, accept_edited_rollback=True)
                with pytest.raises(MigrationFailed):
                    run_recover(backend, target, mset, plan)
                said = [e.outcome for e in backend.read_audit(action="recover")]
                assert said == ["failed", "warning"], said
                continue
            # Its rollback file deleted since: restored as the backup has it, and said.
            undo = next(target.rollback_dir.glob(f"{V3}_*"))
            kept = undo.read_bytes()
            undo.unlink()
            gone = plan_recover(backend, target, mset_of(target), t)
            assert (gone.rollback, gone.reapply) == ((), ()), gone.describe()
            assert any("without a rollback file it stays" in n for n in gone.notes)
            undo.write_bytes(kept)
            plan = plan_recover(backend, target, mset, t)
            v3 = mset.find(V3).filename
            assert plan.backup.id == b.id
            assert (plan.rollback, plan.reapply) == ((v3,), (v3,)), plan.describe()
            assert any(f"{v3} was rolled back and applied again, edited" in n for n in plan.notes)
            run_recover(backend, target, mset, plan)
            assert backend.schema_fingerprint() == schema_t
            states = {s.state for s in status(backend, mset).migrations}
            assert states == {MigrationState.APPLIED}
        finally:
            backend.close()


def test_recover_over_the_first_up_of_an_unrelated_history(tmp_path: Path) -> None:
    """The first `up --unrelated-history` (the app keeps its Alembic history in the same file)
    audits that history as an apply of its table, `alembic_version`: every recover from a
    backup of before it, its own pre-up backup too, was refused, "cannot recover: migrations
    applied by then are not in …: alembic_version"."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'u.db'}")
    backend = open_fresh(target)
    try:
        execute(backend, "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        execute(backend, "INSERT INTO alembic_version VALUES ('eb9562d19265')")
        b = create_backup(backend, target)
        mset = mset_of(target)
        plan = dataclasses.replace(plan_up(backend, mset), unrelated_history=True)
        apply_plan(backend, mset, plan)
        assert backend.read_audit(action="apply")[-1].object == "alembic_version"
        when = datetime.now(UTC)
        recover = plan_recover(backend, target, mset, when)
        assert recover.backup.id == b.id
        assert recover.reapply == tuple(m.filename for m in mset.migrations)
        run_recover(backend, target, mset, recover)
        assert status(backend, mset).head == V3
    finally:
        backend.close()


def test_recover_records_again_what_was_adopted_by_then_without_running_it(
    tmp_path: Path,
) -> None:
    """`adopt` records the migrations another tool (Alembic) ran as applied, without running
    them. Recover to a time after it, from a backup of before, left them out ("No migration
    to re-apply: the backup has the schema of then"): the adoption was undone, and `up` then
    refused (told `--unrelated-history`, it ran them again over their own tables)."""
    from malnu_tui.engine.backends import other_runners
    from malnu_tui.engine.backends.d1.wrangler import adopt

    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    backend = open_fresh(target)
    try:
        execute(backend, "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        execute(backend, "INSERT INTO alembic_version VALUES ('eb9562d19265')")
        execute(backend, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
        b = create_backup(backend, target)
        mset = mset_of(target)
        found = other_runners.plan_adopt(backend, mset, V1)
        assert found is not None
        adopt(backend, found)
        record_skipped_backup(backend, "up")
        up(backend, target, to=V2)
        plan = plan_recover(backend, target, mset, datetime.now(UTC))
        v1, v2 = mset.find(V1).filename, mset.find(V2).filename
        assert plan.backup.id == b.id and (plan.record, plan.reapply) == ((v1,), (v2,))
        assert "3. Record 1 migration(s) adopted by then" in "\n".join(plan.describe())
        result = run_recover(backend, target, mset, plan)
        assert status(backend, mset).head == V2
        assert backend.read_audit(action="adopt")[0].detail.startswith("recorded again by")
        # Said as the re-applied one is (the done line, the console's, the audit row, --json):
        # the done line said "re-applied 1, rolled back 0", the JSON had no word of it.
        said = "re-applied 1, recorded 1 adopted (not run), rolled back 0"
        assert result.counts() == said
        assert f"; {said}; " in backend.read_audit(action="recover")[-1].detail
        doc = result.as_json()
        assert (doc["recorded"], doc["reapplied"]) == ([v1], [v2]), doc
    finally:
        backend.close()


def test_recover_over_an_adopt_of_renamed_wrangler_files_keeps_wranglers_history(
    tmp_path: Path,
) -> None:
    """`adopt` of files renamed from wrangler's ``0001_name.sql`` writes their new names in
    wrangler's ``d1_migrations`` too (wrangler reads the renamed directory). Recover to a time
    after it, from a backup of before, recorded the adoption again but not those names:
    wrangler listed the adopted files as still to apply, and a `wrangler d1 migrations apply`
    (CI, a teammate) would have run them again over their own tables."""
    from malnu_tui.engine.backends.d1.wrangler import adopt, plan_adopt, read_from_backend

    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'w.db'}")
    backend = open_fresh(target)
    try:
        execute(
            backend,
            "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
            "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
        )
        execute(backend, "INSERT INTO d1_migrations (name) VALUES ('0001_create_users.sql')")
        execute(backend, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
        b = create_backup(backend, target)
        mset = mset_of(target)
        history = read_from_backend(backend, "d1_migrations")
        found = plan_adopt(mset, history, backend.fetch_records(), "d1_migrations")
        adopt(backend, found, "d1_migrations")
        record_skipped_backup(backend, "up")
        up(backend, target, to=V2)
        v1, v2 = mset.find(V1).filename, mset.find(V2).filename
        names = {w.name for w in read_from_backend(backend, "d1_migrations")}
        assert names == {"0001_create_users.sql", v1, v2}
        plan = plan_recover(backend, target, mset, datetime.now(UTC))
        assert plan.backup.id == b.id and (plan.record, plan.reapply) == ((v1,), (v2,))
        run_recover(backend, target, mset, plan)
        assert {w.name for w in read_from_backend(backend, "d1_migrations")} == names
    finally:
        backend.close()


def test_recover_to_the_time_of_a_safety_backup_is_that_backup(tmp_path: Path) -> None:
    """Audit times have one-second resolution. Recover to the very time of a pre-up backup
    (`created_at`, as `backup list --json` gives it) re-applied the migration that backup was
    taken for, and to that second as typed (just before the backup) restored an older one and
    re-applied it too; to a pre-restore backup's time it restored what the restore had put in
    place. A backup's own audit row, in that second, fences off what came after it. And after
    a restore in the second of an `up` (a deploy script's smoke test failing at once), that
    `up` was re-applied over the restored backup: the trail is replayed from the restore's row.
    """
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    backend = open_fresh(target)
    try:
        mset = mset_of(target)
        up(backend, target, to=V2)
        older = create_backup(backend, target)
        next_second()
        taker = backup_taker(backend, target)
        apply_plan(backend, mset, plan_up(backend, mset), safety_backup=taker)
        restored = restore_backup(backend, target, older.id)
        pre_up = next(m for m in list_backups(target.backup_dir) if m.reason == "pre-up")
        pre_restore = load_manifest(target.backup_dir, restored.pre_restore_id)
        v3 = backend.read_audit(limit=1, action="apply")[0]
        at = {v3.at, backend.read_audit(limit=1, action="restore")[0].at}
        # (about 0.2 s after the second began; no timing is asserted, only the same second)
        assert at == {pre_up.created.strftime("%Y-%m-%d %H:%M:%S")}, "one second, all"
        plan = plan_recover(backend, target, mset, pre_up.created)
        assert plan.backup.id == pre_up.id and plan.reapply == (), plan.describe()
        typed = parse_when(v3.at)  # "2026-12-07 11:14:50": before the backup, in its second
        plan = plan_recover(backend, target, mset, typed)
        assert plan.backup.id == older.id and plan.reapply == (), plan.describe()
        plan = plan_recover(backend, target, mset, pre_restore.created)
        assert plan.backup.id == pre_restore.id and plan.skipped_backups == (), plan.describe()
        assert plan.reapply == ()
        plan = plan_recover(backend, target, mset, datetime.now(UTC))
        assert plan.backup.id == older.id and plan.reapply == (), plan.describe()
    finally:
        backend.close()


def test_recover_with_no_backup_in_the_store_says_where_they_are(tmp_path: Path) -> None:
    """A target renamed in the config (sekolah → utama) has a store of its new name, its
    backups staying in the old one's: recover said only "no verified backup … at or before
    TIME", hint "pick a later time" (then a hint naming the old store); it now recovers from
    them (owners.stores_beside). An operator running as another user than the backup timer's
    is told where such backups are."""
    old = make_target(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", name="sekolah")
    backend = open_fresh(old)
    try:
        up(backend, old)
        made = create_backup(backend, old)
        renamed = dataclasses.replace(old, name="utama", backup_dir=old.backup_dir.parent / "utama")
        plan = plan_recover(backend, renamed, mset_of(renamed), datetime.now(UTC))
        assert plan.backup.id == made.id and plan.backup.target_name == "sekolah"
        other = dataclasses.replace(renamed, url=f"sqlite:///{tmp_path / 'other.db'}")
        with pytest.raises(BackupError) as err:
            plan_recover(backend, other, mset_of(other), datetime.now(UTC))
        assert "backups made as another user" in (err.value.hint or "")
        # Another database's target of the same name (staging's "sekolah", its own store):
        # the store of this one's backups is never named, to be restored over it.
        staging = dataclasses.replace(
            other, name="sekolah", backup_dir=renamed.backup_dir.parent / "st"
        )
        with pytest.raises(BackupError) as err:
            plan_recover(backend, staging, mset_of(staging), datetime.now(UTC))
        assert str(old.backup_dir) not in (err.value.hint or ""), err.value.hint
        assert "backups made as another user" in (err.value.hint or "")
    finally:
        backend.close()
