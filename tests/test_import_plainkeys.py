"""A plain insert (no --key, no --on-conflict update|skip) whose primary key repeats within the
file names the line holding it first, as the keyed imports do, on every backend and in a dry
run; a key already in the table is named with its value, a secret-looking one hidden. D1's dry
run finds a key repeated chunks apart. A ``--from`` table whose mapping names a column it lacks
is told so in a table's words, with the columns it has (it said "fix the header")."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from malnu_tui.engine.data import ImportRequest, MaxErrors, open_csv, run_import
from tests.fixtures_core import run_cli
from tests.fixtures_matrix import DbTarget
from tests.import_support import (
    USERS_DDL,
    ImportTarget,
    import_into,
    rejects_of,
    sqlite_file_rows,
    write_csv,
)


def test_a_plain_insert_names_the_line_holding_the_key_first(
    imp: ImportTarget, tmp_path: Path
) -> None:
    imp.execute("INSERT INTO users (id, email, name) VALUES (9, 'old@malnu.sch.id', 'Lama')")
    # Line 5 repeats line 2's id; line 4's id 9 is in the table already.
    f = write_csv(
        tmp_path / "u.csv",
        "id,email,name\n1,a@malnu.sch.id,Ana\n2,b@malnu.sch.id,Budi\n"
        "9,n@malnu.sch.id,Baru\n1,c@malnu.sch.id,Ana Dua\n",
    )
    for dry in (True, False):
        req = ImportRequest(
            "users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(2), dry_run=dry
        )
        report = import_into(imp, req)
        assert (report.read, report.inserted, report.rejected) == (4, 2, 2), (dry, report)
        got = {r["line"]: r for r in rejects_of(report.rejects_file)}
        assert set(got) == {"4", "5"}, got
        again = got["5"]
        assert again["column"] == "id" and again["raw"] == "1,c@malnu.sch.id,Ana Dua"
        assert re.match(r"id 1 repeats line 2 of this import: ", again["reason"]), again
        taken = got["4"]["reason"]  # the line is the rejects file's; the reason has the value
        assert re.search(r"id 9 is in the table already|Key \(id\)=\(9\) already", taken)
    assert report.committed
    assert dict(imp.rows("SELECT id, name FROM users")) == {1: "Ana", 2: "Budi", 9: "Lama"}


def test_a_secret_looking_key_is_named_hidden(imp: ImportTarget, tmp_path: Path) -> None:
    imp.execute(
        "CREATE TABLE api_clients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "api_token TEXT NOT NULL UNIQUE)"
    )
    imp.execute("INSERT INTO api_clients VALUES (1, 'lama', 'tok-OLD-5f3a')")
    f = write_csv(
        tmp_path / "c.csv",
        "id,name,api_token\n2,baru,tok-OLD-5f3a\n3,x,tok-NEW-77b1\n4,y,tok-NEW-77b1\n",
    )
    for key in ((), ("api_token",)):
        req = ImportRequest(
            "api_clients",
            file=f,
            key=key,
            on_conflict="error",
            rejects=tmp_path / "r.csv",
            max_errors=MaxErrors(2),
            dry_run=True,
        )
        got = {r["line"]: r["reason"] for r in rejects_of(import_into(imp, req).rejects_file)}
        assert set(got) == {"2", "4"}, got
        for reason in got.values():
            assert "tok-" not in reason and "(hidden)" in reason, (key, reason)
        if key:
            assert got["4"].startswith("api_token (hidden) repeats line 3 of this import")


def test_a_d1_dry_run_finds_a_key_repeated_chunks_apart(
    fresh_db: Callable[[str], DbTarget], tmp_path: Path
) -> None:
    # SQLite's and PostgreSQL's dry runs hold one unit, as their imports (test_import_dupkeys).
    imp = ImportTarget("d1", fresh_db("d1").url, tmp_path)
    imp.execute(USERS_DDL.replace("{ID}", "INTEGER PRIMARY KEY"))
    # 5,000 rows a chunk (a quote: not a clean block, which is one chunk of up to 1 MB): line
    # 5004 repeats line 2's id (plain) and email (--key email); line 5005 line 3's email,
    # another UNIQUE column of a plain insert (its dry run said "rejected 0": the trial of line
    # 3's chunk was rolled back; the import refused it).
    body = '1,u1@malnu.sch.id,"N1"\n' + "".join(
        f"{i},u{i}@malnu.sch.id,N{i}\n" for i in range(2, 5003)
    )
    tail = "1,u1@malnu.sch.id,X\n6000,u2@malnu.sch.id,Y\n"
    f = write_csv(tmp_path / "u.csv", "id,email,name\n" + body + tail)
    res = run_cli(
        "--database", imp.url, "import", str(f), "--table", "users", "--dry-run",
        "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.code == 1, res.err  # over --max-errors 0
    assert "rejected line 5004 id: id 1 repeats line 2 of this import: " in res.err
    assert "rejected line 5005 email: email 'u2@malnu.sch.id' repeats line 3 of " in res.err
    assert "2 rejected" in res.err and "dry run: nothing was written" in res.err
    req = ImportRequest("users", file=f, key=("email",), rejects=tmp_path / "r.csv", dry_run=True)
    report = import_into(imp, req)
    assert (report.inserted, report.rejected) == (5002, 2)
    r, _ = rejects_of(report.rejects_file)
    assert (r["line"], r["column"], r["raw"]) == ("5004", "email", "1,u1@malnu.sch.id,X")
    assert r["reason"].startswith("email 'u1@malnu.sch.id' repeats line 2 of this import")
    assert imp.count("users") == 0


def test_a_table_source_missing_a_mapped_column_says_so_in_a_table_s_words(
    imp: ImportTarget, tmp_path: Path
) -> None:
    imp.execute("CREATE TABLE siswa_lama (id INTEGER PRIMARY KEY, email TEXT, nama TEXT)")
    imp.execute("INSERT INTO siswa_lama VALUES (1, 'a@malnu.sch.id', 'Ana')")
    target = tmp_path / "target.db"
    with sqlite3.connect(target) as c:
        c.executescript(USERS_DDL.replace("{ID}", "INTEGER PRIMARY KEY"))
    m = tmp_path / "m.toml"
    m.write_text(
        '[columns.id]\nfrom = "id"\n[columns.email]\nfrom = "email"\n'
        '[columns.name]\nfrom = "name"\n'
    )
    base = ("--database", f"sqlite:///{target}", "import", "--from", f"{imp.url}:siswa_lama")
    res = run_cli(*base, "--table", "users", "--map", str(m), "--yes", "--no-backup")
    assert res.code == 2, res.err
    assert (
        "error: the input does not fit table 'users': mapping line 5: column 'name' is not in "
        "table siswa_lama of " in res.err
    )
    assert "(its columns: id, email, nama)" in res.err and "header" not in res.err, res.err
    # Without a mapping, the table's own column the target lacks: named as the table's.
    res = run_cli(*base, "--table", "users", "--yes", "--no-backup")
    assert res.code == 2 and "unknown column 'nama' (a column of table siswa_lama" in res.err
    assert "header" not in res.err, res.err
    assert sqlite_file_rows(target, "SELECT count(*) FROM users") == [(0,)]


def test_a_clean_plain_import_into_sqlite_keeps_no_keys(tmp_path: Path) -> None:
    # Keeping the keys cost a clean 200,000-row import a quarter of its time: a plain insert
    # keeps them (in a scratch file of its own) only after the table refused a row of its key:
    # it then starts over, a second pass over the file (one chunk: a second chunk's savepoint).
    imp = ImportTarget("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    imp.execute(USERS_DDL.replace("{ID}", "INTEGER PRIMARY KEY"))
    clean = write_csv(tmp_path / "a.csv", "id,email,name\n1,a@malnu.sch.id,Ana\n")
    again = write_csv(tmp_path / "b.csv", "id,email,name\n2,b@malnu.sch.id,B\n2,c@x,C\n")
    kept = []
    for f in (clean, again):
        backend = imp.open()
        statements: list[str] = []
        backend.conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        try:
            req = ImportRequest(
                "users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(1)
            )
            assert run_import(backend, req, open_csv(req)).committed
        finally:
            backend.close()
        kept.append(sum(s == "SAVEPOINT malnu_chunk" for s in statements))
    assert kept == [1, 2]


def test_a_refused_row_s_failing_row_shows_no_password_hash(
    fresh_db: Callable[[str], DbTarget], tmp_path: Path
) -> None:
    """A row PostgreSQL's CHECK refuses was said with its detail "Failing row contains (…)":
    every value of the row, an account's password hash among them, in the reason the import
    prints on stderr for each rejected line (and a cron job mails). Left out where the table
    holds a secret column, as the sync leaves it out; kept elsewhere (it helps)."""
    imp = ImportTarget("postgresql", fresh_db("postgresql").url, tmp_path)
    pw = "$2y$10$Qm9vT2xkSGFzaFZhbHVlMDEyMzQ1Njc4OWFi"
    imp.execute(
        "CREATE TABLE akun (id INTEGER PRIMARY KEY, nis TEXT UNIQUE, "
        "kelas INTEGER CHECK (kelas BETWEEN 1 AND 12), password_hash TEXT)"
    )
    f = write_csv(tmp_path / "a.csv", f"id,nis,kelas,password_hash\n1,001,99,{pw}\n")
    req = ImportRequest("akun", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(1))
    (r,) = rejects_of(import_into(imp, req).rejects_file)
    assert "akun_kelas_check" in r["reason"] and r["raw"].endswith(pw), r
    assert pw not in r["reason"] and "Failing row contains (…)" in r["reason"], r
    imp.execute("CREATE TABLE kelas_log (id INTEGER PRIMARY KEY, kelas INTEGER CHECK (kelas > 0))")
    f = write_csv(tmp_path / "k.csv", "id,kelas\n1,-3\n")
    req = ImportRequest("kelas_log", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(1))
    (r,) = rejects_of(import_into(imp, req).rejects_file)
    assert "Failing row contains (1, -3)" in r["reason"], r  # no secret: the values stay
