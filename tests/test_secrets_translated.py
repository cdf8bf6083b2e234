"""A server that speaks another language (lc_messages: a Supabase project may set it, a
self-hosted server often has de_DE, fr_FR, id_ID…) says a key's values in its own words:
"Schlüssel »(remember_token)=(…)« existiert bereits.", "Fehlgeschlagene Zeile enthält (…)."
The secrets were masked by the English words alone, and went out whole in a migration's error,
an import's rejects, the sync's errors and a restore's. They are masked by the message's
structure, ``(cols)=(values)``, and the refused row by its error's SQLSTATE (or, in psql's
text, by its place). The cluster speaks German to a session that sets
:data:`tests.fixtures_pg.TRANSLATED` (the server's own catalogue: see SERVER_ENV there)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from malnu_tui.engine.backends.base import AuditEntry, RecordApplied
from malnu_tui.engine.backends.pg_sql import error_text
from malnu_tui.engine.backends.postgresql import open_url
from malnu_tui.engine.backup.pg_tools import server_said
from malnu_tui.engine.data import ImportRequest, MaxErrors
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.secrets import masked_detail
from malnu_tui.engine.sqlsplit import split_statements
from malnu_tui.engine.sync.side_pgkeys import pg_error
from tests.fixtures_pg import TRANSLATED, PgCluster
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv

TOKEN = "rt-LEAK-7f3a9c1e5b2d4086a1c3"
PW = "$2y$10$LEAKQm9vT2xkSGFzaFZhbHVlMDEy"


def _speaks_german(url: str) -> None:
    """Every new session of ``url``'s database speaks German, as a server set so does."""
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(name[0]))
            + sql.SQL(TRANSLATED.removeprefix("SET "))
        )


