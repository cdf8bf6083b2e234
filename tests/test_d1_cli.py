"""The D1 commands as an operator runs them (real processes against the local D1 server)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target


def test_lint_bookmark_time_travel_export_import(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--to", "20250101_000200", "--no-backup").code == 0
    time.sleep(0.01)
    then = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    # lint: only pending files, against the live schema.
    d.add("20250101_000400", "fk_off", "PRAGMA foreign_keys = OFF;\nDROP TABLE users;\n")
    res = run_cli(*base, "d1", "lint", "--json")
    assert res.code == 0, res.err  # warnings only: exit 1 is for error findings
    found = [(f["file"], f["rule"]) for f in json.loads(res.out)["findings"]]
    assert found == [
        ("20250101_000400_fk_off.sql", "D1-PRAGMA-FK"),
    ], "posts references users without ON DELETE: only the pragma is flagged"
    (d.migrations / "20250101_000400_fk_off.sql").unlink()
    assert run_cli(*base, "up", "--no-backup").code == 0

    res = run_cli(*base, "d1", "bookmark", "--at", then)
    assert res.code == 0 and res.out.strip()
    bookmark = res.out.strip()

    dump = tmp_path / "prod.sql"
    res = run_cli(*base, "d1", "export", str(dump), "--json")
    assert res.code == 0, res.err
    exported = json.loads(res.out)
    assert dump.stat().st_mode & 0o777 == 0o600 and exported["size"] == dump.stat().st_size

    # time travel: refused without --yes and no terminal; dry run changes nothing.
    res = run_cli(*base, "d1", "time-travel", "--to", then)
    assert res.code == 2 and "without confirmation" in res.err
    res = run_cli(*base, "d1", "time-travel", "--to", then, "--dry-run")
    assert res.code == 0 and bookmark in res.err
    res = run_cli(*base, "d1", "time-travel", "--to", then, "--yes", "--json")
    assert res.code == 0, res.err
    undo = json.loads(res.out)["previous_bookmark"]
    assert f"--bookmark {undo}" in res.err
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == [
        "applied",
        "applied",
        "pending",
    ]
    # import the export: everything is back.
    res = run_cli(*base, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == ["applied"] * 3
    res = run_cli(*base, "log", "--json")
    actions = [e["action"] for e in json.loads(res.out)]
    assert "import" in actions and "recover" in actions
    assert d1.token not in res.out


def test_d1_commands_refuse_other_kinds(mdirs: MigrationDirs, tmp_path: Path) -> None:
    res = run_cli("--database", f"sqlite:///{tmp_path / 'x.db'}", *mdirs.args(), "d1", "bookmark")
    assert res.code == 2 and "is not a D1 database" in res.err


def test_every_command_works_against_d1(d1: D1Target, mdirs: MigrationDirs) -> None:
    """The operator's whole CLI on a d1:// target, safety backups (D1 exports) included."""
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]

    def ok(*args: str) -> str:
        res = run_cli(*base, *args)
        assert res.code == 0, (args, res.err)
        return res.out

    ok("up")  # with its pre-up safety backup: a D1 export
    ok("plan", "--all")
    backup_id = json.loads(ok("backup", "create", "--json"))["id"]
    listed = json.loads(ok("backup", "list", "--json"))
    assert {b["id"] for b in listed} >= {backup_id}
    assert all(b["native_restore_point"] for b in listed)
    ok("backup", "verify", backup_id)
    ok("rollback", "--steps", "2", "--yes")
    ok("backup", "restore", backup_id, "--yes")  # Time Travel to the backup's bookmark
    states = [m["state"] for m in json.loads(ok("status", "--json"))["migrations"]]
    assert states == ["applied"] * 3
    first = d.migrations / "20250101_000100_create_users.sql"
    first.write_text(first.read_text() + "-- a comment added later\n")
    assert run_cli(*base, "verify").code == 1
    ok("repair", "--yes")
    ok("verify")
    ok("recover", "--to", "-1s", "--yes")
    ok("unlock", "--yes")
    log = json.loads(ok("log", "--json"))
    assert {"apply", "backup", "rollback", "restore", "repair", "recover"} <= {
        e["action"] for e in log
    }


