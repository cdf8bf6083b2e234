"""PRODUCT.md's CLI contract, command by command on every backend: "Without a TTY and without
`--yes` it refuses" for each destructive command (the database, its tracking, audit trail,
lock and backups exactly as they were, also with "yes" piped on stdin); exit 3 for each one
while another operator holds the lock; and ``--json`` output that is one JSON document on
stdout and nothing else, in debug mode too (its lines go to stderr and the log file)."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.backup.store import list_backups
from malnu_tui.engine.config import load_settings, resolve_target
from malnu_tui.engine.errors import LockHolder
from tests.fixtures_core import MigrationDirs, next_second, run_cli, school_set, zoneless_times
from tests.fixtures_matrix import DbTarget

CSV = "id,email\n7,siti@malnu.sch.id\n8,budi@malnu.sch.id\n"


def _prepared(db_target: DbTarget, d: MigrationDirs, tmp_path: Path) -> tuple[str, str]:
    """Three migrations applied, two backups (ids returned, oldest first), a failed fourth
    migration's row, a CSV file and a sync destination's path beside them."""
    school_set(d)
    assert db_target.cli(d, "up", "--no-backup").code == 0
    ids = []
    for _ in range(2):
        made = db_target.cli(d, "backup", "create")
        assert made.code == 0, made.err
        ids.append(made.out.split()[0])
    d.add("20250101_000400", "broken", "INSERT INTO nowhere VALUES (1);", "SELECT 1;")
    assert db_target.cli(d, "up", "--no-backup").code == 1
    listed = db_target.cli(d, "backup", "list", "--json")  # what _state reads, as it lists
    assert listed.code == 0, listed.err
    assert sorted(b["id"] for b in json.loads(listed.out)) == _state(db_target, d)["backups"]
    (tmp_path / "users.csv").write_text(CSV)
    next_second()  # `recover --to -1s`: the backups are from before then
    next_second()
    return ids[0], ids[1]


def _state(db_target: DbTarget, d: MigrationDirs) -> dict[str, Any]:
    """What a refused command must leave as it was."""
    backend = db_target.open(d)
    try:
        tables = sorted(backend.table_names())
        lock = backend.read_lock()
        state: dict[str, Any] = {
            "records": sorted(repr(r) for r in backend.fetch_records()),
            "audit": [repr(a) for a in backend.read_audit(limit=1000)],
            "lock": dataclasses.replace(lock, lease_left=None) if lock else None,
            "rows": {t: backend.row_count(t) for t in tables},
            "schema": backend.schema_fingerprint(),
        }
    finally:
        backend.close()
    # The target's backup store, read here as `backup list` reads it (a CLI run for it, three
    # a command, was a third of these tests' runs).
    store = resolve_target(
        load_settings(env={**os.environ, **db_target.env}),
        database=db_target.url,
        migrations_dir=str(d.migrations),
        rollback_dir=str(d.rollback),
        env={**os.environ, **db_target.env},
    ).backup_dir
    state["backups"] = sorted(m.id for m in list_backups(store))
    return state


# Each destructive command, with what it needs ({old}/{new}: the two backups, {csv}, {dest}).
DESTRUCTIVE = {
    "rollback": ("rollback",),
    "rollback --to": ("rollback", "--to", "20250101_000100"),
    "backup restore": ("backup", "restore", "{old}"),
    "recover": ("recover", "--to", "-1s"),
    "clear-failed": ("clear-failed", "20250101_000400_broken.sql"),
    "repair": ("repair",),
    "unlock": ("unlock",),
    "import": ("import", "{csv}", "--table", "users"),
    "sync": ("sync", "--from", "{url}", "--to", "sqlite:///{dest}", "--tables", "users"),
    "backup delete": ("backup", "delete", "{old}"),
    "backup prune": ("backup", "prune", "--keep", "1"),
}


def _edited(d: MigrationDirs) -> Callable[[], None]:
    """An applied file edited (something for `repair` to repair); returns its undoing."""
    first = d.migrations / "20250101_000100_create_users.sql"
    text = first.read_text()
    first.write_text(text + "-- edited\n")

    def undo() -> None:
        first.write_text(text)

    return undo


def test_a_destructive_command_without_a_terminal_or_yes_refuses_and_changes_nothing(
    db_target: DbTarget, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Every destructive command in turn on one prepared database (each refuses, so each
    finds it as the one before left it: exactly as prepared). The prepared state is read once
    and every run is compared with it (with `unlock`'s lock, read again): a run that changed
    anything differs from it, as from a state read again before each command."""
    d = mdirs
    old, new = _prepared(db_target, d, tmp_path)
    prepared = _state(db_target, d)
    assert new in prepared["backups"]
    for command, words in DESTRUCTIVE.items():
        args = [
            a.format(
                old=old, csv=tmp_path / "users.csv", dest=tmp_path / "copy.db", url=db_target.url
            )
            for a in words
        ]
        undo = _edited(d) if command == "repair" else None
        holder = None
        if command == "unlock":  # a lock to release: another operator's
            holder = db_target.open(d)
            holder.acquire_lock(LockHolder("ops@box-b", "box-b", 4242, utc_now(), note="up"))
        try:
            before = _state(db_target, d) if holder is not None else prepared
            for stdin in (None, "yes\n"):
                res = db_target.cli(d, *args, input=stdin)
                assert res.code == 2, (command, stdin, res.code, res.out, res.err)
                assert "no terminal" in res.err and "--yes" in res.err, (command, res.err)
                assert res.out == "", (command, res.out)  # the plan and the refusal: messages
                assert _state(db_target, d) == before, command
            assert not (tmp_path / "copy.db").exists(), command
        finally:
            if holder is not None:
                holder.release_lock()
                holder.close()
            if undo is not None:
                undo()
        assert new in before["backups"], command