def _refused(conn: psycopg.Connection[tuple[object, ...]], statement: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info, conn.transaction():
        conn.execute(statement)
    return info.value


def _psql(cluster: PgCluster, url: str, script: str) -> subprocess.CompletedProcess[str]:
    """The real psql running ``script`` (no psqlrc, quiet), its output captured."""
    return subprocess.run(
        [cluster.bin("psql"), "-X", "-q", "-d", url, "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_a_translated_server_s_errors_are_masked_by_their_structure(pg_url: str) -> None:
    """The sync's and the migrations' one text of a server error (:func:`pg_error`,
    :func:`error_text`: also the debug log's and the run log's) of a unique key, a foreign key,
    an exclusion and a CHECK's refused row, in German."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(TRANSLATED)
        conn.execute(
            "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, remember_token text "
            "UNIQUE, password text, n int CHECK (n > 0));"
            "CREATE TABLE devices (api_token text REFERENCES users (remember_token), "
            "EXCLUDE USING btree (api_token WITH =));"
        )
        conn.execute("INSERT INTO users VALUES (1, 'a@x', %s, %s, 1)", (TOKEN, PW))
        conn.execute("INSERT INTO devices VALUES (%s)", (TOKEN,))
        columns = ("id", "email", "remember_token", "password", "n")
        dup = _refused(conn, f"INSERT INTO users VALUES (2, 'b@x', '{TOKEN}', 'x', 1)")
        assert "Schlüssel »(remember_token)=(" in (dup.diag.message_detail or ""), dup
        for said in (error_text(dup), str(pg_error("sync users", dup, columns=columns))):
            assert "»(remember_token)=(sha256:" in said and "LEAK" not in said, said
        email = _refused(conn, "INSERT INTO users VALUES (2, 'a@x', 'other', 'x', 1)")
        assert "»(email)=(a@x)« existiert bereits" in error_text(email)  # no secret: kept
        fk = _refused(conn, f"INSERT INTO devices VALUES ('{TOKEN}-2')")
        assert "ist nicht in Tabelle" in error_text(fk) and "LEAK" not in error_text(fk)
        excl = _refused(conn, f"INSERT INTO devices VALUES ('{TOKEN}')")
        said = error_text(excl)
        assert "kollidiert mit vorhandenem Schlüssel (api_token)=(sha256:" in said, said
        assert "LEAK" not in said, said
        row = _refused(conn, "UPDATE users SET n = -1")
        assert (row.diag.message_detail or "").startswith("Fehlgeschlagene Zeile enthält (")
        for said in (
            error_text(row, columns),
            str(pg_error("sync users", row, columns=columns)),
        ):
            assert "Fehlgeschlagene Zeile enthält (…): its values not shown" in said, said
            assert "LEAK" not in said, said
        said = str(pg_error("sync users, row id=1", row, row_named=True))
        assert "Fehlgeschlagene Zeile" not in said and "LEAK" not in said, said


def test_a_data_migration_and_an_import_on_a_translated_server_show_no_secret(
    pg_url: str, tmp_path: Path
) -> None:
    """A migration's UPDATE a CHECK refuses on a users table (its failing row read by its
    SQLSTATE: the table's columns looked up), and an import's row whose token another row
    holds (the reject's reason), on a database whose server speaks German."""
    _speaks_german(pg_url)
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE akun (id int PRIMARY KEY, kelas int CHECK (kelas > 0), "
            f"pw_hash text, api_token text UNIQUE);\nINSERT INTO akun VALUES (1, 7, '{PW}', "
            f"'{TOKEN}');\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), _audit())
        with pytest.raises(StatementFailed) as info:
            up = "UPDATE akun SET kelas = -1;\n"
            be.run_unit("u.sql", split_statements(up), RecordApplied("u.sql", "c"), _audit())
        said = str(info.value)
        assert "Fehlgeschlagene Zeile enthält (…): its values not shown" in said, said
        assert "LEAK" not in said, said
    finally:
        be.close()
    imp = ImportTarget("postgresql", pg_url, tmp_path)
    f = write_csv(tmp_path / "a.csv", f"id,kelas,pw_hash,api_token\n2,3,x,{TOKEN}\n")
    req = ImportRequest("akun", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(1))
    (r,) = rejects_of(import_into(imp, req).rejects_file)
    assert "»(api_token)=((hidden))« existiert bereits" in r["reason"], r
    assert "LEAK" not in r["reason"], r


def test_psql_s_text_from_a_translated_server_is_masked(pg_url: str, pg_cluster: PgCluster) -> None:
    """What a restore's psql prints (its stderr, the restore's error, audit row and debug
    log): the real psql against a German-speaking server, a duplicated token and a refused
    row of a table whose columns are not known here."""
    script = (
        f"{TRANSLATED};\n"
        "CREATE TABLE users (id int, remember_token text UNIQUE, n int CHECK (n > 0));\n"
        f"INSERT INTO users VALUES (1, '{TOKEN}', 1);\n"
        f"INSERT INTO users VALUES (2, '{TOKEN}', 1);\n"
        f"INSERT INTO users VALUES (3, '{TOKEN}x', -1);\n"
    )
    out = _psql(pg_cluster, pg_url, script)
    assert "existiert bereits" in out.stderr and "Fehlgeschlagene Zeile" in out.stderr, out
    said = server_said(out.stderr)
    assert "»(remember_token)=(sha256:" in said, said
    assert "Fehlgeschlagene Zeile enthält (…): its values not shown" in said, said
    assert "LEAK" not in said, said


# The words of PostgreSQL 15's own catalogues (/usr/share/locale/*/LC_MESSAGES/postgres-15.mo)
# around a key and a refused row, for the languages this box has no server to speak.
CATALOGUES = {
    "fr": ("La clé « %s » existe déjà.", "La ligne en échec contient %s."),
    "es": ("Ya existe la llave %s.", "La fila que falla contiene %s."),
    "ja": ("キー %s はすでに存在します。", "失敗した行は%sを含みます"),
    "ko": ("%s 키가 이미 있습니다.", "실패한 자료: %s"),
    "ru": ('Ключ "%s" уже существует.', "Ошибочная строка содержит %s."),
    "ka": ("გასაღები უკვე არსებობს: %s.", 'შეცდომიანი მწკრივი "%s"-ს შეიცავს.'),
    "zh_CN": ('键值"%s" 已经存在', "失败, 行包含%s."),
}


def test_every_catalogue_s_key_and_row_are_masked() -> None:
    for lang, (key, row) in CATALOGUES.items():
        said = masked_detail(key % f"(email, remember_token)=(a@x, {TOKEN})", sqlstate="23505")
        assert "(email, remember_token)=(a@x, sha256:" in said and "LEAK" not in said, lang
        said = masked_detail(row % f"(1, {TOKEN})", ("id", "api_token"), sqlstate="23514")
        assert "(…)" in said and "its values not shown" in said and "LEAK" not in said, lang
        kept = masked_detail(row % "(1, -3)", ("id", "n"), sqlstate="23514")
        assert kept == row % "(1, -3)", lang  # a table holding no secret: the row helps


def _audit() -> AuditEntry:
    return AuditEntry.now("apply", "x.sql", "ok")


def test_psql_s_values_with_a_line_like_a_label_are_masked_whole(
    pg_url: str, pg_cluster: PgCluster
) -> None:
    """A key's or a refused row's text value running over lines, one of them like a label (a
    school's notes: ``Ayah: Budi`` / ``Ibu: Siti``), in psql's text: the key's token after
    that line went out whole, and a refused row ended the restore's error in a traceback
    (ValueError: its first part had no ")"); in English and in German."""
    for setting in ("SET lc_messages TO 'C'", TRANSLATED):
        script = (
            f"{setting};\n"
            "CREATE TEMP TABLE users (id int, notes text, remember_token text, "
            "n int CHECK (n > 0), UNIQUE (notes, remember_token));\n"
            f"INSERT INTO users VALUES (1, E'Ayah: Budi\\nIbu: Siti', '{TOKEN}', 1);\n"
            f"INSERT INTO users VALUES (2, E'Ayah: Budi\\nIbu: Siti', '{TOKEN}', 1);\n"
            f"INSERT INTO users VALUES (3, E'Ayah: Budi\\nIbu: Siti', '{TOKEN}x', -1);\n"
        )
        out = _psql(pg_cluster, pg_url, script)
        assert out.stderr.count("\nIbu: Siti") == 2 and TOKEN in out.stderr, out
        said = server_said(out.stderr)
        assert "(…): its values not shown" in said, said
        assert "Ibu: Siti, sha256:" in said, said
        assert "LEAK" not in said, said
    # A client speaking Georgian: its labels have no capitals, and are labels all the same.
    said = server_said(
        'psql:<stdin>:5: ERROR:  new row\nდეტალი:  შეცდომიანი მწკრივი "(3, '
        f'{TOKEN}, -1)"-ს შეიცავს.\n'
    )
    assert said.endswith('დეტალი: შეცდომიანი მწკრივი "(…)"-ს შეიცავს: its values not shown, '
                         "its table's columns not known here"), said  # fmt: skip


def test_copy_s_value_in_a_german_server_s_quotes_is_left_out() -> None:
    """COPY's context quoting a column's value in the server's own quotes (``COPY users,
    Zeile 1, Spalte remember_token: »…«``; English ``"…"``) went out whole: the value is
    what follows the column's name, whatever quotes it."""
    for quoted in (f"»{TOKEN}«", f'"{TOKEN}"', f"« {TOKEN} »"):
        said = server_said(
            f"FEHLER:  x\nCONTEXT:  COPY users, Zeile 1, Spalte remember_token: {quoted}\n"
        )
        assert said.endswith("COPY users, Zeile 1, Spalte remember_token: (not shown)"), said
    kept = server_said('ERROR:  x\nCONTEXT:  COPY users, line 1, column n: "abc"\n')
    assert kept.endswith('column n: "abc"'), kept  # no secret: the value helps
