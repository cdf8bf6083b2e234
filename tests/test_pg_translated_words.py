"""A server that speaks another language (lc_messages: a Supabase project may set it, a
self-hosted server often has de_DE) says its errors in its own words, and the tool read the
English ones to decide what happened: which GRANT to name, which column a row was refused for,
which row of a COPY failed, whether a key was too long for an index, whether a chunk met a
unique value that moved (resolved in steps) or a parent not copied yet. Each is decided by the
error's structure now (SQLSTATE, the diagnostics' fields, the shape of a detail or a context),
the English words kept where nothing else says. The cluster speaks German to a session that
sets :data:`tests.fixtures_pg.TRANSLATED`."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from malnu_tui.engine.backends.pg_refusals import policy_refusal, refusal, write_refusal
from malnu_tui.engine.backends.postgresql import open_url
from malnu_tui.engine.backup.pg_tools import child_connection, find_pg_tools, read_dump
from malnu_tui.engine.backup.postgresql import _unreadable
from malnu_tui.engine.data.spec import key_column
from malnu_tui.engine.errors import NotPermitted, StatementFailed
from malnu_tui.engine.parity.scratch import run_each
from malnu_tui.engine.scratch_pg import pg_run
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.sync.copy_refused import foreign_key_refusal, unique_refusal
from malnu_tui.engine.sync.model import Column, TableShape
from malnu_tui.engine.sync.side_pgkeys import LONG_KEY_HINT, failing_row, pg_error
from malnu_tui.engine.translate.model import NOT_CHECKED, Finding
from tests.fixtures_pg import TRANSLATED, PgCluster

Conn = psycopg.Connection[tuple[object, ...]]


def _refused(conn: Conn, statement: str, role: str = "") -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info, conn.transaction():
        if role:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        conn.execute(statement)
    return info.value


@contextlib.contextmanager
def _german(pg_url: str) -> Iterator[Conn]:
    """A session of ``pg_url``'s database speaking German."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(TRANSLATED)
        yield conn


