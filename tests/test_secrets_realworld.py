"""Secrets planted where operators really put them (passwords with reserved characters, raw or
percent-encoded, tokens echoed back by a server), then every output and every file the tool
wrote is searched for them. Real processes, a real PostgreSQL cluster, the D1 stand-in."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from malnu_tui.engine.backup.pg_tools import find_pg_tools
from tests.d1server import D1Server, Fault
from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import ACCOUNT
from tests.fixtures_pg import PgCluster
from tests.secret_support import d1_config, marker_leaks, password_only_database
from tests.secret_support import files_leaking as files_in
from tests.webhook_support import Receiver

# Two markers that appear in no message of ours, at both ends of every secret. Five characters
# each: the files scanned include compressed dumps, where two-character markers turned up by
# chance (a failed run: "X9" in a pg_dump's compressed bytes).
HEAD, TAIL = "Zq7Kp", "X9wVm"
ROLE = "malnu_secret_pw"
# libpq reads a raw # ? & = : in a password (it ends the userinfo at the first @ or /); the
# percent-encoded password holds every reserved character and a space.
RAW_OK = f"{HEAD}#a?b&c=d:{TAIL}"
EVERYTHING = f"{HEAD}@:/%#?&= pw {TAIL}"


def leaks(text: str) -> list[str]:
    return marker_leaks(text, (HEAD, TAIL))


def files_leaking(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under ``root`` (but ``skip``) that holds a marker."""
    return files_in(root, (HEAD, TAIL), skip)


@pytest.fixture
def secret_role(pg_cluster: PgCluster) -> Iterator[tuple[str, str]]:
    """A role that logs in with a password only, and its own database: (host:port, dbname).
    The password is set per test (``ALTER ROLE``)."""
    with password_only_database(pg_cluster, ROLE, "sec") as db:
        yield f"{pg_cluster.host}:{pg_cluster.port}", db


def set_password(pg_cluster: PgCluster, password: str) -> None:
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password))
        )


NO_PG_ENV = {"PGPASSWORD": "", "PGPASSFILE": "/nonexistent", "PGCONNECT_TIMEOUT": "5"}


