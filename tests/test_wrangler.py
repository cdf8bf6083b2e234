"""wrangler interop: the real ``wrangler d1 migrations apply --local`` (npm package, installed
once into a cache dir), then our ``status``/``wrangler-status``/``adopt`` on the local state it
leaves; and adopt from a remote (D1) ``d1_migrations`` table on the local D1 server."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.wrangler import (
    adopt,
    find_local_state,
    plan_adopt,
    read_from_backend,
    wrangler_status,
)
from malnu_tui.engine.backends.sqlite_sql import bind_literals
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.files import discover
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target

WRANGLER_VERSION = "4.86.0"
CACHE = Path(
    os.environ.get("MALNU_WRANGLER_CACHE", Path.home() / ".cache" / "malnu-tui-tests" / "wrangler")
)
DB_ID = "5b6c1f0e-0000-4000-8000-0123456789ab"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # xdist workers: one installs, the others wait
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def wrangler() -> Path:
    """The wrangler CLI, installed with npm into a cache dir on first use."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed: the real-wrangler interop test needs them")
    exe = CACHE / "node_modules" / ".bin" / "wrangler"
    with _locked(CACHE / ".install.lock"):
        version = CACHE / "node_modules" / "wrangler" / "package.json"
        if not exe.exists() or json.loads(version.read_text())["version"] != WRANGLER_VERSION:
            if not (CACHE / "package.json").exists():
                (CACHE / "package.json").write_text('{"private": true}\n')
            proc = subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(CACHE),
                    f"wrangler@{WRANGLER_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode == 0, f"npm install wrangler failed:\n{proc.stderr[-3000:]}"
    return exe


def run_wrangler(exe: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CI": "1",  # non-interactive: no confirmation prompt
        "WRANGLER_SEND_METRICS": "false",
        "NO_COLOR": "1",
        "WRANGLER_LOG_PATH": str(project / ".wrangler-logs"),
    }
    return subprocess.run(
        [str(exe), *args], cwd=project, env=env, capture_output=True, text=True, timeout=180
    )