@contextlib.contextmanager
def _as(conn: Conn, role: str) -> Iterator[None]:
    """``conn`` as ``role`` (the tool's session is the role's own: what it may do is read)."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        yield
    finally:
        conn.execute("RESET ROLE")


def test_a_missing_grant_is_named_by_a_german_server(pg_url: str) -> None:
    """``keine Berechtigung für Tabelle malnu_audit`` / ``… für Schema s`` / no TEMPORARY on
    the database: the English words alone were read, and the GRANT that lets it went unsaid
    (exit 1, no way on, where English says it, exit 2). The owner's refusals share the
    SQLSTATE (``Berechtigung nur für Eigentümer der Tabelle malnu_audit`` / ``des Schemas
    s2``): they were given the GRANT the role already had."""
    role = f"pgwords_{secrets.token_hex(4)}"
    with _german(pg_url) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            conn.execute("CREATE SCHEMA s; CREATE TABLE s.malnu_audit (a int)")
            conn.execute("CREATE TABLE public.malnu_audit (a int); CREATE TABLE plain (a int)")
            conn.execute(
                sql.SQL("CREATE SCHEMA s2; GRANT USAGE ON SCHEMA s2 TO {}").format(
                    sql.Identifier(role)
                )
            )
            with _as(conn, role):
                table = _refused(conn, "SELECT * FROM public.malnu_audit")
                assert "Berechtigung" in (table.diag.message_primary or ""), table
                said = refusal("target", table, conn, "public")
                assert isinstance(said, NotPermitted) and "GRANT SELECT, INSERT" in (
                    said.hint or ""
                )
                assert "public.malnu_audit" in (said.hint or ""), said.hint
                schema = _refused(conn, "SELECT * FROM s.malnu_audit")
                said = refusal("target", schema, conn, "s")
                assert said is not None and "GRANT USAGE ON SCHEMA s TO" in (said.hint or "")
                # A table of the application's: its name is not guessed from German words.
                assert refusal("target", _refused(conn, "SELECT * FROM plain"), conn, "x") is None
                owner = _refused(conn, "ALTER SCHEMA s2 RENAME TO s3")
                assert "Eigentümer" in (owner.diag.message_primary or ""), owner
                assert refusal("target", owner, conn, "s2") is None  # USAGE it has
            conn.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON public.malnu_audit TO {}").format(
                    sql.Identifier(role)
                )
            )
            with _as(conn, role):
                owner = _refused(conn, "ALTER TABLE public.malnu_audit ADD COLUMN b int")
                assert "Eigentümer" in (owner.diag.message_primary or ""), owner
                assert refusal("target", owner, conn, "public") is None  # every GRANT it has
            conn.execute(
                sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(conn.info.dbname)
                )
            )
            temp = _refused(conn, "CREATE TEMP TABLE staged (a int)", role)
            said = write_refusal("import", temp, conn)
            assert said is not None and "GRANT TEMPORARY ON DATABASE" in (said.hint or ""), temp
            assert write_refusal("import", table, conn) is None  # not a TEMPORARY one
        finally:
            conn.execute("DROP SCHEMA s2 CASCADE; DROP SCHEMA s CASCADE")
            conn.execute("DROP TABLE public.malnu_audit, plain")
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_row_level_security_s_refusal_is_said_by_a_german_server(pg_url: str) -> None:
    """``Anfrage würde von Policy für Sicherheit auf Zeilenebene für Tabelle »siswa«
    betroffen sein``: a sync's or an import's read of every row, refused by a policy, was
    exit 1 with no way on (exit 2 and `ALTER ROLE … BYPASSRLS;` in English)."""
    role = f"pgwords_{secrets.token_hex(4)}"
    with _german(pg_url) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE siswa (a int); ALTER TABLE siswa ENABLE ROW LEVEL SECURITY;"
                    "GRANT SELECT ON siswa TO {r}; CREATE POLICY own ON siswa TO {r} USING (a = 1)"
                ).format(r=sql.Identifier(role))
            )
            narrowed = _refused(conn, "SET LOCAL row_security = off; SELECT * FROM siswa", role)
            assert "»siswa«" in (narrowed.diag.message_primary or ""), narrowed
            said = policy_refusal("source", narrowed, conn)
            assert said is not None and "BYPASSRLS" in (said.hint or ""), narrowed
            # Another refusal quoting one name (the database's, no TEMPORARY): not taken for it.
            conn.execute(
                sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(conn.info.dbname)
                )
            )
            temp = _refused(conn, "CREATE TEMP TABLE siswa_tmp (a int)", role)
            assert policy_refusal("source", temp, conn) is None
        finally:
            conn.execute(sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=sql.Identifier(role)))


def test_a_german_server_s_refusals_are_read_by_their_structure(pg_url: str) -> None:
    """The column of a unique or foreign key refusal (an import's rejects file said none), a
    COPY's failing row (the sync's error named no row), a key too long for its index (no
    hint), a unique value that moved (the sync stopped where it resolves the chunk in steps)
    and a parent not copied yet (its hint lost)."""
    with _german(pg_url) as conn:
        conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL, k text UNIQUE);"
            "CREATE TABLE c (p int REFERENCES t); INSERT INTO t VALUES (1, 1, 'a')"
        )
        dup = _refused(conn, "INSERT INTO t VALUES (2, 1, 'a')")
        assert "existiert bereits" in (dup.diag.message_detail or ""), dup
        assert key_column(dup.diag.message_detail, ("id", "n", "k")) == "k"
        fk = _refused(conn, "INSERT INTO c VALUES (9)")
        assert key_column(fk.diag.message_detail, ("p",)) == "p"
        assert unique_refusal(pg_error("sync t", dup)) and not unique_refusal(pg_error("c", fk))
        assert foreign_key_refusal(pg_error("sync c", fk)) and not foreign_key_refusal(
            pg_error("sync t", dup)
        )
        with pytest.raises(psycopg.Error) as info, conn.transaction():
            with conn.cursor().copy("COPY t FROM STDIN") as copy:
                copy.write("5\t1\tz\n6\tabc\ty\n")
        assert "Zeile 2" in (info.value.diag.context or ""), info.value
        shape = TableShape(
            "t",
            (
                Column("id", "integer", "int"),
                Column("n", "integer", "int"),
                Column("k", "text", "text"),
            ),
            ("id",),
        )
        where, _ = failing_row(shape, [(5, 1, "z"), (6, "abc", "y")], info.value)
        assert where == ", row id=6, column n", where
        long = secrets.token_hex(2000)  # 4,000 bytes that do not compress
        too_long = _refused(conn, f"INSERT INTO t VALUES (3, 1, '{long}')")
        assert "2704" in (too_long.diag.message_primary or ""), too_long
        assert pg_error("sync t", too_long).hint == LONG_KEY_HINT


def test_a_german_scratch_server_s_knock_on_rejections_name_their_root(pg_url: str) -> None:
    """The parity check on a scratch server speaking German (``Relation »a« existiert
    nicht``): a statement failing because an earlier one was rejected was called a wrong
    translation of its own ("report it"), and an enum value an earlier migration adds,
    refused until it commits, a rejection (a note in English: ``up`` runs it)."""
    with psycopg.connect(pg_url) as conn:
        conn.execute(TRANSLATED)
        conn.execute("CREATE TYPE mood AS ENUM ('a')")
        findings: list[Finding] = []
        run_each(conn, "1.sql", [(1, "ALTER TYPE mood ADD VALUE 'b'")], findings)
        statements = [
            (1, "CREATE TABLE kelas (x no_such_type)"),
            (2, "CREATE INDEX ON kelas (x)"),
            (3, "SELECT 'b'::mood"),
        ]
        run_each(conn, "2.sql", statements, findings)
        said = {f.line: f for f in findings}
        assert "existiert nicht" in said[2].why, findings
        assert said[2].construct == "depends on a rejected statement", said[2]
        assert "2.sql:1" in said[2].why and said[3].construct == NOT_CHECKED, said[3]


def test_the_client_tools_say_their_own_words_in_english(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pg_dump, pg_restore and psql say their own words in the operator's language (they set
    their locale from the environment: LANG=de_DE.UTF-8 on a German admin's box), where the
    tool reads them (``Query was:``, ``Command was:``, ``No space left on device``: a full
    disk's hint). They run with ``LC_MESSAGES=C``, the rest of the locale kept."""
    monkeypatch.setenv("LANGUAGE", "de")  # C.UTF-8 + LANGUAGE: what de_DE does, on this box
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    tools = find_pg_tools()
    child = child_connection(pg_url)
    dumped = subprocess.run(
        [tools.pg_dump, "-t", "no_such_table", child.url],
        env=child.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "pg_dump: error: no matching tables were found" in dumped.stderr, dumped.stderr
    code, _, err = read_dump(tools, ["--list", str(tmp_path / "none.dump")])
    assert code != 0 and "could not open input file" in err, err
    assert child.env.get("LC_CTYPE") == "C.UTF-8" and "LC_ALL" not in child.env


def test_a_german_scratch_server_that_is_no_supabase_is_said_so(pg_url: str) -> None:
    """``test --postgres`` of a Supabase set on a plain server speaking German (``Schema
    »extensions« existiert nicht``): the hint that it needs Supabase's schemas was lost."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(conn.info.dbname))
            + sql.SQL(TRANSLATED.removeprefix("SET "))
        )
    backend = open_url(pg_url)
    try:
        statement = Statement("CREATE TABLE t (id uuid DEFAULT extensions.uuid_generate_v4())", 1)
        with pytest.raises(StatementFailed) as info:
            pg_run(backend, "1.sql", [statement])
    finally:
        backend.close()
    said = str(info.value)
    assert "»extensions« existiert nicht" in said and "a Supabase set needs" in said, said


def test_a_table_pg_dump_may_not_read_is_named_by_a_german_server(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """``pg_dump: error: query failed: FEHLER:  keine Berechtigung für Tabelle laporan``: a
    backup by a role that may not read a table said "pg_dump failed" (exit 1) and no GRANT;
    the table its LOCK TABLE names (pg_dump's own words) is looked up in the catalog."""
    app = f"pgwords_{secrets.token_hex(4)}"
    db = pg_url.rsplit("/", 1)[1]
    with _german(pg_url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(db))
                     + sql.SQL(TRANSLATED.removeprefix("SET ")))  # fmt: skip
        conn.execute(f"CREATE ROLE {app} LOGIN; CREATE SCHEMA s; CREATE TABLE s.laporan (id int)")
        conn.execute(f"GRANT USAGE ON SCHEMA s TO {app}")
    url = pg_cluster.url(db).replace(f"{pg_cluster.user}@", f"{app}@")
    try:
        child = child_connection(url)
        dumped = subprocess.run(
            [find_pg_tools().pg_dump, "-Fc", "-f", os.devnull, child.url],
            env=child.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "keine Berechtigung" in dumped.stderr, dumped.stderr
        with psycopg.connect(url, autocommit=True) as as_app:
            assert _unreadable(as_app, dumped.stderr) == ("table", "s.laporan")
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f"REVOKE USAGE ON SCHEMA s FROM {app}")
            dumped = subprocess.run(
                [find_pg_tools().pg_dump, "-Fc", "-f", os.devnull, child.url],
                env=child.env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert _unreadable(as_app, dumped.stderr) == ("schema", "s"), dumped.stderr
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"REVOKE USAGE ON SCHEMA s FROM {app}; DROP ROLE {app}")


def test_a_lock_pg_dump_gave_up_on_is_named_by_a_german_server(pg_url: str) -> None:
    """``pg_dump: error: query failed: FEHLER:  storniere Anfrage wegen Zeitüberschreitung der
    Anfrage`` behind a maintenance session's exclusive lock: the backup said "pg_dump failed
    (exit 1)" with the hint to check the disk, not who held the lock. Its LOCK TABLE (pg_dump's
    own words) names a table that is there and readable: it was waited on."""
    from tests.inproc import run_inproc

    with _german(pg_url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(conn.info.dbname))
                     + sql.SQL(TRANSLATED.removeprefix("SET ")))  # fmt: skip
        conn.execute("CREATE SCHEMA laporan; CREATE TABLE laporan.rekap (id int)")
    with psycopg.connect(pg_url, application_name="vacuum-full-job") as maint:
        maint.execute("LOCK TABLE laporan.rekap IN ACCESS EXCLUSIVE MODE")
        res = run_inproc("--database", f"{pg_url}?lock_timeout=300ms", "backup", "create")
    assert res.code == 1, res.err
    assert "pg_dump gave up waiting 300ms for a lock on laporan.rekap (the server said: " in res.err
    assert "storniere Anfrage" in res.err and "; no backup was made" in res.err, res.err
    assert "(vacuum-full-job, postgres, idle in transaction)" in res.err, res.err


