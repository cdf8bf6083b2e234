"""A restore that fails on a secret column's values: PostgreSQL's DETAIL names them
(``Key (remember_token)=(…) is duplicated.``), and psql's stderr went whole into the
restore's error, its audit row, `recover`'s and `rehearse`'s reports and the debug log."""

from __future__ import annotations

import json

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster

TOKEN = "rt-7f3a9c1e5b2d4086a1c3e5f7"


def test_a_restore_failing_on_a_duplicated_token_does_not_print_it(
    pg_url: str, pg_cluster: PgCluster, mdirs: MigrationDirs
) -> None:
    """Two users hold one remember token under a UNIQUE index that did not see them (a
    collation change under the index, glibc 2.28's: made here by marking a plain index
    unique). The backup is sound; its restore builds the index and fails."""
    mdirs.add(
        "20250101_000100",
        "users",
        "CREATE TABLE users (id int PRIMARY KEY, email text, remember_token text);"
        "CREATE INDEX users_remember_token ON users (remember_token);",
        "DROP TABLE users;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@x', %s), (2, 'b@x', %s)", (TOKEN, TOKEN))
        conn.execute(
            "UPDATE pg_index SET indisunique = true "
            "WHERE indexrelid = 'users_remember_token'::regclass"
        )
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    env = {"MIGRATION_DEBUG": "1"}
    restored = run_cli(*base, "backup", "restore", backup_id, "--yes", env=env)
    assert restored.code != 0, restored.err
    said = restored.out + restored.err
    assert "could not create unique index" in said and "Key (remember_token)=(sha256:" in said
    assert TOKEN not in said, said
    audit = run_cli(*base, "log", "--action", "restore", "--json")
    assert audit.code == 0 and "Key (remember_token)=(sha256:" in audit.out, audit
    assert TOKEN not in audit.out, audit.out
    recovered = run_cli(*base, "recover", "--to", "now", "--yes", env=env)
    said = recovered.out + recovered.err
    assert recovered.code != 0 and "Key (remember_token)=(sha256:" in said, said
    assert TOKEN not in said, said
    rehearsed = run_cli(*base, "rehearse", "--backup", backup_id, env=env)
    said = rehearsed.out + rehearsed.err
    assert rehearsed.code != 0 and "Key (remember_token)=(sha256:" in said, said
    assert TOKEN not in said, said