def test_real_wrangler_local_state_status_and_adopt(wrangler: Path, mdirs: MigrationDirs) -> None:
    d = mdirs
    project = d.root
    # create-cloudflare's default config: JSON with comments and trailing commas. Only
    # wrangler.toml was read: wrangler's own table was taken for absent, `up` ran its
    # migrations a second time.
    (project / "wrangler.jsonc").write_text(
        '{\n  // create-cloudflare writes comments\n  "name": "malnu-site",\n'
        '  "main": "src//index.ts", /* a string is no comment */\n'
        '  "compatibility_date": "2025-01-01",\n  "d1_databases": [\n    {\n'
        f'      "binding": "DB", "database_name": "malnu-db", "database_id": "{DB_ID}",\n'
        '      "migrations_dir": "migrations",\n'
        '      "migrations_table": "wrangler_history", // not d1_migrations\n    },\n  ],\n}\n'
    )
    d.add(
        "20250101_000100",
        "create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);",
        "DROP TABLE users;",
    )
    d.add(
        "20250101_000200",
        "seed_admin",
        "INSERT INTO users (id, email) VALUES (1, 'admin@malnu.sch.id');",
        "DELETE FROM users WHERE id = 1;",
    )
    wr = run_wrangler(wrangler, project, "d1", "migrations", "apply", "malnu-db", "--local")
    assert wr.returncode == 0, wr.stdout + wr.stderr
    state = find_local_state(project)
    assert state.suffix == ".sqlite" and ".wrangler" in state.parts
    # A migration written after the switch: ours only.
    d.add(
        "20250101_000300",
        "index_users",
        "CREATE INDEX idx_users_email ON users(email);",
        "DROP INDEX idx_users_email;",
    )

    url = f"sqlite:///{state}"
    base = ["--database", url, *d.args()]
    res = run_cli(*base, "d1", "wrangler-status", "--wrangler-state", str(project), "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)["wrangler"]
    assert [(r["name"], r["in_files"], r["tracked"]) for r in rows] == [
        ("20250101_000100_create_users.sql", True, False),
        ("20250101_000200_seed_admin.sql", True, False),
    ]
    assert all(r["applied_at"].endswith("+00:00") for r in rows), rows  # (wrangler's: UTC)
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == ["pending"] * 3
    assert [r["name"] for r in json.loads(res.out)["wrangler"]] == [r["name"] for r in rows]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "wrangler already applied 2 pending migration(s)" in res.err

    res = run_cli(*base, "adopt", "--wrangler-state", str(project), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["adopted"] == [
        "20250101_000100_create_users.sql",
        "20250101_000200_seed_admin.sql",
    ]
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == [
        "applied",
        "applied",
        "pending",
    ]
    assert run_cli(*base, "adopt", "--wrangler-state", str(project)).code == 0  # idempotent
    res = run_cli(*base, "up", "--no-backup", "--json")
    assert res.code == 0, res.err
    assert [a["filename"] for a in json.loads(res.out)["applied"]] == [
        "20250101_000300_index_users.sql"
    ]
    res = run_cli(*base, "log", "--action", "adopt", "--json")
    assert res.code == 0 and "applied by wrangler" in res.out
    # Our `up` wrote its row into wrangler's own table: wrangler has nothing left to apply.
    wr = run_wrangler(wrangler, project, "d1", "migrations", "list", "malnu-db", "--local")
    assert wr.returncode == 0 and "No migrations to apply" in wr.stdout, wr.stdout + wr.stderr
    # wrangler still reads the state we wrote to (users seeded once, our tables beside its own).
    wr = run_wrangler(
        wrangler,
        project,
        "d1",
        "execute",
        "malnu-db",
        "--local",
        "--json",
        "--command",
        "SELECT count(*) AS n FROM users",
    )
    assert wr.returncode == 0, wr.stdout + wr.stderr
    assert json.loads(wr.stdout)[0]["results"] == [{"n": 1}]


def applied_by_wrangler(d1: D1Target, d: MigrationDirs, schema: str, names: list[str]) -> D1Backend:
    """The database as `wrangler d1 migrations apply --remote` leaves it: its own SQL (the
    ``d1_migrations`` table it creates, its rows named as its files) and the schema ran."""
    b = open_backend(Target("t", d1.url, d.migrations, d.rollback, d.root))
    assert isinstance(b, D1Backend)
    b.api.batch(
        [
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
            schema,
            *(bind_literals("INSERT INTO d1_migrations (name) values (?)", (n,)) for n in names),
        ],
        lambda: False,
    )
    return b


def test_adopt_from_remote_d1_history(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add("20250101_000100", "create_users", "CREATE TABLE users (id INTEGER PRIMARY KEY);")
    d.add("20250101_000200", "create_posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY);")
    # wrangler's own numbering, renamed to a timestamp when the team switched tools.
    d.add("20250101_000300", "add_roles", "ALTER TABLE users ADD COLUMN role TEXT;")
    b = applied_by_wrangler(
        d1,
        d,
        "CREATE TABLE users (id INTEGER PRIMARY KEY)",
        ["20250101_000100_create_users.sql", "0002_add_roles.sql", "0003_legacy_name.sql"],
    )
    applied = read_from_backend(b)
    assert [w.name for w in applied] == [
        "20250101_000100_create_users.sql",
        "0002_add_roles.sql",
        "0003_legacy_name.sql",
    ]
    mset = discover(d.migrations, d.rollback)
    plan = plan_adopt(mset, applied, b.fetch_records(), "remote")
    assert plan.unmatched == ("0003_legacy_name.sql",)
    assert adopt(b, plan).adopted == (
        "20250101_000100_create_users.sql",
        "20250101_000300_add_roles.sql",
    )
    recs = {r.filename: r.success for r in b.fetch_records()}
    assert recs == {
        "20250101_000100_create_users.sql": True,
        "20250101_000300_add_roles.sql": True,
    }
    assert "as 0002_add_roles.sql" in b.read_audit(action="adopt")[0].detail
    assert "d1_migrations" not in b.table_names()
    # Once adopted, wrangler's 0002_add_roles.sql is that file, tracked: `status` used to say
    # "wrangler applied … this tool does not track: run adopt" for ever after.
    rows = wrangler_status(mset, read_from_backend(b), b.fetch_records())
    assert [(r.name, r.in_files, r.tracked) for r in rows] == [
        ("20250101_000100_create_users.sql", True, True),
        ("0002_add_roles.sql", True, True),
        ("0003_legacy_name.sql", False, False),
    ]
    # A row naming no file here is no warning: `status` said "wrangler applied … this tool
    # does not track: run adopt", `check` WARNING "up refuses", and adopt had nothing to do.
    from malnu_tui.engine.histories import read_other_histories
    from malnu_tui.engine.status import status

    notes = read_other_histories(b, mset, status(b, mset)).notes()
    assert [(n.warning, n.line.split(" (")[0]) for n in notes] == [
        (False, "note: wrangler's d1_migrations names 1 migration(s) with no file here")
    ], notes
    assert "0003_legacy_name.sql" in notes[0].text
    b.close()


def test_real_wrangler_remote_against_the_local_d1_server(
    wrangler: Path, d1: D1Target, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wrangler's own client speaks to the stand-in server (which checks the server's JSON
    against the real client), and the two tools share one remote history."""
    d = mdirs
    project = d.root
    # The production database is an environment's (`d1_databases` is not inherited), with
    # its own migrations_table; the top level's is the staging one.
    (project / "wrangler.jsonc").write_text(
        '{"name": "malnu-site", "compatibility_date": "2025-01-01",\n'
        ' "d1_databases": [{"binding": "DB", "database_name": "malnu-db",\n'
        '   "database_id": "00000000-0000-4000-8000-000000000000"}],\n'
        ' "env": {"production": {"d1_databases": [{"binding": "DB", "database_name": "malnu-db",'
        f'\n   "database_id": "{d1.db.id}", "migrations_table": "prod_history",}}],}}}}}}\n'
    )
    d.add("20250101_000100", "create_users", "CREATE TABLE users (id INTEGER PRIMARY KEY);")
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", d1.server.api_base)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", d1.db.account)
    apply = ("d1", "migrations", "apply", "malnu-db", "--remote", "--env", "production")
    wr = run_wrangler(wrangler, project, *apply)
    assert wr.returncode == 0, wr.stdout + wr.stderr
    assert d1.sql("SELECT name FROM prod_history") == [("20250101_000100_create_users.sql",)]
    base = ["--database", d1.url, *d.args()]
    # From another directory (a cron job's home): the config found from the migration files.
    elsewhere = project.parent / f"{project.name}-elsewhere"
    elsewhere.mkdir()
    res = run_cli(*base, "up", "--no-backup", cwd=elsewhere)
    assert res.code == 1 and "wrangler already applied 1 pending" in res.err, res.err
    res = run_cli(*base, "adopt", "--json", cwd=project)
    assert res.code == 0, res.err
    assert json.loads(res.out)["adopted"] == ["20250101_000100_create_users.sql"]
    res = run_cli(*base, "d1", "bookmark")
    before_import = res.out.strip()
    # wrangler's import path (init → upload → ingest → poll) against the stand-in.
    data = project / "seed.sql"
    data.write_text("INSERT INTO users (id) VALUES (1), (2);\n")
    env = ("--env", "production")
    wr = run_wrangler(
        wrangler, project, "d1", "execute", "malnu-db", "--remote", "--file", str(data), *env
    )
    assert wr.returncode == 0, wr.stdout + wr.stderr
    assert d1.sql("SELECT count(*) FROM users") == [(2,)]
    wr = run_wrangler(
        wrangler,
        project,
        "d1",
        "time-travel",
        "restore",
        "malnu-db",
        "--bookmark",
        before_import,
        "--json",
        *env,
    )
    assert wr.returncode == 0, wr.stdout + wr.stderr
    assert json.loads(wr.stdout)["bookmark"] == before_import
    assert d1.sql("SELECT count(*) FROM users") == [(0,)]
    res = run_cli(*base, "status", "--json")
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == ["applied"]


def test_rollback_of_an_adopted_migration_clears_wranglers_own_name(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """wrangler applied 0002_add_kelas.sql; the team renamed it to a timestamp and adopted
    it. Rolled back, its wrangler row stayed: wrangler took the column for there, and `up`
    refused to add it back ("wrangler already applied it": run adopt, which would have
    recorded it without running it)."""
    d = mdirs
    d.add("20250101_000100", "init", "CREATE TABLE siswa (id INTEGER PRIMARY KEY);")
    d.add(
        "20250101_000200",
        "add_kelas",
        "ALTER TABLE siswa ADD COLUMN kelas TEXT;",
        "ALTER TABLE siswa DROP COLUMN kelas;",
    )
    applied_by_wrangler(
        d1,
        d,
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas TEXT)",
        ["0001_init.sql", "0002_add_kelas.sql"],
    ).close()
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "adopt", "--yes").code == 0
    res = run_cli(*base, "rollback", "--steps", "1", "--no-backup", "--yes")
    assert res.code == 0, res.err
    # (adopt gave each renamed file its new name there too: wrangler reads the renamed dir)
    kept = [("0001_init.sql",), ("20250101_000100_init.sql",)]
    assert d1.sql("SELECT name FROM d1_migrations ORDER BY id") == kept
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0, res.err
    assert "kelas" in str(d1.sql("SELECT sql FROM sqlite_master WHERE name = 'siswa'"))
    assert d1.sql("SELECT name FROM d1_migrations ORDER BY id") == [
        *kept,
        ("20250101_000200_add_kelas.sql",),
    ]


def test_wranglers_config_is_found_and_read_as_wrangler_does(tmp_path: Path) -> None:
    """Only ``wrangler.toml`` beside the command was read: a wrangler.jsonc (create-cloudflare's
    default), a wrangler.json, a config in a folder above, an environment's database, were all
    taken for "no migrations_table" (d1_migrations, the wrong history)."""
    from malnu_tui.engine.backends.d1.wrangler import table_from_config
    from malnu_tui.engine.errors import ConfigError

    top, sub = tmp_path / "repo", tmp_path / "repo" / "apps" / "site"
    sub.mkdir(parents=True)
    db = '[[d1_databases]]\nbinding = "DB"\ndatabase_id = "{}"\nmigrations_table = "{}"\n'
    (sub / "wrangler.toml").write_text(db.format("a", "from_toml"))
    assert table_from_config(sub) == "from_toml"
    (sub / "wrangler.jsonc").write_text(
        '/* a block\n comment */ {"d1_databases": [ // a line comment\n'
        '  {"database_id": "a", "migrations_dir": "db/m", "migrations_table": "from_jsonc",},\n'
        '  {"database_id": "b", "preview_database_id": "x//y", "migrations_table": "from_jsonc"},'
        "\n],}\n"
    )
    assert table_from_config(sub) == "from_jsonc"  # .jsonc before .toml
    (top / "wrangler.json").write_text('{"d1_databases": [{"migrations_table": "from_json"}]}')
    assert table_from_config(sub) == "from_json"  # .json anywhere up the tree comes first
    assert table_from_config(tmp_path) is None  # none found: wrangler's default
    (top / "wrangler.json").write_text(
        '{"d1_databases": [{"database_id": "stage", "migrations_table": "stage_history"}],\n'
        ' "env": {"production": {"d1_databases": [{"database_id": "prod"}]},\n'
        '         "preview": {"d1_databases": [{"database_id": "prev", "migrations_table": "p"}]}}}'
    )
    assert table_from_config(sub, "stage") == "stage_history"
    assert table_from_config(sub, "prod") == "d1_migrations"  # its own: not inherited
    assert table_from_config(sub, "prev") == "p"
    assert table_from_config(sub, "another-project") is None  # not this config's database
    with pytest.raises(ConfigError, match=r"wrangler\.json: its D1 databases name different"):
        table_from_config(sub)  # which one is meant cannot be told: never a guess
    (top / "wrangler.json").write_text('{"d1_databases": [\n  {"migrations_table": "x"\n]}')
    with pytest.raises(ConfigError, match=r"wrangler\.json:3: not valid JSON"):
        table_from_config(sub)


def test_a_local_state_of_two_databases_is_read_by_its_configs_table(tmp_path: Path) -> None:
    """wrangler's local state of a project with two D1 databases, the migrated one's history
    in its config's migrations_table: only d1_migrations was looked for, so neither file
    "held wrangler's table" ("several wrangler local databases") and the table could not be
    chosen either. The database that has the config's table is the one read."""
    import sqlite3

    from malnu_tui.engine.backends.d1.wrangler import read_local_state, table_from_config

    state = tmp_path / ".wrangler" / "state" / "v3" / "d1" / "miniflare-D1DatabaseObject"
    state.mkdir(parents=True)
    with sqlite3.connect(state / "a1.sqlite") as db:  # as wrangler leaves a migrated database
        db.execute("CREATE TABLE wrangler_history (id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
                   "applied_at TEXT DEFAULT CURRENT_TIMESTAMP)")  # fmt: skip
        db.execute("INSERT INTO wrangler_history (name) VALUES ('0001_init.sql')")
    with sqlite3.connect(state / "b2.sqlite") as db:  # the cache the app fills itself
        db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    (tmp_path / "wrangler.jsonc").write_text(
        '{"d1_databases": [{"binding": "DB", "database_id": "a", '
        '"migrations_table": "wrangler_history"}, {"binding": "CACHE", "database_id": "b"}]}'
    )
    table = table_from_config(tmp_path)
    assert table == "wrangler_history"
    assert find_local_state(tmp_path, table) == state / "a1.sqlite"
    assert [w.name for w in read_local_state(tmp_path, table)] == ["0001_init.sql"]