def test_a_baseline_holding_the_tool_s_tables_is_named_by_a_german_server(
    pg_url: str, tmp_path: Path
) -> None:
    """A baseline `pg_dump` of a database the tool worked on re-creates ``malnu_audit``:
    ``Relation »malnu_audit« existiert bereits`` got "fix the file and run again", not that
    the file holds the tool's own tables (read by SQLSTATE 42P07 and the name it quotes)."""
    from tests.fixtures_core import MigrationDirs
    from tests.inproc import run_inproc

    with _german(pg_url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(conn.info.dbname))
                     + sql.SQL(TRANSLATED.removeprefix("SET ")))  # fmt: skip
    d = MigrationDirs(tmp_path / "p")
    d.migrations.mkdir(parents=True)
    d.rollback.mkdir(parents=True)
    d.add("20250201_000000", "baseline", "CREATE TABLE kelas (id int);\n"
          "CREATE TABLE malnu_audit (id int PRIMARY KEY, at text NOT NULL);\n")  # fmt: skip
    res = run_inproc("--database", pg_url, *d.args(), "up", "--no-backup")
    assert res.code == 1 and "»malnu_audit« existiert bereits" in res.err, res.err
    assert "creates the tool's own tables" in res.err, res.err


def _database_speaks_german(conn: Conn) -> None:
    conn.execute(sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(conn.info.dbname))
                 + sql.SQL(TRANSLATED.removeprefix("SET ")))  # fmt: skip