def test_a_password_with_raw_reserved_characters_is_never_printed(
    pg_cluster: PgCluster, secret_role: tuple[str, str], mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """``#`` and ``?`` in a password pasted raw: the URL parser took ``Zq7Kp`` for the port and
    the whole URL, password included, was printed (and put into ``check --json``)."""
    set_password(pg_cluster, RAW_OK)
    host, db = secret_role
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"
    for url in (
        f"postgresql://{ROLE}:{RAW_OK}@{host}/{db}",
        f"postgresql://{ROLE}:{EVERYTHING}@{host}/{db}",
        f"postgresql://{ROLE}:{HEAD}/{TAIL}@{host}/{db}",
        f"postgresql://{ROLE}@{host}/{db}?password={HEAD}&{TAIL}",
        f"postgresql://{ROLE}@{host}/{db}?sslpassword={HEAD}-{TAIL}&password={HEAD}%zz{TAIL}",
    ):
        cfg.write_text(f'[targets.analytics]\nurl = "{url}"\n')
        for args in (
            ("--database", url, "status"),
            ("--config", str(cfg), "status", "--json"),
            ("--config", str(cfg), "check", "--json"),
            ("--config", str(cfg), "doctor"),
        ):
            res = run_cli(*args, *d.args(), env=NO_PG_ENV)
            assert res.code != 0, (url, args, res.out)
            assert not leaks(res.out + res.err), (url, args, res.out + res.err)
        res = run_cli("--database", url, *d.args(), "status", env=NO_PG_ENV)
        if res.code == 2:  # a parser's complaint: how to write it instead
            assert "percent-encode" in res.err, res.err
    # A raw @ in the password: libpq takes the rest for the host and quotes it in its error.
    url = f"postgresql://{ROLE}:{HEAD}@{TAIL}@{host}/{db}"
    res = run_cli("--database", url, *d.args(), "status", env=NO_PG_ENV)
    assert res.code != 0 and not leaks(res.out + res.err), res.err
    assert files_leaking(tmp_path, skip=(cfg,)) == []


def test_a_raw_at_sign_in_a_password_is_a_malformed_url_with_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Supabase password holding `@`, pasted raw: libpq ends the password at the first `@`
    and took the rest for the host, so the operator read `cannot connect to …: failed to
    resolve host '***'`, exit 1 (cron retried it), with no word of the encoding. It is a
    malformed URL, exit 2 (`check`: UNKNOWN), with the percent-encoding hint, as the README's
    Configuration says, before any connection is tried; nothing of the password shown."""
    from tests.inproc import run_inproc

    url = f"postgresql://malnu:{HEAD}@{TAIL}@127.0.0.1:1/db"
    monkeypatch.chdir(tmp_path)
    for name, value in NO_PG_ENV.items():
        monkeypatch.setenv(name, value)
    res = run_inproc("--database", url, "status")
    assert res.code == 2, res.err
    assert "malformed PostgreSQL URL" in res.err and "%40" in res.err, res.err
    assert "cannot connect" not in res.err and not leaks(res.out + res.err), res.err
    res = run_inproc("--database", url, "check")
    assert res.code == 3 and res.out.startswith("MALNU UNKNOWN"), res.out
    assert not leaks(res.out + res.err), res.out + res.err


def test_percent_encoded_password_through_every_command_and_file(
    pg_cluster: PgCluster, secret_role: tuple[str, str], mdirs: MigrationDirs, tmp_path: Path
) -> None:
    set_password(pg_cluster, EVERYTHING)
    host, db = secret_role
    d = school_set(mdirs)
    url = f"postgresql://{ROLE}:{quote(EVERYTHING, safe='')}@{host}/{db}?sslmode=disable"
    cfg = tmp_path / "malnu.toml"
    log = tmp_path / "home" / "debug.log"
    cfg.write_text(
        f'[targets.analytics]\nurl = "{url}"\nmigrations_dir = "{d.migrations}"\n'
        f'rollback_dir = "{d.rollback}"\n[log]\nfile = "{log}"\n'
    )
    prom = tmp_path / "home" / "malnu.prom"
    base = ("--config", str(cfg))
    for args in (
        ("up", "--yes"),
        ("--debug", "status"),
        ("status", "--json"),
        ("backup", "create"),
        ("backup", "list", "--json"),
        ("--debug", "rollback", "--yes"),
        ("check", "--json", "--prometheus", str(prom)),
        ("doctor", "--json"),
        ("history", "--json"),
        ("log",),
    ):
        res = run_cli(*base, *args, env=NO_PG_ENV)
        assert res.code in (0, 1, 2), (args, res.err)
        assert not leaks(res.out + res.err), (args, res.out + res.err)
    assert json.loads(run_cli(*base, "status", "--json", env=NO_PG_ENV).out)["migrations"]
    assert log.exists() and prom.exists()
    assert files_leaking(tmp_path, skip=(cfg,)) == []
    with psycopg.connect(pg_cluster.url(db)) as conn:
        rows = conn.execute("SELECT * FROM malnu_audit").fetchall()
    assert rows and not leaks(repr(rows))
    # Wrong password, unreachable port: the error names the URL, masked.
    for bad in (
        url.replace(quote(EVERYTHING, safe=""), quote(f"{HEAD}-wrong-{TAIL}", safe="")),
        url.replace(host, "127.0.0.1:1"),
    ):
        res = run_cli("--database", bad, "status", env=NO_PG_ENV)
        assert res.code == 1 and "***" in res.err and not leaks(res.out + res.err), res.err


def test_a_d1_answer_that_echoes_the_token_is_masked(tmp_path: Path, mdirs: MigrationDirs) -> None:
    """A proxy's error page (or an API error) that quotes the request's Authorization header:
    the D1 client put its text into the error as it came, token and all."""
    token = f"{HEAD}-d1-token-0123456789-{TAIL}"
    server = D1Server(tmp_path / "d1server", token=token).start()
    try:
        db = server.add_database(ACCOUNT)
        d = school_set(mdirs)
        cfg = d1_config(tmp_path / "malnu.toml", db.account, db.id, d)
        env = {"CLOUDFLARE_API_TOKEN": token, "MALNU_D1_API_BASE": server.api_base}
        base = ("--config", str(cfg))
        assert run_cli(*base, "up", "--no-backup", env=env).code == 0
        d.add("20250101_000400", "more", "CREATE TABLE more (id INTEGER);", "DROP TABLE more;")
        for status in (502, 400, 401, 403):
            for args in (("status",), ("up", "--no-backup"), ("check", "--json"), ("doctor",)):
                server.faults.clear()
                server.inject(Fault("echo", count=50, status=status))
                res = run_cli(*base, "--debug", *args, env=env)
                assert res.code != 0, (status, args)
                assert "Authorization: Bearer ***" in res.out + res.err, (status, args, res.err)
                assert not leaks(res.out + res.err), (status, args, res.out + res.err)
        server.faults.clear()
        assert run_cli(*base, "status", env=env).code == 0
        rows = server.sql(db, "SELECT * FROM malnu_audit")
        rows += server.sql(db, "SELECT * FROM migrations")
        assert rows and not leaks(repr(rows))
        assert files_leaking(tmp_path / "home") == []
    finally:
        server.stop()


def test_a_d1_token_pasted_into_the_wrong_config_key_is_not_echoed(tmp_path: Path) -> None:
    """``api_token_env = "<the token>"`` printed ``export <the token>=…`` as its hint, and an
    ``api_token`` of the wrong type was echoed in its error."""
    cfg = tmp_path / "malnu.toml"
    for line in (
        f'api_token_env = "{HEAD}abcdef0123456789_{TAIL}"',
        f'api_token_env = "{HEAD}-abcdef-{TAIL}"',
        "api_token = 90210555123456789",
    ):
        cfg.write_text(f'[targets.production]\nurl = "d1://{ACCOUNT}/db-1"\n{line}\n')
        res = run_cli("--config", str(cfg), "status", env={"CLOUDFLARE_API_TOKEN": ""})
        assert res.code == 2, res.err
        assert res.err.startswith(f"error: {cfg}: [targets.production] api_token"), res.err
        assert not leaks(res.out + res.err) and "90210555" not in res.err, res.err


def test_a_command_line_mistake_does_not_repeat_the_password(tmp_path: Path) -> None:
    """argparse's usage errors quote what they could not place: a URL typed where a command
    goes, or after an option the command does not have, was printed password and all (and,
    for ``check``, into the monitoring plugin's UNKNOWN line on stdout). ``--config`` given
    the URL named it in "config file not found" (the path had folded ``//`` to ``/``)."""
    raw = f"postgresql://malnu:{HEAD}-pw#1@{TAIL}@127.0.0.1:1/school"
    plain = f"postgresql://malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school"
    query = f"postgresql://malnu@127.0.0.1:1/school?sslmode=disable&password={HEAD}+{TAIL}"
    urls = itertools.cycle((raw, plain, query))
    for args in (
        ("{}", "status"),  # --database forgotten: "invalid choice: '<url>'"
        ("status", "{}"),  # "unrecognized arguments: <url>"
        ("rehearse", "--postgres", "{}"),  # an option of another command
        ("backup", "create", "--reason", "{}"),
        ("--databse={}", "status"),
        ("--config", "{}", "status"),
        ("check", "{}"),
        ("check", "--json", "{}"),
    ):
        url = next(urls)
        res = run_cli(*(a.format(url) for a in args), env={"MALNU_CONFIG": ""})
        assert res.code in (2, 3), (args, res.err)
        assert res.err.startswith("error: "), (args, res.err)
        assert not leaks(res.out + res.err), (url, args, res.out + res.err)
    # Debug mode reads the config before `check` runs: its UNKNOWN line (stdout, what the
    # monitoring system keeps) quoted the error unmasked, while stderr's was masked.
    for args in (("check",), ("check", "--json")):
        res = run_cli("--config", plain, *args, env={"MIGRATION_DEBUG": "1"})
        assert res.code == 3 and "UNKNOWN" in res.out, res.out
        assert not leaks(res.out + res.err), (args, res.out + res.err)


def test_secrets_in_the_query_reach_the_client_tools_as_libpq_reads_them_never_on_argv(
    pg_cluster: PgCluster, secret_role: tuple[str, str], tmp_path: Path
) -> None:
    """``?password=`` with a ``+`` (``openssl rand -base64`` writes them): libpq reads a ``+``
    as a ``+``, but the child's PGPASSWORD was decoded as a form (``+`` → space), so psycopg
    logged in and pg_dump did not: every backup, and the safety backup before every ``up``,
    failed with "password authentication failed". The other parameters were re-encoded the
    same way (``options=-c%20search_path%3D…`` reached pg_dump as ``-c+search_path=…``).
    ``?sslpassword=`` (a client key's passphrase) stayed in the URL on the tools' command
    line, where ``ps`` shows it to every user of the box. The tools are the real ones, behind
    a script that writes down their command lines."""
    password = f"{HEAD}+a/b c+{TAIL}"
    set_password(pg_cluster, password)
    host, db = secret_role
    url = (
        f"postgresql://{ROLE}@{host}/{db}?password={quote(password, safe='+/')}"
        f"&options=-c%20search_path%3Dpublic&application_name=malnu%20ops&sslmode=disable"
        f"&sslpassword={HEAD}-key%26pass-{TAIL}"
    )
    spy, argv = tmp_path / "bin", tmp_path / "argv.log"
    spy.mkdir()
    tools = find_pg_tools()
    for name in ("pg_dump", "pg_restore", "psql"):
        (spy / name).write_text(
            f'#!/bin/sh\necho "$*" >> {argv}\nexec {getattr(tools, name)} "$@"\n'
        )
        (spy / name).chmod(0o755)
    env = {**NO_PG_ENV, "XDG_DATA_HOME": str(tmp_path / "data"), "MALNU_PG_BINDIR": str(spy)}
    base = ("--database", url)
    made = run_cli(*base, "backup", "create", env=env)
    assert made.code == 0, made.err
    backup_id = made.out.split()[0]
    for args in (("backup", "verify", "--deep", backup_id), ("backup", "restore", backup_id)):
        res = run_cli(*base, "--yes", *args, env=env)
        assert res.code == 0, (args, res.err)
        assert not leaks(res.out + res.err), (args, res.out + res.err)
    assert not leaks(made.out + made.err) and files_leaking(tmp_path) == []
    # pg_dump, pg_restore (--deep), the restore's own backup (pg_dump) and psql
    assert argv.read_text().count("--dbname=") == 4 and not leaks(argv.read_text())


def test_doctor_fails_a_config_that_holds_secrets_and_others_may_read(tmp_path: Path) -> None:
    """Supabase hands out its connection string with the password in it, and it goes into
    malnu.toml as it is, mode 0644: every user of the box could read the school's database
    password, and nothing said so (libpq refuses a ~/.pgpass with group or world access).
    ``doctor`` checks the permissions of a config that holds a secret; one without stays
    as it was; a password in a sync's URL too."""
    cfg = tmp_path / "malnu.toml"
    db = tmp_path / "p.db"
    sqlite3.connect(db).close()
    plain = f'[targets.primary]\nurl = "sqlite:///{db}"\n'
    pg = f'[targets.analytics]\nurl = "postgresql://malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/x"\n'
    d1 = (
        f'[targets.prod]\nurl = "d1://{ACCOUNT}/db-1"\napi_token = "{HEAD}0123456789abcdef{TAIL}"\n'
    )
    hook = (
        f'[[alerts.webhooks]]\nkind = "slack"\nurl = "https://hooks.slack.com/T0/B0/{HEAD}{TAIL}"\n'
    )
    # A sync's end given as a URL (a legacy database copied from): it said nothing of it.
    sync = (
        f'[sync.arsip]\nfrom = "postgresql://lama:{HEAD}-pw-{TAIL}@127.0.0.1:1/x"\nto = "primary"\n'
    )
    for body, holds, bad in (
        (pg, "password", 0o644),
        (d1, "api_token", 0o640),
        (hook, "webhook URL", 0o606),
        (sync, "a password ([sync.arsip] from)", 0o644),
    ):
        cfg.write_text(plain + body)
        for mode, ok in ((bad, False), (0o600, True)):
            cfg.chmod(mode)
            res = run_cli("--config", str(cfg), "--target", "primary", "doctor", "--json")
            checks = {c["check"]: c for c in json.loads(res.out)["checks"]}
            perm = checks["config permissions"]
            assert perm["ok"] is ok and res.code == (0 if ok else 1), (body, oct(mode), res.out)
            assert holds in perm["detail"] and not leaks(res.out + res.err), perm
            if not ok:
                assert f"{mode:o}" in perm["detail"] and f"chmod 600 {cfg}" in perm["fix"], perm
    cfg.write_text(plain)
    cfg.chmod(0o644)
    res = run_cli("--config", str(cfg), "doctor", "--json")
    assert res.code == 0 and "config permissions" not in res.out, res.out


def test_a_masked_password_parameter_keeps_the_text_after_it() -> None:
    """Every error line is masked once more at the end: a ``password=***`` already masked
    lost what followed it (``…/school?password=*** connection failed``, the colon gone)."""
    url = f"postgresql://malnu@127.0.0.1:1/school?password={HEAD}-{TAIL}"
    res = run_cli("--database", url, "status", env={"PGCONNECT_TIMEOUT": "2"})
    assert res.code == 1 and not leaks(res.err), res.err
    assert "127.0.0.1:1/school?password=***: " in res.err, res.err


def test_the_directories_the_tool_makes_are_its_owners_only(
    isolated_env: Path, mdirs: MigrationDirs
) -> None:
    """Under the umask 002 of a shared operators' group, the directories the tool made took
    mode 775: the backup store itself is 0700, but a member of the group could rename it
    away (its parent let them) and put one of their own in its place, whose dump ``backup
    restore`` or ``recover`` then runs (pg_restore's SQL, as the operator). Every directory
    the tool makes is 0700 now, as the XDG base directory spec asks of its directories."""
    data = isolated_env / "xdg_data_home"
    cache = isolated_env / "xdg_cache_home"
    d = school_set(mdirs)
    before = os.umask(0o002)
    try:
        for args in (("status",), ("backup", "create"), ("lint", "--all")):
            res = run_cli(*d.args(), *args)
            assert res.code == 0, (args, res.err)
    finally:
        os.umask(before)
    made = [data / "malnu-tui", data / "malnu-tui" / "backups", cache / "malnu-tui"]
    made += [p for root in (data, cache) for p in (root / "malnu-tui").rglob("*") if p.is_dir()]
    assert len(made) >= 5, made
    assert {p: oct(stat.S_IMODE(p.stat().st_mode)) for p in made} == {p: "0o700" for p in made}


def test_a_mistyped_scheme_separator_still_masks_the_password(tmp_path: Path) -> None:
    """``postgresql:/``, ``postgresql:`` or ``postgresql//`` for ``postgresql://`` (one
    character off): the masking looked for ``://`` only, so the error, and ``check``'s line
    with the target named after the URL (also the name of its backup store), showed the
    password; libpq quoted it back too ("missing "=" after "postgresql:/u:…@h/db"")."""
    for url in (
        f"postgresql:/malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school",
        f"postgresql:malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school",
        f"postgresql//malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school",
    ):
        for args in (("status",), ("check",)):
            res = run_cli("--database", url, *args, env={"PGCONNECT_TIMEOUT": "2"})
            assert res.code in (2, 3), (url, args, res.err)
            assert "***" in res.out + res.err, (url, args, res.out + res.err)
            assert not leaks(res.out + res.err), (url, args, res.out + res.err)


def test_the_values_a_crash_report_prints_hold_no_secret(tmp_path: Path) -> None:
    """The console's crash report (Textual's traceback) prints every frame's locals, by
    rich's pretty repr: a Target printed its URL, password and all, and its api_token; the
    settings printed every target's; an import request its ``--from`` URL; a client tool's
    connection its PGPASSWORD."""
    from rich.pretty import pretty_repr

    from malnu_tui.engine.backup.pg_tools import child_connection
    from malnu_tui.engine.config import load_settings, resolve_target
    from malnu_tui.engine.data.request import ImportRequest

    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.analytics]\nurl = "postgresql://malnu:{HEAD}-pw-{TAIL}@db/school"\n'
        f'[targets.prod]\nurl = "d1://{ACCOUNT}/db-1"\napi_token = "{HEAD}0123456789abc{TAIL}"\n'
    )
    settings = load_settings(config=str(cfg))
    values = [
        settings,
        resolve_target(settings, name="prod", env={}),
        child_connection(f"postgresql://u:{HEAD}1{TAIL}@h/d?sslpassword={HEAD}2{TAIL}"),
        ImportRequest("users", source_label=f"postgresql://u:{HEAD}3{TAIL}@h/legacy:users"),
    ]
    for value in values:
        shown = repr(value) + pretty_repr(value)
        assert not leaks(shown), shown
    values[2].close()


def test_a_sync_pairs_url_in_the_config_is_masked(tmp_path: Path) -> None:
    """``[sync.NAME] to = "<URL>"`` with its ``://`` mistyped: every command (the config's
    tables are checked at load) printed the password in its error; the ends of a pair given
    as URLs join the secrets every message is masked of."""
    cfg = tmp_path / "malnu.toml"
    db = tmp_path / "p.db"
    for to in (
        f"postgresql:/malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school",
        f"postgresql//malnu:{HEAD}-pw-{TAIL}@127.0.0.1:1/school",
    ):
        cfg.write_text(
            f'[targets.primary]\nurl = "sqlite:///{db}"\n[sync.rep]\nfrom = "primary"\n'
            f'to = "{to}"\n'
        )
        for args in (("status",), ("sync", "status")):
            res = run_cli("--config", str(cfg), *args)
            assert res.code == 2 and "[sync.rep] to = " in res.err, res.err
            assert not leaks(res.out + res.err), (to, args, res.err)


def test_sync_status_masks_a_destination_given_by_url(
    pg_cluster: PgCluster, secret_role: tuple[str, str], tmp_path: Path
) -> None:
    """``[sync.NAME] to = "postgresql://…:password@…"`` (or ``sync status --to URL``):
    ``sync status`` printed the destination as written, password and all, in its table and
    in ``--json`` (the console's list of pairs showed it likewise)."""
    password = f"{HEAD}-sync-{TAIL}"
    set_password(pg_cluster, password)
    host, db = secret_role
    url = f"postgresql://{ROLE}:{password}@{host}/{db}"
    src = tmp_path / "p.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'Siti')")
    conn.close()
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n'
        f'[sync.reporting]\nfrom = "primary"\nto = "{url}"\ntables = ["users"]\n'
    )
    base = ("--config", str(cfg))
    res = run_cli(*base, "sync", "--yes", env=NO_PG_ENV)
    assert res.code == 0 and not leaks(res.out + res.err), res.err
    for args in (("sync", "status"), ("sync", "status", "--json"), ("sync", "status", "--to", url)):
        res = run_cli(*base, *args, env=NO_PG_ENV)
        assert res.code == 0 and "users" in res.out, (args, res.err)
        assert not leaks(res.out + res.err), (args, res.out + res.err)
    rows = json.loads(run_cli(*base, "sync", "status", "--json", env=NO_PG_ENV).out)
    assert rows[0]["destination"] == url.replace(password, "***")