def test_plan_and_up_show_d1_lint(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    d.add("20250101_000400", "fk_off", "PRAGMA foreign_keys = OFF;\nCREATE TABLE x (id INTEGER);")
    base = ["--database", d1.url, *d.args()]
    res = run_cli(*base, "plan", "--json")
    assert res.code == 0, res.err
    codes = [f["rule"] for f in json.loads(res.out)["d1_findings"]]
    assert codes == ["D1-PRAGMA-FK"]
    res = run_cli(*base, "up", "--dry-run")
    assert res.code == 0 and "lint: 20250101_000400_fk_off.sql:1: warning [D1-PRAGMA-FK]" in res.err


def test_console_apply_preview_shows_d1_lint(d1: D1Target, mdirs: MigrationDirs) -> None:
    from malnu_tui.engine.config import Target
    from malnu_tui.tui.screens.apply import preview_apply

    d = school_set(mdirs)
    d.add("20250101_000400", "fk_off", "PRAGMA foreign_keys = OFF;\nCREATE TABLE x (id INTEGER);")
    preview = preview_apply(Target("prod", d1.url, d.migrations, d.rollback, d.root / "b"))
    assert not preview.problems
    assert (
        len(preview.lint_findings) == 2
        and "20250101_000400_fk_off.sql:1: error [NO-ROLLBACK]" in preview.lint_findings[0]
        and "20250101_000400_fk_off.sql:1: warning [D1-PRAGMA-FK]" in preview.lint_findings[1]
    )


def test_import_warns_of_integers_an_export_of_d1_rounds(d1: D1Target, tmp_path: Path) -> None:
    dump = tmp_path / "siswa.sql"
    dump.write_text(
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nik INTEGER);\n"
        "INSERT INTO siswa VALUES(1,9171012345678900);\nINSERT INTO siswa VALUES(2,12);\n"
    )
    res = run_cli("--database", d1.url, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    assert "warning: the dump holds integers past" in res.err
    assert "siswa.nik: 1 value (e.g. 9171012345678900)" in res.err


def test_up_says_when_its_safety_backup_rounds_integers(d1: D1Target, mdirs: MigrationDirs) -> None:
    """The safety backup's warning (an export of D1 rounds integers past 2**53) was dropped by
    `up`: the operator learnt only from `backup list` that it was not verified."""
    d = mdirs
    d.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nik INTEGER);")
    d.add("20250101_000200", "kelas", "ALTER TABLE siswa ADD COLUMN kelas TEXT;")
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    d1.server.execute(d1.db, [("INSERT INTO siswa VALUES (1, 9171012345678901)", [])], raw=True)
    res = run_cli(*base, "up")
    assert res.code == 0, res.err
    assert "warning: the dump holds integers past" in res.err and "siswa.nik" in res.err