def test_a_restore_failing_on_a_check_does_not_print_the_row(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """A CHECK the rows broke unseen (added NOT VALID, then marked valid: pg_dump puts it in
    the CREATE TABLE, before the data): psql quotes the row twice, ``DETAIL: Failing row
    contains (1, a@x, rt-…)`` and ``CONTEXT: COPY users, line 1: "1	a@x	rt-…"``."""
    mdirs.add(
        "20250101_000100",
        "users",
        "CREATE TABLE users (id int PRIMARY KEY, email text, remember_token text);",
        "DROP TABLE users;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@x', %s)", (TOKEN,))
        conn.execute(
            "ALTER TABLE users ADD CONSTRAINT short_token "
            "CHECK (length(remember_token) < 10) NOT VALID"
        )
        conn.execute("UPDATE pg_constraint SET convalidated = true WHERE conname = 'short_token'")
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    restored = run_cli(
        *base,
        "backup",
        "restore",
        json.loads(made.out)["id"],
        "--yes",
        env={"MIGRATION_DEBUG": "1"},
    )
    said = restored.out + restored.err
    assert restored.code != 0 and 'violates check constraint "short_token"' in said, said
    assert "Failing row contains (…): its values not shown" in said, said
    assert "COPY users, line 1: (not shown)" in said, said
    assert TOKEN not in said, said


def test_a_restore_failing_on_a_repeated_laravel_session_id_masks_it(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """Laravel's sessions (its id is the login cookie: a secret by the table's shape, not its
    name) with one id twice under a unique index that did not see it, on a server speaking
    German: psql's ``Schlüssel (id)=(…) ist doppelt vorhanden.`` names no table (the error
    line names the index, ``»sessions_id_unique«``); the restore knows it from the dump's
    SQL (the index's CREATE, the table's COPY) and masks the id. It went out whole; so it
    did from ``backup verify --deep``'s scratch restore of the same dump."""
    from tests.test_secrets_translated import _speaks_german

    sid = "LEAKabcdefghijklmnopqrstuvwxyz0123456789"
    mdirs.add(
        "20250101_000100",
        "sessions",
        "CREATE TABLE sessions (id varchar(255) NOT NULL, user_id bigint, ip_address "
        "varchar(45), user_agent text, payload text NOT NULL, last_activity integer NOT NULL);"
        "CREATE INDEX sessions_id_unique ON sessions (id);",
        "DROP TABLE sessions;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sessions VALUES (%s, 1, 'ip', 'ua', 'YTox', 1)", (sid,))
        conn.execute("INSERT INTO sessions VALUES (%s, 2, 'ip', 'ua', 'YTox', 2)", (sid,))
        conn.execute(
            "UPDATE pg_index SET indisunique = true "
            "WHERE indexrelid = 'sessions_id_unique'::regclass"
        )
    _speaks_german(pg_url)
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    env = {"MIGRATION_DEBUG": "1"}
    restored = run_cli(*base, "backup", "restore", backup_id, "--yes", env=env)
    said = restored.out + restored.err
    assert restored.code != 0 and "»sessions_id_unique«" in said, said
    assert "Schlüssel (id)=(sha256:" in said and "LEAK" not in said, said
    # `backup verify --deep` restores the dump into a scratch database (which speaks the
    # server's English): its failed check quoted the id whole, masked by the key's name only.
    verified = run_cli(*base, "backup", "verify", backup_id, "--deep", "--json", env=env)
    said = verified.out + verified.err
    assert verified.code == 1 and "sessions_id_unique" in said, said
    assert "Key (id)=(sha256:" in said and "LEAK" not in said, said  # (the debug log's too)


def test_the_dump_s_tables_tell_which_key_psql_names() -> None:
    """:class:`DumpTables` read from a restore's SQL cut at any byte (a statement across two
    chunks): a school's table keyed by id keeps its ids (its key's name, or its COPY, named
    in the message), Laravel's sessions' id is masked, and so is an ``(id)=(…)`` whose
    message names none of the dump's tables (a sessions table is among them)."""
    from malnu_tui.engine.backup.pg_tooltext import DumpTables, tool_text_masked

    sql = (
        b"SET lock_timeout = 0;\n"
        b'COPY public."Data Siswa" (id, "Nama Lengkap") FROM stdin;\n1\tBudi\n\\.\n\n'
        b"COPY public.sessions (id, user_id, ip_address, user_agent, payload, last_activity) "
        b"FROM stdin;\nabc\t1\tip\tua\tYTox\t1\n\\.\n\n"
        b'ALTER TABLE ONLY public."Data Siswa"\n    ADD CONSTRAINT "Data Siswa_pkey" PRIMARY KEY '
        b"(id);\nCREATE UNIQUE INDEX sessions_id_unique ON public.sessions USING btree (id);\n"
    )
    for cut in range(1, len(sql)):
        tables = DumpTables()
        tables.feed(sql[:cut])
        tables.feed(sql[cut:])
        assert tables.keys == {"Data Siswa_pkey": "Data Siswa", "sessions_id_unique": "sessions"}
        assert tables.columns["sessions"][-1] == "last_activity", cut
    sid = "LEAK-0123456789abcdefghij"
    school = "ERROR:  could not create unique index »Data Siswa_pkey«\nDETAIL:  Key (id)=(7) is"
    assert tool_text_masked(school + " duplicated.\n", tables).endswith(
        "Key (id)=(7) is duplicated.\n"
    )
    for error in (
        "ERROR:  konnte Unique Index »sessions_id_unique« nicht erstellen\n",
        "ERROR:  doppelter Schlüsselwert verletzt Unique-Constraint »x«\n",
    ):
        said = tool_text_masked(f"{error}DETAIL:  Schlüssel (id)=({sid}) existiert.\n", tables)
        assert "(id)=(sha256:" in said and "LEAK" not in said, said
    said = tool_text_masked(
        f'ERROR:  x\nCONTEXT:  COPY sessions, Zeile 2, Spalte id: "{sid}"\n', tables
    )
    assert "COPY sessions, Zeile 2, Spalte id: (not shown)" in said, said


def test_a_dump_s_rows_that_read_like_its_statements_are_rows() -> None:
    """A table whose first column holds SQL text (a school's saved report queries) has rows
    reading ``CREATE UNIQUE INDEX sessions_id_unique ON public.laporan …`` and ``COPY
    public.sessions (id) FROM stdin;``: they were read as the dump's statements, the first
    kept (Laravel's sessions' key taken for laporan's, its columns for one ``id``), so a
    repeated session id in psql's message was shown. A COPY's rows are passed over to their
    ``\\.``, in one chunk or cut anywhere."""
    from malnu_tui.engine.backup.pg_tooltext import DumpTables, tool_text_masked

    sql = (
        b"COPY public.laporan (query, title) FROM stdin;\n"
        b"CREATE UNIQUE INDEX sessions_id_unique ON public.laporan USING btree (query);\tx\n"
        b"COPY public.sessions (id) FROM stdin;\ty\n\\.\n\n"
        b"COPY public.sessions (id, user_id, ip_address, user_agent, payload, last_activity) "
        b"FROM stdin;\nabc\t1\tip\tua\tYTox\t1\n\\.\n\n"
        b"CREATE UNIQUE INDEX sessions_id_unique ON public.sessions USING btree (id);\n"
    )
    sid = "LEAK-0123456789abcdefghij"
    error = "ERROR:  could not create unique index »sessions_id_unique«\n"
    for cut in (len(sql), *range(1, len(sql), 7)):
        tables = DumpTables()
        tables.feed(sql[:cut])
        tables.feed(sql[cut:])
        assert tables.keys == {"sessions_id_unique": "sessions"}, cut
        assert tables.columns["sessions"][-1] == "last_activity", cut
        said = tool_text_masked(f"{error}DETAIL:  Key (id)=({sid}) is duplicated.\n", tables)
        assert "(id)=(sha256:" in said and "LEAK" not in said, said


def test_a_table_named_like_a_word_of_copy_s_context_is_not_taken_for_its_table() -> None:
    """A dump with a table named ``line`` (a bus line, a timetable's) before Laravel's
    sessions: COPY's context ``COPY sessions, line 2, column id: "…"`` was read as naming
    ``line`` (the first of the dump's tables found in it), so the session id went out whole.
    The table COPY names comes first in its words."""
    from malnu_tui.engine.backup.pg_tooltext import DumpTables, tool_text_masked

    tables = DumpTables()
    tables.feed(
        b"COPY public.line (id, name) FROM stdin;\n1\tA\n\\.\n\n"
        b"COPY public.sessions (id, user_id, ip_address, user_agent, payload, last_activity) "
        b"FROM stdin;\nabc\t1\tip\tua\tYTox\t1\n\\.\n\n"
    )
    sid = "LEAK-0123456789abcdefghij"
    said = tool_text_masked(
        "ERROR:  value too long for type character varying(10)\n"
        f'CONTEXT:  COPY sessions, line 2, column id: "{sid}"\n',
        tables,
    )
    assert "COPY sessions, line 2, column id: (not shown)" in said and "LEAK" not in said, said
    said = tool_text_masked(f'ERROR:  x\nCONTEXT:  COPY line, line 2, column id: "{sid}"\n', tables)
    assert f'column id: "{sid}"' in said, said  # (line's id: no secret)
