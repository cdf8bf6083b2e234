"""The commands malnu-tui prints for the operator to copy and run next (undo lines, hints),
copied as printed and run as real processes from another directory: each must act on the same
database (target, config, directories), never the default target, never fail for a token the
target's ``api_token_env`` gives, never print a secret."""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures_core import CliResult, run_cli
from tests.fixtures_d1 import D1Target


def run_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """``malnu-tui ARGS`` as a real process run from ``cwd`` (not the repository): forked
    from the CLI fork server, its working directory ``cwd`` (a fresh interpreter when
    ``run_cli``'s would be one)."""
    return run_cli(*args, env=env, cwd=cwd, timeout=120)


def printed(err: str, after: str) -> list[str]:
    """The command printed after ``after`` (to the end of its line), as argv without
    ``malnu-tui``."""
    line = err.split(after, 1)[1].splitlines()[0].split("`")[0].strip()
    words = shlex.split(line)
    assert words[0] == "malnu-tui", line
    return words[1:]


@pytest.fixture
def school(tmp_path: Path, d1: D1Target, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose default target is a SQLite file and whose ``school`` target is D1 with
    its token in ``api_token_env`` (no CLOUDFLARE_API_TOKEN in the environment)."""
    conf = tmp_path / "conf"
    (conf / "migrations").mkdir(parents=True)
    (conf / "rollback").mkdir()
    (conf / "malnu.toml").write_text(
        '[targets.local]\nurl = "sqlite:local.db"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n\n'
        f'[targets.school]\nurl = "{d1.url}"\napi_token_env = "CF_TOKEN_SCHOOL"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n'
    )
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    monkeypatch.setenv("CF_TOKEN_SCHOOL", d1.token)
    (tmp_path / "elsewhere").mkdir()
    return conf / "malnu.toml"


def test_d1_time_travel_and_import_undo_lines_run_from_elsewhere(
    school: Path, d1: D1Target, tmp_path: Path
) -> None:
    """The undo line of `d1 time-travel` named the database by URL (so the undo, run alone,
    had no token: "no Cloudflare API token"), and `d1 import`'s named nothing (so it ran on
    the default target, a SQLite file: "not a D1 database"). Both now name the config and the
    target, and undo the change from any directory."""
    here = ["--config", str(school), "--target", "school"]
    elsewhere = tmp_path / "elsewhere"
    d1.server.execute(d1.db, [("CREATE TABLE t (v TEXT)", [])], raw=True)
    d1.server.execute(d1.db, [("INSERT INTO t VALUES ('before')", [])], raw=True)
    before = run_in(school.parent, *here, "d1", "bookmark")
    assert before.code == 0, before.err
    time.sleep(0.05)
    then = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    d1.server.execute(d1.db, [("INSERT INTO t VALUES ('after')", [])], raw=True)

    res = run_in(school.parent, *here, "d1", "time-travel", "--bookmark", before.out.strip(), "-y")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("before",)]
    undo = printed(res.err, "to undo: ")
    again = run_in(elsewhere, *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert d1.sql("SELECT v FROM t ORDER BY v") == [("after",), ("before",)]

    dump = tmp_path / "dump.sql"
    dump.write_text("CREATE TABLE t (v TEXT);\nINSERT INTO t VALUES('imported');\n")
    res = run_in(school.parent, *here, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("imported",)]
    undo = printed(res.err, "to undo: ")
    again = run_in(elsewhere, *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert d1.sql("SELECT v FROM t ORDER BY v") == [("after",), ("before",)]

    # `recover --to TIME` on D1 (Time Travel) printed a bare bookmark; now the command too.
    res = run_in(school.parent, *here, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    res = run_in(school.parent, *here, "recover", "--to", then, "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("before",)]
    undo = printed(res.err.split("to undo, restore point ", 1)[1], ": ")
    again = run_in(elsewhere, *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert d1.sql("SELECT v FROM t") == [("imported",)]
    assert not (school.parent / "local.db").exists(), "the default target was opened"


def _school_config(tmp_path: Path, url: str) -> Path:
    """A config whose default target is a SQLite file and whose ``school`` target is ``url``,
    with one migration (table t, row 'before')."""
    conf = tmp_path / "conf"
    (conf / "migrations").mkdir(parents=True)
    (conf / "rollback").mkdir()
    (conf / "migrations" / "20250101_000100_t.sql").write_text(
        "CREATE TABLE t (v TEXT);\nINSERT INTO t VALUES ('before');\n"
    )
    (conf / "rollback" / "20250101_000100_t.sql").write_text("DROP TABLE t;\n")
    (conf / "malnu.toml").write_text(
        '[targets.local]\nurl = "sqlite:local.db"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n\n'
        f'[targets.school]\nurl = "{url}"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n'
    )
    (tmp_path / "elsewhere").mkdir()
    return conf / "malnu.toml"


def _rows(url: str) -> list[str]:
    if url.startswith("sqlite"):
        import sqlite3

        from malnu_tui.engine.urls import sqlite_path

        with sqlite3.connect(sqlite_path(url)) as conn:
            return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")]
    import psycopg

    with psycopg.connect(url) as pg:
        return [r[0] for r in pg.execute("SELECT v FROM t ORDER BY v")]


def _write(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        import sqlite3

        from malnu_tui.engine.urls import sqlite_path

        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute(sql)
        return
    import psycopg

    with psycopg.connect(url) as pg:
        pg.execute(sql)


@pytest.fixture(params=["sqlite", "postgresql"])
def school_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The school target's URL: a SQLite file, or a PostgreSQL database whose URL holds a
    password (which no printed command may show)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conf' / 'school.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    name = request.getfixturevalue("pg_password_db")
    role, password = request.getfixturevalue("pg_password_role")
    return f"postgresql://{role}:{password}@{cluster.host}:{cluster.port}/{name}"


def test_backup_restore_undo_line_runs_from_elsewhere(school_url: str, tmp_path: Path) -> None:
    """`backup restore`'s "to undo: malnu-tui backup restore ID" named no config or target:
    run from another directory it looked for the pre-restore backup among the default
    target's (not found, exit 2; from the config's directory, the default target's). It now
    names the config and the target (never the URL and its password) and undoes the restore
    from anywhere."""
    import json

    cfg = _school_config(tmp_path, school_url)
    here = ["--config", str(cfg), "--target", "school"]
    res = run_in(cfg.parent, *here, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    res = run_in(cfg.parent, *here, "backup", "create", "--json")
    assert res.code == 0, res.err
    backup_id = json.loads(res.out)["id"]
    _write(school_url, "INSERT INTO t VALUES ('after')")
    res = run_in(cfg.parent, *here, "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    assert _rows(school_url) == ["before"]
    undo = printed(res.err, "to undo: ")
    assert "s3cret" not in res.err + res.out
    again = run_in(tmp_path / "elsewhere", *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert _rows(school_url) == ["after", "before"]
    assert not (cfg.parent / "local.db").exists(), "the default target was opened"


def test_a_half_done_recovers_way_out_names_the_same_target(
    school_url: str, tmp_path: Path
) -> None:
    """A recover stopped half-way is said by `status` (and refused by `up`, `import`, `sync`)
    with "run `malnu-tui recover --to T` again to finish it, or undo it with `malnu-tui backup
    restore P`": both named no target, so from another directory the undo looked for P among
    the default target's backups, and the recover ran on the default target's database. Both
    now name the config and the target; the undo, run from elsewhere, undoes it."""
    import json

    from malnu_tui.engine.config import Target, open_backend
    from malnu_tui.engine.recover_state import started_row

    cfg = _school_config(tmp_path, school_url)
    here = ["--config", str(cfg), "--target", "school"]
    assert run_in(cfg.parent, *here, "up", "--yes", "--no-backup").code == 0
    made = run_in(cfg.parent, *here, "backup", "create", "--json")
    assert made.code == 0, made.err
    _write(school_url, "INSERT INTO t VALUES ('after')")
    pre = run_in(cfg.parent, *here, "backup", "create", "--json")
    assert pre.code == 0, pre.err
    _write(school_url, "DELETE FROM t")
    conf = cfg.parent
    b = open_backend(
        Target("school", school_url, conf / "migrations", conf / "rollback", tmp_path / "b")
    )
    b.ensure_schema()
    mark = started_row("2026-12-06T01:55:00+00:00", json.loads(made.out)["id"],
                       json.loads(pre.out)["id"], 1)  # fmt: skip
    b.append_audit(mark)
    b.close()

    checked = run_in(cfg.parent, *here, "check")  # its CRITICAL line, read far from here
    assert checked.code == 2, checked.out
    res = run_in(cfg.parent, *here, "status")
    assert res.code == 0, res.err
    undo = printed(res.err, "undo it with `")
    assert printed(checked.out, "undo it with `") == undo, checked.out
    assert "s3cret" not in res.err
    again = run_in(tmp_path / "elsewhere", *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert _rows(school_url) == ["after", "before"]
    finish = printed(res.err, "run `")
    assert finish[:3] == ["recover", "--to", "2026-12-06T01:55:00+00:00"], finish
    assert "--config" in finish and "--target" in finish, finish
    assert finish[finish.index("--config") + 1] == str(cfg), finish
    assert finish[finish.index("--target") + 1] == "school", finish
    assert not (cfg.parent / "local.db").exists(), "the default target was opened"


def test_a_hints_command_names_the_same_target(school_url: str, tmp_path: Path) -> None:
    """The commands a hint or warning quotes (`malnu-tui repair`, `unlock`, `clear-failed
    FILE`, `adopt`, …) named no target: `up`'s "accept the edit with `malnu-tui repair`", run
    from another directory, repaired the default target's database (or none), and `up` went
    on refusing. Each now carries the options of the target worked on."""
    cfg = _school_config(tmp_path, school_url)
    here = ["--config", str(cfg), "--target", "school"]
    assert run_in(cfg.parent, *here, "up", "--yes", "--no-backup").code == 0
    applied = cfg.parent / "migrations" / "20250101_000100_t.sql"
    applied.write_text(applied.read_text() + "-- reviewed\n")
    (cfg.parent / "migrations" / "20250101_000200_u.sql").write_text("CREATE TABLE u (v TEXT);\n")
    (cfg.parent / "rollback" / "20250101_000200_u.sql").write_text("DROP TABLE u;\n")
    res = run_in(cfg.parent, *here, "up", "--yes", "--no-backup")
    assert res.code != 0, res.err
    repair = printed(res.err, "accept the edit with `")
    assert repair[0] == "repair" and "s3cret" not in res.err, repair
    again = run_in(tmp_path / "elsewhere", *repair, "--yes")
    assert again.code == 0, (repair, again.err)
    res = run_in(cfg.parent, *here, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert not (cfg.parent / "local.db").exists(), "the default target was opened"


def test_sync_verifys_note_names_the_pair_and_config(tmp_path: Path) -> None:
    """`sync verify reporting` said of a table the destination lacks "`malnu-tui sync` copies
    it": run from another directory that found no config ("sync needs --from TARGET and --to
    TARGET", exit 2). It now names the pair and the config, and copies the table."""
    import sqlite3

    conf = tmp_path / "conf"
    conf.mkdir()
    (tmp_path / "elsewhere").mkdir()
    with sqlite3.connect(conf / "primary.db") as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'a'), (2, 'b')")
    cfg = conf / "malnu.toml"
    cfg.write_text(
        '[targets.primary]\nurl = "sqlite:primary.db"\n\n'
        '[targets.copy]\nurl = "sqlite:copy.db"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n'
    )
    res = run_in(conf, "--config", str(cfg), "sync", "verify", "reporting")
    assert res.code == 1, res.err
    sync = printed(res.err.split("no table users at the destination copy")[1], "`")
    again = run_in(tmp_path / "elsewhere", *sync, "--yes")
    assert again.code == 0, (sync, again.err)
    assert sync[:2] == ["sync", "reporting"], sync
    with sqlite3.connect(conf / "copy.db") as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (2,)


def test_doctors_fixes_and_the_alerts_commands_name_their_target(tmp_path: Path) -> None:
    """`doctor`'s fixes and `check`'s problems (its lines, its JSON, the alert a webhook is
    sent) quoted bare commands (`malnu-tui adopt`): copied from the alert or from a
    `doctor --all` over two targets and run elsewhere, they acted on the default target, or
    on none. They now carry --config PATH --target NAME, and do what they say from anywhere."""
    import sqlite3

    from tests.webhook_support import Receiver

    conf, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    (conf / "migrations").mkdir(parents=True)
    (conf / "rollback").mkdir()
    elsewhere.mkdir()
    name = "20250101_000100_users.sql"
    (conf / "migrations" / name).write_text("CREATE TABLE users (id INTEGER PRIMARY KEY);\n")
    (conf / "rollback" / name).write_text("DROP TABLE users;\n")
    with sqlite3.connect(conf / "school.db") as db:  # as `wrangler d1 migrations apply` left it
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
                   "applied_at TEXT DEFAULT CURRENT_TIMESTAMP)")  # fmt: skip
        db.execute("INSERT INTO d1_migrations (name) VALUES (?)", (name,))
    receiver = Receiver("T000/B000/PrintedCmd")
    try:
        cfg = conf / "malnu.toml"
        cfg.write_text(
            f'[backup]\ndir = "{tmp_path / "b"}"\n'
            '[targets.local]\nurl = "sqlite:local.db"\n'
            'migrations_dir = "migrations"\nrollback_dir = "rollback"\n\n'
            '[targets.school]\nurl = "sqlite:school.db"\n'
            'migrations_dir = "migrations"\nrollback_dir = "rollback"\n\n'
            f'[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\ntimeout = 5\n'
        )
        res = run_cli("--config", str(cfg), "doctor", "--all", cwd=conf)
        line = next(x for x in res.out.splitlines() if " school other runner" in x)
        dry = printed(line, "without running them: `")
        assert dry[:2] == ["adopt", "--dry-run"], line
        again = run_cli(*dry, cwd=elsewhere)
        assert again.code == 0 and f"adopt {name}" in again.err, (dry, again.err)

        at_school = ["--config", str(cfg), "--target", "school"]
        assert (
            run_cli(*at_school, "unlock", cwd=conf).code == 0
        )  # the tool's tables made: checkable
        res = run_cli(*at_school, "check", "--alert", cwd=conf)
        sent = [b["message"] for b in receiver.bodies if b["check"] == "other_history"]
        assert len(sent) == 1, (receiver.bodies, res.err)
        adopt = printed(sent[0], "run `")
        assert adopt[0] == "adopt" and f"school other_history: {sent[0]}" in res.out, res.out
        again = run_cli(*adopt, cwd=elsewhere)
        assert again.code == 0 and "adopted 1 migration(s)" in again.err, (adopt, again.err)
        with sqlite3.connect(conf / "school.db") as db:
            assert db.execute("SELECT filename FROM migrations").fetchall() == [(name,)]
        assert not (conf / "local.db").exists(), "the default target was opened"
    finally:
        receiver.stop()