def test_a_source_url_typed_into_the_console_is_masked_in_its_error(tmp_path: Path) -> None:
    """The console's import wizard opens a typed ``TARGET:TABLE`` by the CLI's engine call,
    with no command line to learn the password from: a URL one character off (``//`` for
    ``://``, or no table) came back in the error, which the console's error box shows
    through the one masking rule, password and all."""
    from malnu_tui.engine.config import load_settings
    from malnu_tui.engine.data.request import ImportRequest
    from malnu_tui.engine.data.sources import open_source
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.monitor.debuglog import mask_secrets

    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.primary]\nurl = "sqlite:///{tmp_path / "p.db"}"\n')
    settings = load_settings(config=str(cfg))
    for label in (
        f"postgresql//malnu:{HEAD}-1-{TAIL}@127.0.0.1:1/legacy:users",
        f"postgresql:/malnu:{HEAD}-2-{TAIL}@127.0.0.1:1/legacy:users",
        f"postgresql://:{HEAD}-3-{TAIL}@127.0.0.1:1/legacy:",
    ):
        with pytest.raises(ConfigError) as info:
            open_source(settings, ImportRequest("users", source_label=label))
        shown = mask_secrets(f"{info.value} {info.value.hint or ''}")
        assert not leaks(shown), (label, shown)