def test_a_restore_s_refusals_by_a_german_server_get_their_hints(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """What the restore's psql (run verbose) says: the app's role may not replace a report
    table with a space in its name (``keine Berechtigung für Tabelle Data Siswa`` /
    ``Berechtigung nur für Eigentümer der Tabelle …``), and a foreign key names rows gone
    (``Einfügen oder Aktualisieren in Tabelle »nilai« verletzt Fremdschlüssel-Constraint``):
    neither got a hint (the English words were read, a name ended at its space). Read by
    SQLSTATE 42501 and the catalog's table the message names, and by 23503 and psql's TABLE
    NAME and CONSTRAINT NAME fields."""
    from malnu_tui.engine.backup.pg_needs import foreign_key_hint
    from malnu_tui.engine.backup.pg_restore import _not_owner_hint
    from malnu_tui.engine.backup.pg_tools import server_said
    from malnu_tui.engine.backup.pg_tooltext import server_error

    app, report = f"app_{secrets.token_hex(4)}", f"lap_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute(f"CREATE ROLE {app} LOGIN; CREATE ROLE {report}")
        conn.execute(
            f'CREATE TABLE "Data Siswa" (id int); ALTER TABLE "Data Siswa" OWNER TO {report}'
        )
        conn.execute("CREATE TABLE siswa (id int PRIMARY KEY); CREATE TABLE nilai (siswa int "
                     "CONSTRAINT nilai_siswa REFERENCES siswa)")  # fmt: skip
    url = pg_url.replace(f"{pg_cluster.user}@", f"{app}@")

    def psql(url: str, script: str) -> str:
        return subprocess.run(
            [pg_cluster.bin("psql"), "-X", "-q", "--set=ON_ERROR_STOP=1", "--set=VERBOSITY=verbose",
             "-d", url], input=script, capture_output=True, text=True, check=False, timeout=30,
        ).stderr  # fmt: skip

    try:
        err = psql(url, 'BEGIN;\nDROP TABLE IF EXISTS public."Data Siswa";\n')
        assert "42501" in err and "Data Siswa" in err, err
        said = server_said(err)
        assert said.startswith("FEHLER: ") and "42501" not in said and "LOCATION" not in said
        backend = open_url(url)
        try:
            hint = _not_owner_hint(backend, said, server_error(err))
        finally:
            backend.close()
        assert hint == (
            f'public."Data Siswa" belongs to {report}, and {app} (the role restoring) may not '
            f"replace it: restore as {report} or a superuser, or `GRANT {report} TO {app}` first"
        ), hint
        err = psql(pg_url, "BEGIN;\nINSERT INTO nilai VALUES (7);\n")
        assert "Fremdschlüssel" in err, err
        with psycopg.connect(pg_url, autocommit=True) as conn:
            hint = foreign_key_hint(conn, server_said(err), server_error(err))
        assert hint is not None and hint.startswith(
            "rows of public.nilai name public.siswa rows deleted since the backup (siswa = 7) "
            "through nilai_siswa;"
        ), hint
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {report}; DROP OWNED BY {app}")
            conn.execute(f"DROP ROLE {report}; DROP ROLE {app}")


def test_a_restore_behind_a_lock_on_a_german_server_names_the_holder(
    pg_url: str, tmp_path: Path
) -> None:
    """``storniere Anfrage wegen Zeitüberschreitung einer Sperre``: the restore read "lock
    timeout" and gave no hint of the session holding its table; by SQLSTATE 55P03 now."""
    from tests.fixtures_core import run_cli

    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute("CREATE TABLE rekap (id int)")
    url, env = f"{pg_url}?lock_timeout=300ms", {"MALNU_BACKUP_DIR": str(tmp_path / "b")}
    made = run_cli("--database", url, "backup", "create", env=env)
    assert made.code == 0, made.err
    with psycopg.connect(pg_url, application_name="laporan-job") as job:
        job.execute("SELECT * FROM rekap")  # idle in transaction, holding its share lock
        res = run_cli("--database", url, "backup", "restore", made.out.strip(), "--yes", env=env)
    assert res.code == 1 and "Sperre" in res.err and "55P03" not in res.err, res.err
    assert "hint: other sessions kept locks on its tables for lock_timeout = 300ms" in res.err
    assert "laporan-job" in res.err, res.err


def _server_lc_messages(url: str, value: str) -> None:
    """The whole cluster's lc_messages (what a refusal at connection time is said in: a
    session's own setting comes after), set and in force for new sessions."""
    with psycopg.connect(url, autocommit=True) as conn:
        if value == "C":
            conn.execute("ALTER SYSTEM RESET lc_messages")
        else:
            conn.execute(sql.SQL("ALTER SYSTEM SET lc_messages = {}").format(sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
    for _ in range(200):
        with psycopg.connect(url) as conn:
            if conn.execute("SHOW lc_messages").fetchone() == (value,):
                return
        time.sleep(0.01)
    raise AssertionError(f"lc_messages did not become {value}")


def test_a_connection_limit_said_by_a_german_server_gets_its_hint(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """``ALTER ROLE … CONNECTION LIMIT 2`` on a server speaking German: pg_dump's connection,
    the backup's third, is refused with ``FATAL:  zu viele Verbindungen für Rolle »app«``
    (no SQLSTATE in a client tool's text), and the backup said "pg_dump failed" with the
    disk's hint. The catalog, read over the backup's own session, finds the limit reached."""
    from tests.inproc import run_inproc

    app = f"app_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {app} LOGIN CONNECTION LIMIT 2")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {app}")
    url = pg_url.replace(f"{pg_cluster.user}@", f"{app}@")
    _server_lc_messages(pg_cluster.superuser_url, "C.UTF-8")
    try:
        res = run_inproc("--database", url, "backup", "create")
    finally:
        _server_lc_messages(pg_cluster.superuser_url, "C")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {app}; DROP ROLE {app}")
    assert res.code == 1, res.err
    assert "pg_dump could not connect: too many connections; no backup was made" in res.err, res.err
    assert f"ALTER ROLE {app} CONNECTION LIMIT 10;" in res.err, res.err


def test_a_warning_before_a_restore_s_error_is_not_taken_for_it(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """psql's verbose text of a restore whose GRANT the role may not give (``WARNUNG:  01007:
    es wurden keine Privilegien gewährt für »t«``) before its error: the WARNING's fields were
    read as the error's (SQLSTATE 01007), so a foreign key's refusal (23503) on a server
    speaking German got no hint. The error is the first message of an error's class."""
    from malnu_tui.engine.backup.pg_needs import foreign_key_hint
    from malnu_tui.engine.backup.pg_tools import server_said
    from malnu_tui.engine.backup.pg_tooltext import server_error

    app = f"app_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute("CREATE TABLE guru (id int PRIMARY KEY); CREATE TABLE kelas (guru int "
                     "CONSTRAINT kelas_guru REFERENCES guru)")  # fmt: skip
        conn.execute(f"GRANT SELECT ON guru TO {app}; GRANT INSERT ON kelas TO {app}")
    url = pg_url.replace(f"{pg_cluster.user}@", f"{app}@")
    try:
        err = subprocess.run(
            [pg_cluster.bin("psql"), "-X", "-q", "--set=ON_ERROR_STOP=1", "--set=VERBOSITY=verbose",
             "-d", url], input="BEGIN;\nGRANT SELECT ON guru TO PUBLIC;\n"
            "INSERT INTO kelas VALUES (7);\n", capture_output=True, text=True, check=False,
            timeout=30,
        ).stderr  # fmt: skip
        assert "01007" in err and "23503" in err, err
        error = server_error(err)
        assert error is not None and (error.sqlstate, error.table) == ("23503", "kelas"), error
        with psycopg.connect(pg_url, autocommit=True) as conn:
            hint = foreign_key_hint(conn, server_said(err), error)
        assert hint is not None and hint.startswith(
            "rows of public.kelas name public.guru rows deleted since the backup"
        ), hint
        assert "through kelas_guru;" in hint, hint
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {app}; DROP ROLE {app}")


def test_a_superuser_s_refused_connection_is_no_connection_limit(pg_url: str) -> None:
    """A superuser's backup of a database whose CONNECTION LIMIT its app's sessions fill: no
    limit holds a superuser back, so pg_dump's refusal was another (``sorry, too many clients
    already``: max_connections), yet the catalog's count was read as the database's limit and
    the hint said to raise it. For a role under the same limit, it is."""
    from malnu_tui.engine.backends.pg_connlimit import limit_reached

    err = (
        'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
        "sorry, too many clients already"
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        db = conn.info.dbname
        conn.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 1").format(sql.Identifier(db)))
        try:
            assert limit_reached(conn, err) is None
            app = f"app_{secrets.token_hex(4)}"
            conn.execute(f"CREATE ROLE {app}")
            with _as(conn, app):
                assert limit_reached(conn, err) == ("database", db)
            conn.execute(f"DROP ROLE {app}")
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT -1").format(
                sql.Identifier(db)))  # fmt: skip


def test_a_secret_the_error_itself_quotes_is_left_out_with_copy_s_context(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """A restore's COPY refusing a secret column's value (``remember_token uuid``: ``FEHLER:
    ungültige Eingabesyntax für Typ uuid: »…«``): COPY's context was masked, the error's own
    quote of the same value went out whole, in the restore's error, audit row and debug log."""
    from malnu_tui.engine.backup.pg_tools import server_said
    from malnu_tui.engine.backup.pg_tooltext import DumpTables

    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute("CREATE TABLE pengguna (id int, remember_token uuid)")
    token = "LEAK" + "x" * 120  # (longer than the context's 100 characters)
    dump = f"COPY public.pengguna (id, remember_token) FROM stdin;\n1\t{token}\n\\.\n"
    err = subprocess.run(
        [pg_cluster.bin("psql"), "-X", "-q", "--set=ON_ERROR_STOP=1", "--set=VERBOSITY=verbose",
         "-d", pg_url], input=f"BEGIN;\n{dump}", capture_output=True, text=True, check=False,
        timeout=30,
    ).stderr  # fmt: skip
    assert "22P02" in err and token in err, err
    tables = DumpTables()
    tables.feed(dump.encode())
    said = server_said(err, tables)
    assert "LEAK" not in said and "Spalte remember_token: (not shown)" in said, said
    assert "uuid: »(not shown)«" in said, said


def test_a_role_a_restore_names_is_said_by_a_german_server(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """A role dropped between the restore's check of its roles and its GRANT (or one a
    statement names that the check does not read): ``FEHLER: Rolle »Head »x« Office«
    existiert nicht`` got no hint (the English ``role "…" does not exist`` was read). Read by
    SQLSTATE 42704 raised where the server looks a role up (psql's LOCATION field: the
    function's name, in no language); a type that does not exist (42704 too) is no role."""
    from malnu_tui.engine.backup.pg_needs import role_hint
    from malnu_tui.engine.backup.pg_tools import server_said
    from malnu_tui.engine.backup.pg_tooltext import server_error

    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute("CREATE TABLE rapor (id int)")

    def psql(script: str) -> str:
        return subprocess.run(
            [pg_cluster.bin("psql"), "-X", "-q", "--set=ON_ERROR_STOP=1", "--set=VERBOSITY=verbose",
             "-d", pg_url], input=f"BEGIN;\n{script}\n", capture_output=True, text=True,
            check=False, timeout=30,
        ).stderr  # fmt: skip

    for statement in (
        'GRANT SELECT ON rapor TO "Head »x« Office";',
        'CREATE POLICY wali ON rapor TO "Head »x« Office" USING (true);',
    ):
        err = psql(statement)
        assert "Rolle »Head »x« Office« existiert nicht" in err, err
        hint = role_hint(server_said(err), server_error(err))
        assert hint is not None and hint.startswith("the backup names role Head »x« Office,"), err
        assert 'CREATE ROLE "Head »x« Office" NOLOGIN;' in hint, hint
    err = psql("SELECT 'x'::kelas_jenis;")
    assert "42704" in err and "»kelas_jenis«" in err, err
    assert role_hint(server_said(err), server_error(err)) is None


def test_a_role_dropped_as_a_restore_begins_gets_its_hint_from_a_german_server(
    pg_url: str, tmp_path: Path
) -> None:
    """The restore checks the roles its grants name, then runs: a role another session drops
    in between (while the pre-restore backup is taken) stops it at its GRANT, in German."""
    from malnu_tui.engine.backup import create_backup, restore_backup
    from malnu_tui.engine.backup.store import BackupError, BackupProgress
    from tests.backup_support import make_target, open_fresh

    role = f"wali_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _database_speaks_german(conn)
        conn.execute(f"CREATE ROLE {role}; CREATE TABLE rapor (id int)")
        conn.execute(f"GRANT SELECT ON rapor TO {role}")
    target = make_target(tmp_path, pg_url)
    backend = open_fresh(target)

    def drop_role(p: BackupProgress) -> None:
        if p.message.startswith("pg_restore --clean"):  # (its roles checked a moment ago)
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")

    try:
        made = create_backup(backend, target)
        with pytest.raises(BackupError) as info:
            restore_backup(backend, target, made.id, progress=drop_role)
    finally:
        backend.close()
    assert f"Rolle »{role}« existiert nicht" in str(info.value), info.value
    assert f"CREATE ROLE {role} NOLOGIN;" in (info.value.hint or ""), info.value.hint