# Each command that takes the lock, run with --yes while another operator holds it.
LOCKING = {
    **{k: v for k, v in DESTRUCTIVE.items() if k not in ("unlock", "backup delete")},
    "up": ("up",),
}


def test_another_operator_holding_the_lock_is_exit_3_for_every_command(
    db_target: DbTarget, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Every command that takes the lock in turn, one prepared database, one holder."""
    d = mdirs
    old, _new = _prepared(db_target, d, tmp_path)
    src = tmp_path / "src.db"  # a sync's lock is the destination's: sync into this target
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO extra VALUES (1, 'a')")
    conn.close()
    holder = db_target.open(d)
    holder.acquire_lock(LockHolder("ops@box-b", "box-b", 4242, utc_now(), note="up"))
    try:
        # Read once, the lock held: every refused run is compared with it (the edited file
        # `repair` gets is not part of it), as the next command would find it.
        before = _state(db_target, d)
        for command, words in LOCKING.items():
            args = [
                a.format(
                    old=old,
                    csv=tmp_path / "users.csv",
                    dest=tmp_path / "copy.db",
                    url=db_target.url,
                )
                for a in words
            ]
            if command == "sync":
                args = ["sync", "--from", f"sqlite:///{src}", "--to", db_target.url]
                args += ["--tables", "extra"]
            undo = _edited(d) if command == "repair" else None
            try:
                res = db_target.cli(d, *args, "--yes")
                assert res.code == 3, (command, res.code, res.err)
                assert "ops@box-b" in res.err, (command, res.err)
                assert _state(db_target, d) == before, command
            finally:
                if undo is not None:
                    undo()
    finally:
        holder.release_lock()
        holder.close()


JSON_COMMANDS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "verify": ("verify",),
    "plan": ("plan", "--all"),
    "diff": ("diff",),
    "backup list": ("backup", "list"),
    "backup verify": ("backup", "verify", "{old}"),
    "log": ("log",),
    "history": ("history",),
    "lint": ("lint", "--all"),
    "check": ("check",),
    "doctor": ("doctor",),
    "up --dry-run": ("up", "--dry-run"),
    "rollback --dry-run": ("rollback", "--dry-run"),
    "import --dry-run": ("import", "{csv}", "--table", "users", "--dry-run"),
    "sync status": ("sync", "status", "--to", "{url}"),
    "clear-failed": ("clear-failed", "20250101_000400_broken.sql", "--yes"),
    "backup create": ("backup", "create"),
}


def test_json_output_is_one_document_on_stdout_in_debug_mode_too(
    db_target: DbTarget, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Every command with --json in turn, on one prepared database, with and without debug
    mode (clear-failed and backup create, which change it, last); every time in it with its
    offset."""
    d = mdirs
    old, new = _prepared(db_target, d, tmp_path)
    log = tmp_path / "debug.log"
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[log]\nfile = "{log}"\n')
    strict: Callable[[str], Any] = lambda text: json.loads(  # noqa: E731
        text, parse_constant=lambda word: pytest.fail(f"not JSON: {word}")
    )
    for command, words in JSON_COMMANDS.items():
        args = [a.format(old=old, csv=tmp_path / "users.csv", url=db_target.url) for a in words]
        for debug in ({}, {"MIGRATION_DEBUG": "1"}):
            if command == "clear-failed":  # the failed row again, for each run
                assert db_target.cli(d, "up", "--no-backup").code == 1
            res = run_cli(
                "--config", str(cfg), "--database", db_target.url, *d.args(), *args, "--json",
                env={**db_target.env, **debug}, timeout=180,
            )  # fmt: skip
            assert "Traceback" not in res.err, (command, res.err)
            try:  # the whole of stdout: one document, no message beside it
                doc = strict(res.out)
            except json.JSONDecodeError as exc:
                pytest.fail(f"{command} {debug}: {exc}: {res.out!r}")
            assert "debug:" not in res.out, command
            # Every time with its offset (README: ISO 8601 UTC), on every backend: PostgreSQL's
            # TIMESTAMP, SQLite's and D1's text read back as '2026-12-07 16:41:56'.
            assert zoneless_times(doc) == [], (command, res.out)
            if command == "status":
                for m in doc["migrations"]:
                    for key in ("version", "filename", "state", "checksum", "executed_at"):
                        assert key in m, (key, m)
                    assert "execution_time_ms" in m and "rollback_file" in m, m
            if command == "backup list":
                assert {b["id"] for b in doc} >= {old, new}, doc
                for b in doc:
                    assert {"id", "created_at", "size", "sha256", "reason"} <= set(b), b
    assert log.exists()  # debug mode was on, its file configured: its lines went there


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:99999/hook/Vb3Nq-K8jRt", "has a port out of range (1-65535)"),
        ("http://[::1/hook/Vb3Nq-K8jRt", "has a malformed IPv6 host"),
        ("https://hooks.slack.com:44x/services/Vb3Nq-K8jRt", "has a port that is not a number"),
        ("https:///services/Vb3Nq-K8jRt", "has no host"),
        ("https://hooks.slack.com/services/T0 B0/Vb3Nq-K8jRt", "holds a space"),
    ],
)
def test_a_webhook_url_no_alert_could_reach_is_refused_at_load(
    url: str, why: str, tmp_path: Path
) -> None:
    """A webhook URL with a port out of range, a broken IPv6 host, no host or a space was
    taken; `doctor` passed; the first alert due failed, each run, with "unhandled errors in a
    TaskGroup (1 sub-exception)" or "Invalid port: ':1'". Refused at load now, as a scheme
    other than http(s) was, naming the webhook and never the URL (a secret)."""
    cfg = tmp_path / "malnu.toml"
    good = '[[alerts.webhooks]]\nkind = "json"\nurl = "https://alerts.example.org/x"\n'
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:///{tmp_path}/a.db"\n{good}'
        f'[[alerts.webhooks]]\nkind = "slack"\nurl = "{url}"\n'
    )
    cfg.chmod(0o600)
    said = f"{cfg}: [[alerts.webhooks]] #2: url {why}"
    for args, code in ((("status",), 2), (("doctor",), 1), (("check", "--alert"), 3)):
        res = run_cli("--config", str(cfg), *args)
        assert res.code == code, (args, res.err)
        assert said in res.out + res.err, (args, res.out, res.err)
        assert "Vb3Nq" not in res.out + res.err, (args, res.out + res.err)
    assert res.out.startswith(f"MALNU UNKNOWN - {said}"), res.out
    cfg.write_text(f'[targets.a]\nurl = "sqlite:///{tmp_path}/a.db"\n{good}')
    assert run_cli("--config", str(cfg), "doctor").out.startswith(f"OK   config: {cfg}")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://malnu@127.0.0.1:1/school?sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("postgresql://malnu@127.0.0.1:1/school?target_session_attrs=any1", "target_session_attrs"),
        ("postgresql://malnu@127.0.0.1:1/school?port=5x", 'invalid integer value "5x"'),
        ("postgresql:/malnu:pw@127.0.0.1:1/school", 'missing "=" after'),
    ],
)
def test_a_url_libpq_refuses_itself_is_a_configuration_error(
    url: str, said: str, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A URL libpq refuses before asking any server (a parameter's value it does not take, a
    string it cannot parse) exited 1, "the operation failed", as an unreachable server does:
    a script that retries on 1 retried a typo for ever. It is a configuration error: exit 2,
    as the contract's table says, with the hint to correct the URL; an unreachable server
    stays 1. Through --database, and through $MALNU_PARITY_DATABASE (parity's connection)."""
    d = school_set(mdirs)
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert run_cli("--database", db, *d.args(), "up", "--no-backup").code == 0
    runs = [
        (("--database", url, *d.args(), "status"), {}),
        (("--database", url, *d.args(), "backup", "create"), {}),
        (("--database", db, *d.args(), "parity"), {"MALNU_PARITY_DATABASE": url}),
    ]
    if url.startswith("postgresql:/m"):  # --database: the tool's own URL check says it (2)
        runs = runs[2:]
    for args, env in runs:
        res = run_cli(*args, env=env)
        assert res.code == 2, (args, res.code, res.err)
        assert said in res.err and "libpq refused the URL itself" in res.err, (args, res.err)
    down = "postgresql://malnu@127.0.0.1:1/school?sslmode=disable"
    for args, env in (
        (("--database", down, *d.args(), "status"), {}),
        (("--database", db, *d.args(), "parity"), {"MALNU_PARITY_DATABASE": down}),
    ):
        res = run_cli(*args, env={**env, "PGCONNECT_TIMEOUT": "2"})
        assert res.code == 1 and "Connection refused" in res.err, (args, res.err)


def test_a_bad_port_beside_a_host_name_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`?port=5x` beside a host *name* (every Supabase URL): psycopg looks the name up with
    the port before libpq reads the URL, so it was `cannot connect to …: failed to resolve
    host 'localhost': Servname not supported for ai_socktype`, exit 1, which cron retries
    and which names the wrong fault; beside an address it was exit 2. Both are exit 2 now,
    in libpq's words (`check`: UNKNOWN), before any look-up."""
    from tests.inproc import run_inproc

    monkeypatch.chdir(tmp_path)
    for url, said in (
        ("postgresql://malnu@localhost/school?port=5x", 'invalid integer value "5x"'),
        ("postgresql://malnu@localhost/school?port=5432,70000", 'invalid port number: "70000"'),
    ):
        res = run_inproc("--database", url, "status")
        assert res.code == 2, res.err
        assert said in res.err and "libpq refused the URL itself" in res.err, res.err
    res = run_inproc("--database", "postgresql://malnu@localhost/school?port=5x", "check")
    assert res.code == 3 and res.out.startswith("MALNU UNKNOWN"), res.out