def test_rollback_undo_line_runs_from_elsewhere(tmp_path: Path) -> None:
    """`rollback` said `safety backup: ID (restore it to undo this rollback)`: at 2 a.m. the
    operator had to make up the command, and `backup restore ID` typed from another directory
    looked among the default target's backups. It prints the command, naming the config and
    the target, as `backup restore`'s undo line does; run from elsewhere it brings back what
    the rollback dropped."""
    url = f"sqlite:///{tmp_path / 'conf' / 'school.db'}"
    cfg = _school_config(tmp_path, url)
    here = ["--config", str(cfg), "--target", "school"]
    assert run_cli(*here, "up", "--no-backup").code == 0
    res = run_cli(*here, "rollback", "--yes")
    assert res.code == 0, res.err
    undo = printed(res.err, "to undo this rollback: ")
    assert undo[:2] == ["backup", "restore"] and undo[3:5] == ["--config", str(cfg)], undo
    again = run_cli(*undo, "--yes")  # from the repository, whose ./migrations is another set
    assert again.code == 0, (undo, again.err)
    assert _rows(url) == ["before"]
    assert not (cfg.parent / "local.db").exists(), "the default target was opened"


def test_rollback_steps_and_unrelated_history_hints_name_the_same_target(tmp_path: Path) -> None:
    """`rollback`'s out-of-order note ("`rollback --steps 2` undoes it too") and `up`'s
    refusal of another tool's history ("`up --unrelated-history`") were quoted without
    `malnu-tui` and without the target: run from another directory they acted on the
    default target. Both now print the whole command; run as printed from elsewhere, they act
    on the database the note was about."""
    import sqlite3

    db = tmp_path / "conf" / "school.db"
    cfg = _school_config(tmp_path, f"sqlite:///{db}")
    here, elsewhere = ["--config", str(cfg), "--target", "school"], tmp_path / "elsewhere"
    mig, rb = cfg.parent / "migrations", cfg.parent / "rollback"
    with sqlite3.connect(db) as conn:  # an application's own Alembic history, nothing of ours
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('eb9562d19265')")
    conn.close()
    res = run_cli(*here, "up", "--yes", "--no-backup")
    assert res.code != 0 and "up --unrelated-history" in res.err, res.err
    up = printed(res.err, "(not this set's history: `")
    assert up[:2] == ["up", "--unrelated-history"] and "--target" in up, up
    assert run_in(elsewhere, *up, "--yes", "--no-backup").code == 0, up
    assert _rows(f"sqlite:///{db}") == ["before"]
    # t3 applied, then t2 (an older version, a merged branch): applied out of order, later
    for version, name in (("20250103_000100", "t3"), ("20250102_000100", "t2")):
        (mig / f"{version}_{name}.sql").write_text(f"CREATE TABLE {name} (x INTEGER);\n")
        (rb / f"{version}_{name}.sql").write_text(f"DROP TABLE {name};\n")
        assert run_cli(*here, "up", "--yes", "--no-backup").code == 0
    with sqlite3.connect(db) as conn:
        for day, version in ((1, "20250101"), (3, "20250103"), (4, "20250102")):
            conn.execute(f"UPDATE migrations SET executed_at = '2025-01-0{day} 08:00:00' "
                         f"WHERE filename LIKE '{version}%'")  # fmt: skip
    conn.close()
    res = run_cli(*here, "rollback", "--dry-run")
    assert res.code == 0, res.err
    steps = printed(res.err, "so it stays applied (`")
    assert steps[:3] == ["rollback", "--steps", "2"] and "--target" in steps, steps
    assert run_in(elsewhere, *steps, "--yes", "--no-backup").code == 0, steps
    with sqlite3.connect(db) as conn:
        left = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"t", "t2", "t3"} & left == {"t"}, left
    # t3 applied again, t2 left pending: `rollback --to` t2 notes that t2 is not applied, and
    # names the `up --to` that applies it, whole.
    held = (mig / "20250102_000100_t2.sql").rename(tmp_path / "t2.sql")
    assert run_cli(*here, "up", "--yes", "--no-backup").code == 0
    held.rename(mig / "20250102_000100_t2.sql")
    res = run_cli(*here, "rollback", "--to", "20250102_000100", "--dry-run")
    assert res.code == 0, res.err
    up = printed(res.err, "leaves it pending (`")
    assert up[:2] == ["up", "--to"] and "--target" in up, up
    assert run_in(elsewhere, *up, "--yes", "--no-backup").code == 0, up
    with sqlite3.connect(db) as conn:
        left = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"t", "t2", "t3"} & left == {"t", "t2", "t3"}, left
    assert not (cfg.parent / "local.db").exists(), "the default target was opened"


