"""PRODUCT.md's promise "secrets are never printed or logged", command by command: every
command of the CLI run as a real process against a real PostgreSQL cluster with a password
that logs in (percent-encoded, or in ``?password=``) and with ones that do not (wrong, a raw
``@``, an unreachable port, a database that does not exist), in debug mode with a debug log
file, webhooks with tokens in their paths, and ``check --alert``; then D1 error replies that
quote the API token raw. Searched: stdout, stderr, every file the tool wrote (debug log,
backups and their manifests, the Prometheus file, the incident state, rejects), every row of
the databases it wrote (tracking, audit, run log, ``malnu_sync``) and every webhook body."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.d1server import D1Server, Fault
from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import ACCOUNT
from tests.fixtures_pg import PgCluster
from tests.secret_support import d1_config, marker_leaks, password_only_database
from tests.secret_support import files_leaking as files_in
from tests.webhook_support import Receiver

# Five-character markers at both ends of every secret (see test_secrets_realworld: shorter
# ones turn up by chance in compressed dumps).
HEAD, TAIL = "Vb3Nq", "K8jRt"
ROLE = "malnu_sweep_pw"
PASSWORD = f"{HEAD}@:/%40 pw{TAIL}"  # a raw @ : / and a "%40" that must stay "%40"
NO_PG_ENV = {"PGPASSWORD": "", "PGPASSFILE": "/nonexistent", "PGCONNECT_TIMEOUT": "5"}


def leaks(text: str) -> list[str]:
    return marker_leaks(text, (HEAD, TAIL))


def files_leaking(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    return files_in(root, (HEAD, TAIL), skip)


@pytest.fixture
def sweep_db(pg_cluster: PgCluster) -> Iterator[str]:
    """A database of its own, owned by a role that logs in with PASSWORD only (scram):
    ``host:port/dbname``."""
    with password_only_database(pg_cluster, ROLE, "sweep", PASSWORD) as db:
        yield f"{pg_cluster.host}:{pg_cluster.port}/{db}"


ENCODED = quote(PASSWORD, safe="")
# name → (URL with {where} for host:port/db, whether it logs in)
VARIANTS = {
    "percent-encoded": (f"postgresql://{ROLE}:{ENCODED}@{{where}}", True),
    "query-password": (f"postgresql://{ROLE}@{{where}}?sslmode=disable&password={ENCODED}", True),
    "wrong-password": (f"postgresql://{ROLE}:{HEAD}-wrong%40-{TAIL}@{{where}}", False),
    "raw-at-sign": (f"postgresql://{ROLE}:{HEAD}@:/{TAIL}@{{where}}", False),
    "unreachable": (f"postgresql://{ROLE}:{ENCODED}@127.0.0.1:1/school", False),
    "no-such-database": (f"postgresql://{ROLE}:{ENCODED}@{{host}}/no_such_db_here", False),
}


def _commands(prom: Path, dest: Path, csv: Path) -> list[tuple[str, ...]]:
    """Every command, in an order in which each has something to work on."""
    return [
        ("up", "--yes"),
        ("status",),
        ("status", "--json"),
        ("verify",),
        ("backup", "create"),
        ("backup", "list", "--json"),
        ("backup", "verify", "{backup}", "--deep"),
        ("plan", "--all"),
        ("diff",),
        ("parity",),
        ("lint", "--all", "--json"),
        ("test",),
        ("rehearse",),
        ("import", str(csv), "--table", "users", "--key", "id", "--yes"),
        ("import", str(csv), "--table", "users", "--dry-run"),
        ("sync", "--from", "school", "--to", f"sqlite:///{dest}", "--tables", "users", "--yes"),
        ("sync", "verify", "--from", "school", "--to", f"sqlite:///{dest}", "--tables", "users"),
        ("sync", "status", "--to", f"sqlite:///{dest}", "--json"),
        ("repair", "--yes"),
        ("unlock", "--yes"),
        ("up", "--yes"),  # a failing migration: its error row, and a problem for check
        ("check",),
        ("check", "--json", "--prometheus", str(prom), "--alert"),
        ("doctor",),
        ("doctor", "--json"),
        ("history", "--json"),
        ("log",),
        ("log", "--json"),
        ("clear-failed", "20250101_000900_broken.sql", "--yes"),
        ("rollback", "--yes"),
        ("backup", "restore", "{backup}", "--yes"),
        ("recover", "--to", "-1s", "--yes"),
        ("adopt", "--yes"),
        ("create", "after_the_sweep"),
        ("backup", "delete", "{backup}", "--yes"),
        ("backup", "prune", "--keep", "1", "--yes"),
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_command_prints_or_stores_the_postgres_password(
    variant: str,
    pg_cluster: PgCluster,
    sweep_db: str,
    mdirs: MigrationDirs,
    tmp_path: Path,
) -> None:
    template, logs_in = VARIANTS[variant]
    url = template.format(where=sweep_db, host=sweep_db.split("/")[0])
    d = school_set(mdirs)
    receiver = Receiver(f"{HEAD}-hook-{TAIL}")
    home = tmp_path / "home"
    dest, csv, prom = tmp_path / "copy.db", tmp_path / "users.csv", home / "malnu.prom"
    csv.write_text("id,email\n7,siti@malnu.sch.id\n8,budi@malnu.sch.id\n")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.school]\nurl = "{url}"\nmigrations_dir = "{d.migrations}"\n'
        f'rollback_dir = "{d.rollback}"\n[log]\nfile = "{home / "debug.log"}"\n'
        f'[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\n'
        f'timeout = 2\nretries = 0\n[[alerts.webhooks]]\nkind = "slack"\n'
        f'url = "http://127.0.0.1:1/services/T0/B0/{HEAD}slack{TAIL}?token={HEAD}{TAIL}"\n'
        f"timeout = 1\nretries = 0\n"
        f'[[alerts.webhooks]]\nkind = "json"\nurl = "http://127.0.0.1:1/{HEAD}-down-{TAIL}"\n'
        "timeout = 1\nretries = 0\n"
    )
    cfg.chmod(0o600)
    env = {**NO_PG_ENV, "MIGRATION_DEBUG": "1"}
    backup = "none"
    said: dict[tuple[str, ...], list[int]] = {}
    try:
        for i, args in enumerate(_commands(prom, dest, csv)):
            if args == ("up", "--yes") and i:
                d.add("20250101_000900", "broken", "INSERT INTO nowhere VALUES (1);", "SELECT 1;")
            argv = [a.replace("{backup}", backup) for a in args]
            # The URL on the command line too, every other command (and it is a secret there)
            base = ("--config", str(cfg)) if i % 2 else ("--config", str(cfg), "--database", url)
            res = run_cli(*base, *argv, env=env, timeout=120)
            said.setdefault(args, []).append(res.code)
            assert not leaks(res.out + res.err), (variant, args, res.out + res.err)
            assert "Traceback" not in res.err, (variant, args, res.err)
            if args == ("backup", "create") and res.code == 0:
                backup = res.out.split()[0]
            if not logs_in and args == ("status",):
                assert res.code == 1 and "***" in res.err, res.err
        bodies = json.dumps([{k: v for k, v in b.items() if k != "path"} for b in receiver.bodies])
    finally:
        receiver.stop()
    if logs_in:  # the paths did run: the sweep saw the tool at work, not only its refusals
        assert said[("up", "--yes")] == [0, 1] and said[("backup", "create")] == [0], said
        assert said[("import", str(csv), "--table", "users", "--key", "id", "--yes")] == [0]
        assert backup != "none" and said[("backup", "restore", "{backup}", "--yes")] == [0]
        assert (home / "debug.log").exists() and prom.exists()
    assert receiver.bodies and not leaks(bodies), bodies  # check --alert sent its problems
    assert files_leaking(tmp_path, skip=(cfg,)) == []
    if logs_in:
        rows = []
        with psycopg.connect(pg_cluster.url(sweep_db.split("/")[1])) as conn:
            for (table,) in conn.execute(
                "SELECT quote_ident(table_name) FROM information_schema.tables "
                "WHERE table_schema = 'public'"
            ).fetchall():
                rows += conn.execute(f"SELECT * FROM {table}").fetchall()
        assert any("broken" in repr(r) for r in rows) and not leaks(repr(rows)), rows
        with sqlite3.connect(dest) as copy:
            names = [
                r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            copied = [copy.execute(f'SELECT * FROM "{n}"').fetchall() for n in names]
        copy.close()
        assert "malnu_sync" in names and not leaks(repr(copied)), copied


TOKEN = f"{HEAD}-d1-0123456789abcdef-{TAIL}"
# What D1 (or a proxy before it) answers, quoting the token the way each would.
REPLIES = {
    "raw-401": (401, f"Invalid access token {TOKEN}"),
    "quoted-403": (403, f'Authentication error: token "{TOKEN}" may not use this account'),
    "param-400": (400, f"bad request: token={TOKEN}&account={ACCOUNT}"),
    "json-500": (500, json.dumps({"authorization": f"Bearer {TOKEN}", "token": TOKEN})),
    "overloaded-503": (503, f"D1 DB is overloaded. (request by {TOKEN})"),
}


@pytest.mark.parametrize("reply", list(REPLIES))
def test_d1_error_replies_quoting_the_token_are_masked(
    reply: str, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    status, message = REPLIES[reply]
    server = D1Server(tmp_path / "d1server", token=TOKEN).start()
    try:
        db = server.add_database(ACCOUNT)
        d = school_set(mdirs)
        log = f'[log]\nfile = "{tmp_path / "home" / "debug.log"}"\n'
        cfg = d1_config(tmp_path / "malnu.toml", db.account, db.id, d, log)
        env = {
            "CLOUDFLARE_API_TOKEN": TOKEN,
            "MALNU_D1_API_BASE": server.api_base,
            "MIGRATION_DEBUG": "1",
        }
        base = ("--config", str(cfg))
        assert run_cli(*base, "up", "--yes", env=env).code == 0
        made = run_cli(*base, "backup", "create", env=env)
        assert made.code == 0, made.err
        backup = made.out.split()[0]
        d.add("20250101_000400", "more", "CREATE TABLE more (id INTEGER);", "DROP TABLE more;")
        commands: list[tuple[str, ...]] = [
            ("status",),
            ("status", "--json"),
            ("up", "--yes"),
            ("rollback", "--yes"),
            ("backup", "create"),
            ("d1", "export", str(tmp_path / "dump.sql")),
            ("d1", "bookmark", "--at", "-1m"),
            ("check", "--json"),
            ("doctor", "--json"),
            ("log",),
            ("backup", "restore", backup, "--yes"),
            ("recover", "--to", "-1s", "--yes"),
            ("sync", "--from", "production", "--to", f"sqlite:///{tmp_path / 'c.db'}", "--yes"),
        ]
        for args, path in itertools.product(commands, ("/raw", "")):
            server.faults.clear()
            server.inject(Fault("status", count=50, status=status, path=path, message=message))
            res = run_cli(*base, *args, env=env)
            assert res.code != 0 or path, (reply, args, res.err)
            assert not leaks(res.out + res.err), (reply, args, path, res.out + res.err)
            assert "Traceback" not in res.err, (reply, args, res.err)
        server.faults.clear()
        assert run_cli(*base, "status", env=env).code == 0
        rows = server.sql(db, "SELECT * FROM malnu_audit") + server.sql(
            db, "SELECT * FROM migrations"
        )
        assert rows and not leaks(repr(rows)), rows
        assert files_leaking(tmp_path / "home") == []
        assert (tmp_path / "home" / "debug.log").exists()
    finally:
        server.stop()