def test_a_webhook_whose_host_is_its_secret_is_masked() -> None:
    """Pipedream's (and RequestBin's) endpoints carry their secret in the host, not the path
    (``https://eo1x2y3z4a5b6c7.m.pipedream.net``): "scheme and host" showed it whole in every
    alert line and in the console's alerts view."""
    from malnu_tui.engine.monitor.config import Webhook

    shown = {
        url: Webhook("json", url).display
        for url in (
            f"https://eo{HEAD}1x2y3z4a5b{TAIL}.m.pipedream.net",
            f"https://hooks.slack.com/services/T0/B0/{HEAD}{TAIL}",
            f"http://127.0.0.1:9/hook/{HEAD}{TAIL}",
        )
    }
    assert not leaks(" ".join(shown.values())), shown
    assert list(shown.values()) == [
        "json https://***.m.pipedream.net/***",
        "json https://hooks.slack.com/***",
        "json http://127.0.0.1:9/***",
    ]


def test_a_password_a_failing_migration_spells_is_never_shown_kept_or_alerted(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str, receiver: Receiver
) -> None:
    """A role's password written in double quotes (an identifier to PostgreSQL: MySQL's
    habit) or without quotes: the server's `syntax error at or near ""…""` quoted it, and
    `up` printed it (the debug log too), the tracking and audit rows kept it, `check` showed
    it and `check --alert` sent it to a Slack channel. Masked in the statement's error."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n[targets.p]\nurl = "{pg_url}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
        f'[log]\nfile = "{tmp_path / "debug.log"}"\n'
        f'[[alerts.webhooks]]\nkind = "slack"\nurl = "{receiver.url("slack")}"\n'
    )
    c = ["--config", str(cfg)]
    outputs = []
    failed = None
    for i, spelled in enumerate((f'WITH PASSWORD "{HEAD}dq{TAIL}"', f"PASSWORD {HEAD}bare{TAIL}")):
        if failed is not None:
            assert run_cli(*c, "clear-failed", failed.name, "--yes").code == 0
            failed.unlink()
        failed = mdirs.add(f"2025010{i + 1}_000100", f"role{i}", f"ALTER ROLE malnu_app {spelled};")
        res = run_cli(*c, "--debug", "up", "--yes")
        assert res.code == 1 and "syntax error at or near" in res.err, res.err
        outputs.append(res.out + res.err)
        res = run_cli(*c, "check", "--alert")
        assert res.code == 2 and "syntax error at or near" in res.out, res.out
        outputs.append(res.out + res.err)
    outputs.append(run_cli(*c, "log").out)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT * FROM migrations").fetchall()
        rows += conn.execute("SELECT * FROM malnu_audit").fetchall()
    texts = [b["text"] for b in receiver.bodies]  # a problem, its resolution, the next problem
    assert len(texts) == 3 and all("syntax error at or near" in t for t in texts), texts
    assert not leaks("\n".join([*outputs, repr(rows), json.dumps(receiver.bodies)])), outputs
    assert not files_leaking(tmp_path, skip=(failed,))


def test_a_password_the_server_quotes_in_part_or_with_the_rest_is_masked(pg_url: str) -> None:
    """The word PostgreSQL stumbled on is a bare password's first part (`PASSWORD
    Sekolah#2024`: `at or near "Sekolah"`; `P@ssw0rd`: "P"), or the rest of the statement
    (a quote left open, a user mapping's `"password" "…"`): it was printed, kept in the
    tracking and audit rows and alerted on. The place it failed is still said, and a word
    that is no password (a column named password, a literal after one) is kept."""
    from malnu_tui.engine.backends.pg_sql import error_text
    from malnu_tui.engine.errors import StatementFailed

    mapping = "CREATE USER MAPPING FOR CURRENT_USER SERVER nosuch OPTIONS (user 'a', "
    secret = [
        f"ALTER ROLE malnu_app PASSWORD {HEAD}#{TAIL}",
        f"ALTER ROLE malnu_app WITH PASSWORD {HEAD}@{TAIL}",
        f"ALTER ROLE malnu_app PASSWORD '{HEAD} {TAIL}",
        f"ALTER ROLE malnu_app PASSWORD $pw${HEAD} {TAIL}",
        f"{mapping}password {HEAD}-{TAIL})",
        f'{mapping}"password" "{HEAD}{TAIL}")',
    ]
    kept = {
        "ALTER TABLE nosuch ADD COLUMN password 60": 'near "60"',
        "ALTER ROLE malnu_app PASSWORD 'not-here' 'x'": "near \"'x'\"",
    }
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in [*secret, *kept]:
            with pytest.raises(psycopg.Error) as err:
                conn.execute(statement)  # type: ignore[call-overload]
            said = str(StatementFailed("f.sql", 3, statement, error_text(err.value)))
            assert said.startswith("f.sql:3: ") and 'near "' in said, (statement, said)
            assert not leaks(said), (statement, said)
            assert kept.get(statement, 'near "') in said, (statement, said)