def test_import_refuses_a_dump_that_would_empty_the_database(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A 0-byte dump (a disk that filled up during the export) or one of comments only was
    imported with --yes: every table dropped, nothing created, "imported 5 queries"."""
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    (tmp_path / "empty.sql").write_text("")
    (tmp_path / "notes.sql").write_text(
        "-- exported by wrangler\nPRAGMA defer_foreign_keys=TRUE;\n"
    )
    for name in ("empty.sql", "notes.sql"):
        res = run_cli(*base, "d1", "import", str(tmp_path / name), "--yes")
        assert res.code == 2 and "the dump creates no table" in res.err, res.err
    import sqlite3

    sqlite3.connect(tmp_path / "school.db").execute("CREATE TABLE t (x)").connection.close()
    res = run_cli(*base, "d1", "import", str(tmp_path / "school.db"), "--yes")
    assert res.code == 2 and "sqlite3 school.db .dump > school.sql" in res.err, res.err
    assert d1.sql("SELECT count(*) FROM users") == [(1,)], "nothing was changed"
    seen = len(d1.server.requests)
    for dest in (tmp_path, tmp_path / "missing" / "x.sql"):
        res = run_cli(*base, "d1", "export", str(dest))
        assert res.code == 2 and "Traceback" not in res.err, res.err
    assert not [r for r in d1.server.requests[seen:] if r.path.endswith("/export")]


def test_import_refuses_a_dump_d1_cannot_hold_naming_its_line_before_sending(
    d1: D1Target, tmp_path: Path
) -> None:
    """A local SQLite database's dump (the school's move to D1: `sqlite3 school.db .dump`)
    holding a row over D1's 2,000,000 bytes (a scanned report kept as text), or a statement
    over its 100 KB that is no row of literals, was uploaded and ingested, and D1 refused it
    mid-import (`D1 import failed: statement too long`, exit 1, naming no line). It is refused
    before anything is sent (exit 2), by its line and the limit. (A row under the limit that
    passes 100 KB still goes in pieces: test_d1_timetravel.)"""
    d1.sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    d1.sql("INSERT INTO users VALUES (1)")
    rows = "CREATE TABLE doc (id INTEGER PRIMARY KEY, body TEXT);\nINSERT INTO doc VALUES(1,'a');\n"
    (tmp_path / "big.sql").write_text(rows + f"INSERT INTO doc VALUES(2,'{'z' * 2_000_000}');\n")
    (tmp_path / "view.sql").write_text(rows + f"CREATE VIEW v AS SELECT '{'v' * 100_000}' AS x;\n")
    seen = len(d1.server.requests)
    res = run_cli("--database", d1.url, "d1", "import", str(tmp_path / "big.sql"), "--yes")
    assert res.code == 2, res.err
    assert "big.sql:3: INSERT INTO doc, value 2: a row of 2,000,05" in res.err, res.err
    assert "D1 keeps rows under 2,000,000 bytes; nothing was sent" in res.err
    res = run_cli("--database", d1.url, "d1", "import", str(tmp_path / "view.sql"), "--yes")
    assert res.code == 2, res.err
    assert "view.sql:3: " in res.err and "100,000 bytes a statement" in res.err, res.err
    # A note above the row (and one after the statement before it) named the note's line, and
    # hid the row from the check: "a statement of 2,000,1… bytes" for a row of values.
    noted = rows.replace("(1,'a');", "(1,'a'); -- the first\n/* scanned\n   2026 */")
    (tmp_path / "noted.sql").write_text(noted + f"INSERT INTO doc VALUES(2,'{'z' * 2_000_000}');")
    res = run_cli("--database", d1.url, "d1", "import", str(tmp_path / "noted.sql"), "--yes")
    assert res.code == 2, res.err
    assert "noted.sql:5: INSERT INTO doc, value 2: a row of 2,000,05" in res.err, res.err
    assert not [r for r in d1.server.requests[seen:] if r.path.endswith("/import")]
    assert d1.sql("SELECT count(*) FROM users") == [(1,)], "nothing was changed"


def test_time_travel_refuses_a_malformed_bookmark_before_asking_d1(d1: D1Target) -> None:
    """A bookmark mistyped or cut short when copied from the last restore's 'to undo' line was
    sent to D1, whose refusal came back as exit 1 (failed), not 2 (bad input)."""
    base = ["--database", d1.url]
    good = run_cli(*base, "d1", "bookmark").out.strip()
    seen = len(d1.server.requests)
    for bad in ("garbage", good[:-1], good + "0", good.replace("-", "", 1), f"{good}\n{good}"):
        res = run_cli(*base, "d1", "time-travel", "--bookmark", bad, "--yes")
        assert res.code == 2 and res.err.startswith("error: ") and "Traceback" not in res.err
        assert f"{bad!r} is not a D1 bookmark" in res.err, res.err
    assert len(d1.server.requests) == seen, "nothing was asked of D1"
    res = run_cli(*base, "d1", "time-travel", "--bookmark", f" {good}\n", "--dry-run")
    assert res.code == 0 and f"to bookmark {good}." in res.err, res.err


def test_time_travel_plan_shows_the_time_on_the_machines_clock(d1: D1Target) -> None:
    """A naive --to is UTC (contract): an operator in WIB typing local time restored 7 hours
    off, the plan showing only the UTC time. The plan now gives the local time too."""
    base = ["--database", d1.url]
    time.sleep(0.01)
    typed = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")  # as typed: no zone
    local = datetime.fromisoformat(typed + "+00:00").astimezone(timezone(timedelta(hours=7)))
    res = run_cli(
        *base, "d1", "time-travel", "--to", typed, "--dry-run", env={"TZ": "Asia/Jakarta"}
    )
    assert res.code == 0, res.err
    assert f"That is {local:%Y-%m-%d %H:%M:%S} here (WIB, UTC+07:00" in res.err, res.err
    res = run_cli(*base, "recover", "--to", typed, "--dry-run", env={"TZ": "Asia/Jakarta"})
    assert res.code == 0 and f"{local:%H:%M:%S} here (WIB, UTC+07:00" in res.out, res.err
    res = run_cli(*base, "d1", "time-travel", "--to", typed, "--dry-run", env={"TZ": "UTC"})
    assert res.code == 0 and "here (" not in res.err, res.err


def test_recover_dry_run_on_d1_is_one_plan_under_one_heading(d1: D1Target) -> None:
    """`recover --dry-run` on D1 printed a general paragraph ("… with d1's native
    point-in-time restore: … The restore point that undoes this is printed …") and then the
    Time Travel plan under a second heading ("Recover D1 database … with Time Travel.") that
    said the same again. Now one heading, then the steps."""
    res = run_cli("--database", d1.url, "recover", "--to", "now", "--dry-run", env={"TZ": "UTC"})
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith("Recover ") and "D1 Time Travel" in lines[0], res.out
    assert "native point-in-time restore" in lines[0], res.out
    assert sum(1 for ln in lines if ln.startswith("Recover ")) == 1, res.out
    assert lines[1].startswith("That is ") and " WIB (" in lines[1], res.out  # (TZ=UTC)
    assert [ln[:3] for ln in lines[2:4]] == ["1. ", "2. "], res.out
    assert sum("undoes" in ln for ln in lines) == 1, res.out


def test_a_lock_row_left_by_a_failed_command_is_said_with_its_way_out(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A failed `up` whose release of the lock could not reach D1 left its lock row without
    a word, and another host was told "wait for them to finish" of a command that had ended.
    The failed command now says the row stayed and how it goes; `status`, `up` and `unlock`
    elsewhere say the lease is no longer renewed, when it lapses and that `up` then takes it
    over; `check`, once it has lapsed, says how to take it over."""
    from tests.d1server import Fault
    from tests.secret_support import d1_config

    mdirs.add("20250101_000100", "bad", "INSERT INTO nosuch VALUES (1);", "SELECT 1;")
    cfg = d1_config(tmp_path / "malnu.toml", d1.db.account, d1.db.id, mdirs)
    at = ["--config", str(cfg), "--target", "production"]
    release = "DELETE FROM malnu_lock WHERE id = 1 AND host"
    d1.server.inject(Fault("status", count=100, status=503, match=release))
    try:
        res = run_cli(*at, "up", "--yes", "--no-backup")
    finally:
        d1.server.faults.clear()
    assert res.code == 1 and "error: migration 20250101_000100_bad.sql failed" in res.err
    assert "note: the migration lock could not be released (D1 " in res.err, res.err
    assert "its lease, no longer renewed, runs out within 10 min" in res.err, res.err
    assert f"`malnu-tui unlock --config {cfg} --target production`" in res.err, res.err
    # Work that succeeds, its release refused the same way, said it not at all (exit 0).
    d1.server.inject(Fault("status", count=100, status=503, match=release))
    try:
        res = run_cli(*at, "clear-failed", "20250101_000100_bad.sql", "--yes")
    finally:
        d1.server.faults.clear()
    assert res.code == 0, res.err
    assert "warning: D1 " in res.err and "; the lock row of this session (pid " in res.err
    assert "runs out within 10 min" in res.err, res.err
    # Seen from another host four minutes on (the row as that host reads it).
    d1.server.execute(
        d1.db,
        [("UPDATE malnu_lock SET host = 'ops-laptop', expires_at = datetime('now', '+6 minutes')",
          [])],
        raw=True,
    )  # fmt: skip
    renewed = "its lease was last renewed 4 min ago, and a running holder renews it every 60 s"
    lapses = "the lease runs out in 6 min (at "
    res = run_cli(*at, "status")
    assert "; locked by " in res.err and renewed in res.err and lapses in res.err, res.err
    res = run_cli(*at, "up", "--yes", "--no-backup")
    assert res.code == 3 and "another operator holds the migration lock: " in res.err
    hint = res.err.split("hint: ", 1)[1]
    assert renewed in hint and "then takes it over by itself, audited" in hint, hint
    assert "wait for them to finish" not in hint, hint
    res = run_cli(*at, "unlock")
    assert res.code == 2 and renewed in res.err, res.err
    d1.server.execute(
        d1.db,
        [("UPDATE malnu_lock SET expires_at = datetime('now', '-1 minutes')", [])],
        raw=True,
    )
    res = run_cli(*at, "check", "--json")
    lock = [p["message"] for p in json.loads(res.out)["problems"] if p["check"] == "lock_lease"]
    assert len(lock) == 1 and "held past its lease" in lock[0], res.out
    assert "the next `malnu-tui up --config " in lock[0] and "takes it over by itself" in lock[0]
