"""`check` never writes what it watches: a database the tool has never used (an empty file, an
application's own database, a fresh PostgreSQL or D1 database) is said "not initialised" and
left exactly as it was; one with the seed's older tables is read as it is, never upgraded."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget
from tests.inproc import run_inproc

APP_TABLE = "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)"


def _sql(db: DbTarget, statement: str) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the database behind ``db`` (set-up and assertions only)."""
    if db.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(db.url.removeprefix("sqlite:///"))) as conn:
            with conn:
                return conn.execute(statement).fetchall()
    if db.kind == "postgresql":
        with psycopg.connect(db.url, autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []
    assert db.d1 is not None
    return db.d1.sql(statement)


def _tables(db: DbTarget) -> list[str]:
    if db.kind == "postgresql":
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    else:
        query = "SELECT name FROM sqlite_master WHERE name NOT LIKE '\\_%' ESCAPE '\\'"
    return sorted(str(r[0]) for r in _sql(db, query))


def _check(db: DbTarget, mdirs: MigrationDirs, *args: str) -> tuple[int, str]:
    res = run_inproc("--database", db.url, *mdirs.args(), "check", *args)
    assert "Traceback" not in res.err, res.err
    return res.code, res.out + res.err


def test_check_on_a_database_never_initialised_creates_nothing(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    _sql(db_target, APP_TABLE)
    code, out = _check(db_target, mdirs)
    assert code == 3, out
    assert "is not initialised by malnu-tui" in out and "nothing was created" in out, out
    assert _tables(db_target) == ["siswa"]
    if db_target.kind == "sqlite":  # an application's rollback-journal file stays one
        assert _sql(db_target, "PRAGMA journal_mode") == [("delete",)]

    assert run_inproc("--database", db_target.url, *mdirs.args(), "up", "--yes").code == 0
    code, out = _check(db_target, mdirs)
    assert "reach OK" in out and "not initialised" not in out, out


def test_check_on_an_empty_sqlite_file_leaves_it_empty(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "kosong.db"
    db.write_bytes(b"")
    code, out = _check(DbTarget("sqlite", f"sqlite:///{db}"), mdirs, "--json")
    assert code == 3 and '"status": "UNKNOWN"' in out.replace('":"', '": "'), out
    assert "not initialised" in out
    assert db.stat().st_size == 0 and [p.name for p in db.parent.iterdir()] == ["kosong.db"]
    # A URL naming a directory (`sqlite:` alone, a trailing slash) said "does not exist".
    code, out = _check(DbTarget("sqlite", f"sqlite:///{db.parent}/"), mdirs)
    assert code == 3 and f"database file {db.parent} is a directory, not a database file" in out


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_check_reads_the_seeds_older_tables_as_they_are(
    kind: str, fresh_db: Any, mdirs: MigrationDirs
) -> None:
    """The seed's scripts made only a tracking table (on PostgreSQL without the columns the
    tool added since; on SQLite and D1 the guide's test utility's, without execution_time_ms
    and error_message); an older lock table lacks `purpose`. Read, never upgraded; the first
    command that writes upgrades it (`status`, `check` and `log` said "no such column:
    execution_time_ms" there, `status` pointing at itself to see what stands)."""
    db: DbTarget = fresh_db(kind)
    if kind == "postgresql":
        _sql(db, "CREATE TABLE migrations (id SERIAL PRIMARY KEY, filename TEXT NOT NULL "
                 "UNIQUE, checksum TEXT NOT NULL)")  # fmt: skip
    else:
        _sql(db, "CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "filename TEXT NOT NULL UNIQUE, checksum TEXT NOT NULL, executed_at DATETIME "
                 "DEFAULT CURRENT_TIMESTAMP, success BOOLEAN DEFAULT TRUE)")  # fmt: skip
        _sql(db, "CREATE TABLE malnu_lock (id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT "
                 "NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, acquired_at TEXT NOT "
                 "NULL, expires_at TEXT NOT NULL)")  # fmt: skip
        _sql(db, "INSERT INTO malnu_lock VALUES (1, 'budi@tu', 'tu', 4242, "
                 "'2025-01-01 00:00:00', '2025-01-01 00:10:00')")  # fmt: skip
    _sql(db, "INSERT INTO migrations (filename, checksum) VALUES ('20240101_000000_gone.sql', 'x')")
    before = _sql(db, "SELECT sql FROM sqlite_master ORDER BY name") if kind != "postgresql" else (
        _sql(db, "SELECT table_name, column_name FROM information_schema.columns "
                 "WHERE table_schema = 'public' ORDER BY 1, 2")
    )  # fmt: skip
    code, out = _check(db, mdirs)
    assert code == 2, out
    assert "missing_files CRITICAL" in out and "20240101_000000_gone.sql" in out, out
    if kind != "postgresql":  # the old lock row is still read: its lease ran out long ago
        assert "lock_lease WARNING" in out and "budi@tu" in out, out
    after = _sql(db, "SELECT sql FROM sqlite_master ORDER BY name") if kind != "postgresql" else (
        _sql(db, "SELECT table_name, column_name FROM information_schema.columns "
                 "WHERE table_schema = 'public' ORDER BY 1, 2")
    )  # fmt: skip
    assert after == before
    res = run_inproc("--database", db.url, *mdirs.args(), "log")
    assert res.code == 0 and "Traceback" not in res.err, res.err
    res = run_inproc("--database", db.url, *mdirs.args(), "status", "--json")  # writes: upgrades
    assert res.code == 0, res.err
    (gone,) = json.loads(res.out)["migrations"]
    assert (gone["filename"], gone["state"]) == ("20240101_000000_gone.sql", "missing"), gone


def test_history_and_log_read_only_too(tmp_path: Path, mdirs: MigrationDirs) -> None:
    db = DbTarget("sqlite", f"sqlite:///{tmp_path / 'app.db'}")
    _sql(db, APP_TABLE)
    for command in ("history", "log"):
        res = run_inproc("--database", db.url, *mdirs.args(), command)
        assert res.code == 1 and "is not initialised by malnu-tui" in res.err, res.err
        assert "`malnu-tui status " in res.err and "` on it creates the tool's tables" in res.err
    assert _tables(db) == ["siswa"] and _sql(db, "PRAGMA journal_mode") == [("delete",)]
    assert run_inproc("--database", db.url, *mdirs.args(), "status").code == 0
    res = run_inproc("--database", db.url, *mdirs.args(), "history")
    assert res.code == 0 and "0 runs" in res.err, res.err
    # Nor a -wal and -shm left behind, owned by the monitoring user (an application running
    # as another could not write them): a WAL database nobody has open is read as it is.
    assert _sql(db, "PRAGMA journal_mode") == [("wal",)]
    assert run_inproc("--database", db.url, *mdirs.args(), "check").code == 2
    assert [p.name for p in tmp_path.glob("app.db*")] == ["app.db"]


def _as_reader(*args: str) -> tuple[int, str]:
    """The CLI as a user who may read the database but not write beside it (root drops the
    capabilities that let it ignore file modes)."""
    import os
    import shutil
    import subprocess

    from tests.fixtures_core import CLI, REPO

    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to test as a reader"
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    proc = subprocess.run(
        [*prefix, *CLI, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_monitoring_user_who_may_only_read_the_database(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Nagios or node_exporter's user reads an application's WAL database in a directory it
    cannot write: SQLite cannot create the -shm file, and every check was UNKNOWN ("attempt
    to write a readonly database"), `history` a traceback."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "app.db"
    args = ("--database", f"sqlite:///{db}", *mdirs.args())
    assert run_inproc(*args, "up", "--yes").code == 0
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        code, out = _as_reader(*args, "check")
        assert "reach OK" in out and "failed_migrations OK" in out, out
        code, out = _as_reader(*args, "history")
        assert code == 0 and "Traceback" not in out and "2 runs" in out, out
        # A WAL that holds changes cannot be read without the -shm: said, with what to do.
        db.parent.chmod(0o755)
        with sqlite3.connect(db.with_name("live.db"), isolation_level=None) as live:
            live.execute("PRAGMA journal_mode = WAL")
            live.execute("PRAGMA wal_autocheckpoint = 0")
            live.execute("CREATE TABLE migrations (filename TEXT, checksum TEXT)")
            for name in ("live.db", "live.db-wal"):
                (db.parent / f"copy{name.removeprefix('live')}").write_bytes(
                    (db.parent / name).read_bytes()
                )
        db.parent.chmod(0o555)
        code, out = _as_reader("--database", f"sqlite:///{db.with_name('copy.db')}", "history")
        assert code == 1 and "Traceback" not in out, out
        assert "its WAL (copy.db-wal) holds changes" in out and "let this user write to" in out
    finally:
        db.parent.chmod(0o755)


def test_doctor_diagnoses_without_changing_the_database(
    db_target: DbTarget, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """doctor created the tool's tables (and switched a SQLite file to WAL) on the database it
    diagnosed, and said "connected" about a SQLite path with a typo, creating that file."""
    _sql(db_target, APP_TABLE)
    res = run_inproc("--database", db_target.url, *mdirs.args(), "doctor")
    assert res.code == 0, res.out + res.err
    assert "(not initialised by malnu-tui yet: no migrations table)" in res.out, res.out
    assert "create tables: can create tables" in res.out, res.out
    assert _tables(db_target) == ["siswa"]
    if db_target.kind == "sqlite":
        assert _sql(db_target, "PRAGMA journal_mode") == [("delete",)]
        typo = tmp_path / "typo" / "primary.db"
        res = run_inproc("--database", f"sqlite:///{typo}", *mdirs.args(), "doctor")
        assert res.code == 1 and any(
            line.startswith("FAIL") and " connect: " in line for line in res.out.splitlines()
        ), res.out
        assert f"database file {typo} does not exist (nothing was created)" in res.out
        assert not typo.parent.exists()


def test_doctor_with_a_rejected_d1_token_is_a_failed_check(
    d1_url: str, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D1 is opened without a request: a rejected token surfaced at the round trip, outside
    any check, and doctor stopped with `error:` (exit 2) instead of its report."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "rejected-t0ken-123")
    res = run_inproc("--database", d1_url, *mdirs.args(), "doctor")
    assert res.code == 1 and "Traceback" not in res.err, res.out + res.err
    failed = [line for line in res.out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and " connect: " in failed[0], res.out
    assert (
        "Cloudflare rejected the API token" in failed[0]
        and "fix: set CLOUDFLARE_API_TOKEN" in failed[0]
    )
    assert " backup dir: " in res.out and "rejected-t0ken-123" not in res.out + res.err


def test_history_shows_every_run_of_a_busy_window_and_says_what_it_could_not(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A sync writes audit rows per table; over 20,000 of them in the window pushed every run
    out of the one read: `history --since -7d` said "0 runs" (and --json "runs": [])."""
    import json
    from datetime import UTC, datetime, timedelta

    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    db = DbTarget("sqlite", f"sqlite:///{tmp_path / 'busy.db'}")
    args = ("--database", db.url, *mdirs.args())
    assert run_inproc(*args, "up", "--yes").code == 0  # a backup run and an apply run
    now = datetime.now(UTC)
    _sql(db, f"UPDATE malnu_audit SET at = '{(now - timedelta(days=3)):%Y-%m-%d %H:%M:%S}'")
    rows = ", ".join(
        f"('{(now - timedelta(seconds=20_050 - i)):%Y-%m-%d %H:%M:%S}', 'sync@tu', 'sync', "
        f"'t{i % 30}', 'ok', '')"
        for i in range(20_050)
    )
    _sql(db, f"INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) VALUES {rows}")
    res = run_inproc(*args, "history", "--since", "-7d")
    assert res.code == 0 and "2 runs and 20000 other audit rows" in res.err, res.err
    assert "note: more other audit rows since " in res.err and "only those since" in res.err
    data = json.loads(run_inproc(*args, "history", "--since", "-7d", "--json").out)
    assert len(data["runs"]) == 2 and data["complete"] is False
    data = json.loads(run_inproc(*args, "history", "--since", "-1h", "--json").out)
    assert data["complete"] is True and data["runs"] == [], "the runs are 3 days old"


def test_a_one_off_sync_from_a_url_never_becomes_a_lag_warning(tmp_path: Path) -> None:
    """`sync --from sqlite:///copy.db --to b` once (a test copy, a legacy import): its lag grew
    into a WARNING no run could clear. Only syncs from a configured target are judged."""
    from datetime import UTC, datetime, timedelta

    from malnu_tui.engine.config import load_settings
    from malnu_tui.engine.monitor.config import load_monitor_config
    from malnu_tui.engine.monitor.reading import check_target

    for name in ("legacy", "a"):
        src = DbTarget("sqlite", f"sqlite:///{tmp_path / name}.db")
        _sql(src, "CREATE TABLE siswa (id INTEGER PRIMARY KEY, updated_at TEXT)")
        _sql(src, "INSERT INTO siswa VALUES (1, '2025-01-01 00:00:00')")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:a.db"\n[targets.b]\nurl = "sqlite:b.db"\n'
        f'[backup]\ndir = "{tmp_path / "backups"}"\n'
    )
    c = ("--config", str(cfg))
    assert run_inproc(*c, "sync", "--from", f"sqlite:///{tmp_path / 'legacy.db'}", "--to", "b",
                      "--yes").code == 0  # fmt: skip
    settings = load_settings(config=str(cfg), env={})
    later = datetime.now(UTC) + timedelta(hours=2)
    h = check_target(settings.targets["b"], load_monitor_config(settings), later)
    assert h.check_status("sync_lag").name == "OK" and "sync_lag_seconds" not in h.metrics
    assert run_inproc(*c, "sync", "--from", "a", "--to", "b", "--yes").code == 0
    h = check_target(settings.targets["b"], load_monitor_config(settings), later)
    lag = [p for p in h.problems if p.check == "sync_lag"]
    assert [p.obj for p in lag] == ["a->b"] and h.metrics["sync_lag_seconds"] > 3600


_RUNS = (  # check's and history's read of the newest runs (backends' read_audit)
    "SELECT id, at, actor, action, object, outcome, detail FROM malnu_audit "
    "WHERE action = 'run' ORDER BY id DESC LIMIT 2000"
)


def test_a_sync_pair_set_up_and_never_run_is_a_warning_after_its_grace(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[sync.reporting]` written into the config and never started (no cron line, a timer
    never enabled): `check` said nothing, ever, since a copy never synced has no last success
    to lag from. It is a WARNING once `check` first saw the pair `[monitor]
    sync_never_run_hours` ago (24 by default), naming the pair and what starts it; the gauge
    `malnu_syncs_never_run` counts them. A real sync clears it. Real SQLite files.

    The grace counted from the config file's last change: a deploy that rewrites the config
    (every deploy, in many shops) started it again, and a pair that never ran was never said.
    When `check` first saw it is kept in the user state dir (beside the incident state: it
    outlives a reboot), written by the first check that sees it; a pair removed from the
    config, then added again, starts again. Where nothing can be recorded, the config's last
    change is the fallback, and the line says so."""
    import json as jsonlib
    import os
    from datetime import UTC, datetime, timedelta

    from tests.promtext import parse

    src = DbTarget("sqlite", f"sqlite:///{tmp_path / 'a.db'}")
    _sql(src, "CREATE TABLE siswa (id INTEGER PRIMARY KEY, updated_at TEXT)")
    _sql(src, "INSERT INTO siswa VALUES (1, '2025-01-01 00:00:00')")
    dirs = f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
    cfg = tmp_path / "malnu.toml"
    base = (
        f'[targets.a]\nurl = "sqlite:a.db"\n{dirs}[targets.b]\nurl = "sqlite:b.db"\n{dirs}'
        f'[backup]\ndir = "{tmp_path / "backups"}"\n'
    )
    body = base + '[sync.reporting]\nfrom = "a"\nto = "b"\n'
    cfg.write_text(body, encoding="utf-8")
    c = ("--config", str(cfg))
    assert run_inproc(*c, "--target", "b", "status").code == 0  # b made, never synced into
    prom = tmp_path / "malnu.prom"
    res = run_inproc(*c, "check", "--target", "b", "--prometheus", str(prom))
    assert "sync_lag OK" in res.out, "a pair first seen now: within its grace"
    assert parse(prom.read_text())[("malnu_syncs_never_run", (("target", "b"),))] == 1
    seen = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "sync_pairs_seen.json"
    assert seen.stat().st_mode & 0o777 == 0o600
    kept = jsonlib.loads(seen.read_text())
    assert list(kept["configs"]) == [str(Path(c[1]).resolve())]
    assert list(kept["configs"][str(Path(c[1]).resolve())]) == [_key(tmp_path)]

    # First seen 25 h ago (as an earlier version keyed it, by names alone: taken over), the
    # config rewritten by a deploy just now.
    day_ago = datetime.now(UTC) - timedelta(hours=25)
    kept["configs"][str(Path(c[1]).resolve())] = {"reporting a->b": f"{day_ago:%Y-%m-%d %H:%M:%S}"}
    seen.write_text(jsonlib.dumps(kept))
    cfg.write_text(body, encoding="utf-8")
    res = run_inproc(*c, "check", "--target", "b")
    assert res.out.startswith("MALNU CRITICAL - b: no backup at all, 1 sync pair never run |")
    assert (
        "WARNING b sync_lag: sync pair reporting (a->b) has never completed a sync: no sync of "
        "it in this target's run log; `check` first saw it 25.0 h ago (over [monitor] "
        "sync_never_run_hours = 24): start it (malnu-tui sync reporting --yes, from cron or a "
        "timer), or remove the pair from the config"
    ) in res.out, res.out
    assert list(jsonlib.loads(seen.read_text())["configs"][str(cfg)]) == [_key(tmp_path)]

    # b pointed at another database: a new pair, its grace starts again (it kept the old
    # copy's, and a copy never synced was said at once, or went unsaid for as long).
    cfg.write_text(body.replace('"sqlite:b.db"', '"sqlite:b2.db"'), encoding="utf-8")
    assert run_inproc(*c, "--target", "b", "status").code == 0
    assert "sync_lag OK" in run_inproc(*c, "check", "--target", "b").out
    assert list(jsonlib.loads(seen.read_text())["configs"][str(cfg)]) == [_key(tmp_path, "b2")]
    cfg.write_text(body, encoding="utf-8")
    assert "sync_lag OK" in run_inproc(*c, "check", "--target", "b").out  # (and back: anew)

    # Removed from the config (seen so by a check), then added again: it starts again.
    cfg.write_text(base, encoding="utf-8")
    assert "sync_lag OK" in run_inproc(*c, "check", "--target", "b").out
    assert jsonlib.loads(seen.read_text())["configs"][str(Path(c[1]).resolve())] == {}
    cfg.write_text(body, encoding="utf-8")
    assert "sync_lag OK" in run_inproc(*c, "check", "--target", "b").out

    # Nothing can be recorded (a file where the state dir should be): the config's last
    # change, said so.
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "not-a-dir"))
    cfg.write_text(body + "[monitor]\nsync_never_run_hours = 0\n", encoding="utf-8")
    res = run_inproc(*c, "check", "--target", "b")
    assert (
        "no sync of it in this target's run log; the config is 0 s old (over [monitor] "
        "sync_never_run_hours = 0; cannot record when `check` first saw it in "
        f"{tmp_path / 'not-a-dir' / 'malnu-tui' / 'sync_pairs_seen.json'}: File exists, so "
        "its grace counts from the config's last change): start it"
    ) in res.out, res.out
    assert run_inproc(*c, "sync", "reporting", "--yes").code == 0
    res = run_inproc(*c, "check", "--target", "b", "--prometheus", str(prom))
    assert "sync_lag OK" in res.out, res.out
    assert parse(prom.read_text())[("malnu_syncs_never_run", (("target", "b"),))] == 0


def _key(tmp_path: Path, b: str = "b") -> str:
    """The pairs-seen key of ``[sync.reporting]`` from sqlite:a.db to sqlite:<b>.db."""
    return f"reporting a->b sqlite://{tmp_path / 'a.db'}->sqlite://{tmp_path / b}.db"


def _pair_never_run(tmp_path: Path, mdirs: MigrationDirs) -> tuple[tuple[str, str], Path]:
    """A config of two SQLite targets a→b and a [sync.reporting] pair never run (no grace),
    b's tables made; (its --config arguments, the pairs-seen state file's path, its folder made)."""
    dirs = f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:a.db"\n{dirs}[targets.b]\nurl = "sqlite:b.db"\n{dirs}'
        '[sync.reporting]\nfrom = "a"\nto = "b"\n[monitor]\nsync_never_run_hours = 0\n',
        encoding="utf-8",
    )
    c = ("--config", str(cfg))
    assert run_inproc(*c, "--target", "b", "status").code == 0
    seen = Path(os.environ["XDG_STATE_HOME"]) / "malnu-tui" / "sync_pairs_seen.json"
    seen.parent.mkdir(parents=True, exist_ok=True)
    return c, seen


def test_a_pair_first_seen_by_a_clock_set_ahead_is_taken_as_seen_now(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A `check` run while this box's clock was ahead (booted before NTP set it, a VM
    restored) recorded the pair first seen in the future: its grace began only when the clock
    reached that time, and a pair never run went unsaid for as long (a month here). Such a
    time is taken as seen now, and kept so."""
    from datetime import UTC, datetime, timedelta

    c, seen = _pair_never_run(tmp_path, mdirs)
    ahead = datetime.now(UTC) + timedelta(days=30)
    pairs = {"reporting a->b": f"{ahead:%Y-%m-%d %H:%M:%S}"}
    seen.write_text(json.dumps({"version": 1, "configs": {str(Path(c[1]).resolve()): pairs}}))
    res = run_inproc(*c, "check", "--target", "b")
    assert "sync pair reporting (a->b) has never completed a sync" in res.out, res.out
    assert "`check` first saw it 0 s ago" in res.out, res.out
    kept = json.loads(seen.read_text())["configs"][str(Path(c[1]).resolve())][_key(tmp_path)]
    assert kept < f"{ahead:%Y-%m-%d %H:%M:%S}", kept


_INDEXES = (  # by name: (action, id), (action, object, id), (action, object, outcome, id)
    "malnu_audit_action_id",
    "malnu_audit_action_object_id",
    "malnu_audit_action_object_outcome_id",
)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_the_audit_indexes_are_added_by_a_writing_command_never_by_check(
    kind: str, fresh_db: Any, mdirs: MigrationDirs
) -> None:
    """check/history read the newest runs every minute (cron): without an index on
    (action, id) a scan of the whole audit trail (on D1, billed by rows read). check reads
    each configured sync pair's newest run and newest success: by that index alone, a pair
    never run (or never completed) walked every run row, and by one on (action, object, id)
    alone its success walked its own runs (~1 s at a million, per pair and minute); now one
    on each, and on (action, object, outcome, id). A database an older version made gets
    them from the next command that may write, never from `check`."""
    db: DbTarget = fresh_db(kind)
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    assert run_inproc("--database", db.url, *mdirs.args(), "up", "--yes").code == 0
    names = "('" + "', '".join(_INDEXES) + "')"
    if kind == "postgresql":
        index = f"SELECT indexdef FROM pg_indexes WHERE indexname IN {names} ORDER BY 1"
        plan = "EXPLAIN (COSTS OFF) "
    else:
        index = f"SELECT sql FROM sqlite_master WHERE name IN {names} ORDER BY 1"
        plan = "EXPLAIN QUERY PLAN "
    made = [str(r[0]).replace('"', "").strip() for r in _sql(db, index)]
    assert [m.rpartition(" (")[2] for m in made] == [
        "action, id)",
        "action, object, id)",
        "action, object, outcome, id)",
    ], made
    for name in _INDEXES:
        _sql(db, f"DROP INDEX {name}")  # as an older version left the database
    code, out = _check(db, mdirs)
    assert code == 0 and "reach OK" in out, out
    res = run_inproc("--database", db.url, *mdirs.args(), "history")
    assert res.code == 0 and "2 runs" in res.err, res.err  # the safety backup's and up's
    assert _sql(db, index) == []  # the monitoring path stays write-free
    assert run_inproc("--database", db.url, *mdirs.args(), "status").code == 0
    assert len(_sql(db, index)) == 3, _sql(db, index)
    if kind != "postgresql":  # were "SCAN malnu_audit", then a walk of the run rows
        pair = _RUNS.replace("ORDER", "AND object = 'sync a->b' ORDER")
        ok = pair.replace("ORDER", "AND outcome = 'ok' ORDER")
        assert [[r[-1] for r in _sql(db, plan + q)] for q in (_RUNS, pair, ok)] == [
            ["SEARCH malnu_audit USING INDEX malnu_audit_action_id (action=?)"],
            ["SEARCH malnu_audit USING INDEX malnu_audit_action_object_id (action=? AND object=?)"],
            [
                "SEARCH malnu_audit USING INDEX malnu_audit_action_object_outcome_id "
                "(action=? AND object=? AND outcome=?)"
            ],
        ]


def _bulk_runs(db: DbTarget, n: int, at: str) -> None:
    """``n`` import run rows at ``at`` in one statement (a busy import's run log)."""
    detail = '{"run": 1, "op": "import", "object": "x.csv", "ended_at": "' + at + '"}'
    row = f"'{at}', 'cron@h', 'run', 'import x.csv', 'ok', '{detail}'"
    if db.kind == "postgresql":
        rows = f"SELECT {row}::text FROM generate_series(1, {n})".replace(
            f"'{at}'", f"'{at}'::timestamptz", 1
        )
    else:
        rows = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
                f"SELECT {row} FROM c")  # fmt: skip
    _sql(db, f"INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) {rows}")


def test_a_sync_pair_behind_more_run_rows_than_one_read_is_still_judged(
    db_target: DbTarget, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Over 2,000 run rows (imports every minute for two days) the never-run check was
    skipped, silently, and a pair whose last success was older than those rows had no lag
    either: a sync stopped days ago on a busy copy said `sync_lag OK`. Each configured
    pair's newest run and newest success are now read by a query of their own (filtered by
    object, by the (action, id) index), whatever the rows newer than them."""
    from datetime import UTC, datetime, timedelta

    from malnu_tui.engine.config import load_settings
    from malnu_tui.engine.monitor.config import load_monitor_config
    from malnu_tui.engine.monitor.reading import AUDIT_WINDOW, check_target
    from malnu_tui.engine.monitor.runlog import RunRecord

    dirs = f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:a.db"\n{dirs}[targets.c]\nurl = "sqlite:c.db"\n{dirs}'
        f'[targets.b]\nurl = "{db_target.url}"\n{dirs}[backup]\ndir = "{tmp_path / "b"}"\n'
        '[sync.reporting]\nfrom = "a"\nto = "b"\n[sync.arsip]\nfrom = "c"\nto = "b"\n'
        "[monitor]\nsync_never_run_hours = 0\nsync_max_lag_minutes = 60\n",
        encoding="utf-8",
    )
    assert run_inproc("--config", str(cfg), "--target", "b", "status").code == 0
    now = datetime.now(UTC) + timedelta(seconds=1)
    ok = RunRecord("sync", "a->b", "ok", "", f"{now - timedelta(days=3):%Y-%m-%d %H:%M:%S}", 5)
    old = ok.as_audit()
    _sql(db_target, "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) VALUES "
         f"('{old.at}', '{old.actor}', 'run', '{old.object}', 'ok', '{old.detail}')")  # fmt: skip
    _bulk_runs(db_target, AUDIT_WINDOW + 1, f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}")
    settings = load_settings(config=str(cfg), env={})
    h = check_target(settings.targets["b"], load_monitor_config(settings), now)
    lag = sorted(p.message for p in h.problems if p.check == "sync_lag")
    assert len(lag) == 2 and lag[0] == "sync a->b last succeeded 3.0 days ago (over 60 min)", lag
    assert lag[1].startswith(
        "sync pair arsip (c->b) has never completed a sync: no sync of it in this target's run "
        "log; "
    ), lag
    assert h.metrics["syncs_never_run"] == 1 and h.metrics["sync_lag_seconds"] >= 3 * 86400


def test_a_damaged_pairs_file_is_said_and_an_out_of_range_time_is_no_traceback(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A damaged sync_pairs_seen.json silently restarted every pair's grace: said now (one
    line naming the file, as a damaged incident file is), started afresh, said once. A first
    sighting of ``0001-01-01T00:00+01:00`` (before year 1 in UTC) made the target UNKNOWN
    (`check failed unexpectedly: OverflowError`): taken as seen now."""

    c, seen = _pair_never_run(tmp_path, mdirs)
    seen.write_text('{"version": 1, "configs": {')
    res = run_inproc(*c, "check", "--target", "b")
    assert f"warning: sync pair state {seen} was unreadable (" in res.err, res.err
    assert "started afresh, every [sync.NAME] pair's never-run grace starts again" in res.err
    assert "`check` first saw it 0 s ago" in res.out, res.out
    assert list(json.loads(seen.read_text())["configs"][str(Path(c[1]).resolve())]) == [
        _key(tmp_path)
    ]
    assert "unreadable" not in run_inproc(*c, "check", "--target", "b").err  # said once

    pairs = {"reporting a->b": "0001-01-01T00:00+01:00"}
    seen.write_text(json.dumps({"version": 1, "configs": {str(Path(c[1]).resolve()): pairs}}))
    res = run_inproc(*c, "check", "--target", "b")
    assert "Overflow" not in res.out + res.err and "reach OK" in res.out, res.out + res.err
    assert "`check` first saw it 0 s ago" in res.out, res.out