def test_a_config_s_own_directories_are_not_repeated_in_a_printed_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from the config's folder (the usual set-up: malnu.toml beside migrations/ and
    rollback/), every undo line and hint also said `--migrations-dir /srv/…/migrations
    --rollback-dir /srv/…/rollback`, the config's own `migrations_dir`/`rollback_dir`, which
    `--config … --target …` already finds from anywhere (the README: only "when they were not
    the config's own"). A directory the config does not name, found in the current directory,
    is still named: from elsewhere it would not be found."""
    from malnu_tui.engine.config import load_settings, resolve_target
    from malnu_tui.engine.rerun import command

    for d in ("migrations", "rollback"):
        (tmp_path / d).mkdir()
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        '[targets.named]\nurl = "sqlite:a.db"\nmigrations_dir = "migrations"\n'
        'rollback_dir = "rollback"\n\n[targets.found]\nurl = "sqlite:b.db"\n'
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config=str(cfg), env={})
    named = command(settings, resolve_target(settings, name="named", env={}), "unlock")
    assert named == f"malnu-tui unlock --config {cfg} --target named"
    found = command(settings, resolve_target(settings, name="found", env={}), "unlock")
    assert found == (
        f"malnu-tui unlock --config {cfg} --target found --migrations-dir "
        f"{tmp_path / 'migrations'} --rollback-dir {tmp_path / 'rollback'}"
    )
