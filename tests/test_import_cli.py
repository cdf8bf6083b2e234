"""``malnu-tui import`` as a real process: the contract (options, exit codes, --json fields),
confirmation, --dry-run leaving the file byte for byte, mapping errors naming their line,
--from another target, a retried D1 request, and SIGKILL in the middle on every backend."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.d1server import Fault
from tests.fixtures_core import REPO, run_cli
from tests.fixtures_d1 import D1Target
from tests.import_support import EXAMPLES, ImportTarget, sqlite_file_rows, write_csv
from tests.inproc import run_inproc

JSON_FIELDS = {
    "read",
    "inserted",
    "updated",
    "skipped",
    "rejected",
    "committed",
    "rejects_file",
    "before_count",
    "after_count",
    "sha256",
}


def _db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "school.db"
    url = f"sqlite:///{path}"
    import sqlite3

    from tests.import_support import STUDENTS_DDL, USERS_DDL

    conn = sqlite3.connect(str(path))
    conn.executescript(
        USERS_DDL.replace("{ID}", "INTEGER PRIMARY KEY")
        + ";\n"
        + STUDENTS_DDL.replace("{AUTO}", "INTEGER PRIMARY KEY")
        + ";"
    )
    conn.close()
    return url, path


def _legacy(url: str, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(
        "--database",
        url,
        "import",
        str(EXAMPLES / "legacy_users.csv"),
        "--table",
        "users",
        "--map",
        str(EXAMPLES / "legacy_users.toml"),
        *extra,
        env=env,
    )


def test_contract_json_exit_codes_and_confirmation(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    rejects = tmp_path / "rejects.csv"
    # No terminal and no --yes: refused (exit 2) before anything is written.
    res = _legacy(url, "--rejects", str(rejects), "--max-errors", "2")
    assert res.code == 2 and "without confirmation" in res.err
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(0,)]
    # Over --max-errors: exit 1, nothing written, the report still balances.
    res = _legacy(url, "--rejects", str(rejects), "--yes", "--json", "--no-backup")
    assert res.code == 1, res.err
    report = json.loads(res.out)
    assert set(report) == JSON_FIELDS and report["committed"] is False
    assert report["rejected"] >= 1 and report["after_count"] == 0
    # Within the limit: exit 0, committed, sha256 of the file, progress on stderr.
    res = _legacy(url, "--rejects", str(rejects), "--yes", "--json", "--max-errors", "2")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report == {
        "read": 7,
        "inserted": 5,
        "updated": 0,
        "skipped": 0,
        "rejected": 2,
        "committed": True,
        "rejects_file": str(rejects),
        "before_count": 0,
        "after_count": 5,
        "sha256": hashlib.sha256((EXAMPLES / "legacy_users.csv").read_bytes()).hexdigest(),
    }
    assert "rows/s" in res.err and "safety backup:" in res.err
    audit = sqlite_file_rows(path, "SELECT action, object, outcome FROM malnu_audit")
    assert ("backup", "pre-import", "skipped") in audit  # --no-backup is audited
    assert ("import", "users", "ok") in audit and ("import", "users", "failed") in audit
    # Re-import with --key: nothing added.
    res = _legacy(
        url,
        "--rejects",
        str(rejects),
        "--yes",
        "--json",
        "--max-errors",
        "2",
        "--key",
        "id",
        "--no-backup",
    )
    assert res.code == 0 and json.loads(res.out)["inserted"] == 0
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(5,)]


def test_dry_run_leaves_the_file_byte_for_byte(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    assert run_cli("--database", url, "status").code == 0  # tool tables exist
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    tracking = sqlite_file_rows(path, "SELECT * FROM migrations")
    audit = sqlite_file_rows(path, "SELECT * FROM malnu_audit")
    res = _legacy(
        url, "--dry-run", "--max-errors", "5", "--json", "--rejects", str(tmp_path / "r.csv")
    )
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["committed"] is False and report["inserted"] == 5
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sqlite_file_rows(path, "SELECT * FROM migrations") == tracking
    assert sqlite_file_rows(path, "SELECT * FROM malnu_audit") == audit
    # Over the limit, a dry run says so with exit 1.
    assert _legacy(url, "--dry-run", "--rejects", str(tmp_path / "r.csv")).code == 1


def test_usage_and_mapping_errors_exit_2_naming_the_line(tmp_path: Path) -> None:
    url, _ = _db(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[columns.email]\nfrom = "email_address"\napply = ["trim", "lowercase"]\n',
        encoding="utf-8",
    )
    res = run_cli(
        "--database",
        url,
        "import",
        str(EXAMPLES / "legacy_users.csv"),
        "--table",
        "users",
        "--map",
        str(bad),
        "--yes",
    )
    assert res.code == 2 and f"{bad}:3: columns.email: unknown step 'lowercase'" in res.err
    assert "Traceback" not in res.err
    bad.write_text('[columns.email]\nfrom = "email_address"\napply = [\n', encoding="utf-8")
    res = run_cli(
        "--database",
        url,
        "import",
        str(EXAMPLES / "legacy_users.csv"),
        "--table",
        "users",
        "--map",
        str(bad),
        "--yes",
    )
    assert res.code == 2 and f"{bad}:" in res.err and "not valid TOML" in res.err
    res = run_cli("--database", url, "import", "--table", "users", "--yes")
    assert res.code == 2 and "FILE or --from" in res.err
    res = run_cli(
        "--database", url, "import", str(EXAMPLES / "legacy_users.csv"), "--table", "nope", "--yes"
    )
    assert res.code == 2 and "no table 'nope'" in res.err
    cp = write_csv(tmp_path / "cp.csv", "id,email,name\n1,a@b.c,Andr\u00e9\n", encoding="cp1252")
    res = run_cli("--database", url, "import", str(cp), "--table", "users", "--yes")
    assert res.code == 2 and f"{cp}:2: not valid utf-8" in res.err and "--encoding" in res.err
    res = run_cli(
        "--database",
        url,
        "import",
        str(cp),
        "--table",
        "users",
        "--yes",
        "--encoding",
        "cp1252",
        "--no-backup",
    )
    assert res.code == 0, res.err


def test_from_another_target(tmp_path: Path, imp: ImportTarget) -> None:
    (tmp_path / "legacy").mkdir()
    legacy, _ = _db(tmp_path / "legacy")
    assert (
        _legacy(
            legacy,
            "--max-errors",
            "2",
            "--yes",
            "--no-backup",
            "--rejects",
            str(tmp_path / "r.csv"),
        ).code
        == 0
    )
    res = run_cli(
        "--database",
        imp.url,
        "import",
        "--from",
        f"{legacy}:users",
        "--table",
        "users",
        "--yes",
        "--json",
        "--no-backup",
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["inserted"] == 5
    assert imp.count("users") == 5
    assert imp.rows("SELECT role FROM users WHERE id = 1004") == [("admin",)]


@pytest.mark.parametrize("lost", ["INSERT OR IGNORE INTO", "CREATE TABLE IF NOT EXISTS"])
def test_d1_retried_chunk_is_not_duplicated(tmp_path: Path, d1: D1Target, lost: str) -> None:
    """A staging chunk, or the staging table's CREATE, ran and its answer was lost: re-sent,
    the chunk is not doubled, and the CREATE used to fail on "table … already exists"."""
    imp = ImportTarget("d1", d1.url, tmp_path)
    from tests.import_support import USERS_DDL

    imp.execute(USERS_DDL.replace("{ID}", "INTEGER PRIMARY KEY"))
    f = tmp_path / "many.csv"
    f.write_text(
        "id,email,name\n" + "".join(f"{i},u{i}@malnu.sch.id,Siswa {i}\n" for i in range(1, 2001)),
        encoding="utf-8",
    )
    # The first staging request is executed, then its answer is lost: the client retries.
    fault = d1.server.inject(Fault("drop-after", count=1, match=lost))
    res = run_cli(
        "--database",
        d1.url,
        "import",
        str(f),
        "--table",
        "users",
        "--yes",
        "--json",
        "--no-backup",
        env=d1.env,
    )
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert (report["read"], report["inserted"], report["after_count"]) == (2000, 2000, 2000)
    assert d1.sql("SELECT count(*), count(DISTINCT id) FROM users") == [(2000, 2000)]
    assert not d1.sql("SELECT name FROM sqlite_master WHERE name LIKE 'malnu_stage_%'")
    assert fault.count == 0


def test_sigkill_mid_import_leaves_none_or_all(tmp_path: Path, imp: ImportTarget) -> None:
    rows = 20_000 if imp.kind == "d1" else 150_000
    f = tmp_path / "big.csv"
    with f.open("w", encoding="utf-8") as fh:
        fh.write("id,email,name,class_id\n")
        for i in range(1, rows + 1):
            fh.write(f"{i},siswa{i}@malnu.sch.id,Siswa Nomor {i},X-IPA-{i % 9}\n")
    env = {**os.environ}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "malnu_tui",
            "--database",
            imp.url,
            "import",
            str(f),
            "--table",
            "users",
            "--yes",
            "--no-backup",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "rows read" in line or not line:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5 if imp.kind == "postgresql" else 0)
    count = imp.count("users")
    assert count in (0, rows), (count, line)
    # The next import goes through (a dead process's lock is taken over).
    res = run_cli(
        "--database",
        imp.url,
        "import",
        str(f),
        "--table",
        "users",
        "--yes",
        "--no-backup",
        "--key",
        "id",
        "--json",
        env=env,
        timeout=300,
    )
    assert res.code == 0, res.err
    assert imp.count("users") == rows
    if imp.kind == "d1":
        assert not imp.rows("SELECT name FROM sqlite_master WHERE name LIKE 'malnu_stage_%'")


def test_from_a_postgresql_table_in_keyset_pages(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL table (no rowid: paged by its primary key) into a SQLite file."""
    import psycopg

    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 7)  # many pages
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE legacy (id integer PRIMARY KEY, email text, name text)")
        c.execute(
            "INSERT INTO legacy SELECT g, 'u' || g || '@malnu.sch.id', 'Siswa ' || g "
            "FROM generate_series(1, 50) g"
        )
    url, path = _db(tmp_path)
    res = run_inproc(
        "--database",
        url,
        "import",
        "--from",
        f"{pg_url}:legacy",
        "--table",
        "users",
        "--yes",
        "--json",
        "--no-backup",
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["inserted"] == 50
    assert sqlite_file_rows(path, "SELECT count(*), min(id), max(id) FROM users") == [(50, 1, 50)]


@pytest.mark.parametrize("keyed", [True, False], ids=["by-key", "by-ctid"])
def test_from_a_postgresql_table_named_with_percent_signs(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """Names with a "%" (psycopg reads one in a statement with parameters as a placeholder's):
    every page after the first has parameters."""
    import psycopg

    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 7)  # many pages
    key = " PRIMARY KEY" if keyed else ""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(f'CREATE TABLE "nilai %" ("nis %s" integer{key}, "Grade %" real, note text)')
        c.execute(
            "INSERT INTO \"nilai %\" SELECT g, g / 4.0, g || '%' FROM generate_series(1, 30) g"
        )
    url, path = _db(tmp_path)
    sqlite_file_rows(
        path, 'CREATE TABLE "nilai %" ("nis %s" INTEGER PRIMARY KEY, "Grade %" REAL, note TEXT)'
    )
    res = run_inproc(
        "--database", url, "import", "--from", f"{pg_url}:nilai %", "--table", "nilai %",
        "--yes", "--json", "--no-backup",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert json.loads(res.out)["inserted"] == 30, res.out
    assert sqlite_file_rows(path, 'SELECT count(*), max("Grade %"), max(note) FROM "nilai %"') == [
        (30, 7.5, "9%")
    ]


def test_rows_a_table_source_did_not_read_fail_the_count_check(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source table is counted before and after it is read: pages that miss rows (as the
    ctid pages did, in text order) fail the import instead of committing part of the table."""
    import psycopg

    from malnu_tui.engine.data.tablesource import TableSource

    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE legacy (id integer PRIMARY KEY, email text, name text)")
        c.execute(
            "INSERT INTO legacy SELECT g, 'u' || g || '@malnu.sch.id', 'Siswa ' || g "
            "FROM generate_series(1, 50) g"
        )
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 7)
    pages = TableSource._pages

    def one_page_lost(self: TableSource) -> Any:
        for i, page in enumerate(pages(self)):
            if i != 3:
                yield page

    monkeypatch.setattr(TableSource, "_pages", one_page_lost)
    url, path = _db(tmp_path)
    args = ("--database", url, "import", "--from", f"{pg_url}:legacy", "--table", "users")
    res = run_inproc(*args, "--yes", "--no-backup")
    assert (
        res.code == 1 and "count check failed: read 43 row(s) of the source table's 50" in res.err
    )
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(0,)]  # nothing committed
    monkeypatch.setattr(TableSource, "_pages", pages)
    assert run_inproc(*args, "--yes", "--no-backup").code == 0
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(50,)]


def test_header_line_option(tmp_path: Path) -> None:
    # A sheet's title rows above its header: --header-line says where the header is; line
    # numbers stay the file's own; a bad value is a usage error.
    url, path = _db(tmp_path)
    csv_file = write_csv(
        tmp_path / "users.csv",
        "Daftar Pengguna;;\n;;\nid;email;name\n1;a@x;Ani\n2;b@x;\n",
    )
    args = ("--database", url, "--json", "import", str(csv_file), "--table", "users")
    res = run_inproc(*args, "--header-line", "3", "--max-errors", "1", "--yes", "--no-backup")
    assert res.code == 0 and json.loads(res.out)["inserted"] == 1
    assert "rejected line 5 name: NULL in a NOT NULL column" in res.err
    assert sqlite_file_rows(path, "SELECT id, name FROM users") == [(1, "Ani")]
    res = run_inproc(*args, "--dry-run")
    assert res.code == 2 and "pass --header-line 3" in res.err
    res = run_inproc(*args, "--header-line", "0", "--dry-run")
    assert res.code == 2 and "--header-line: must be from 1" in res.err
    res = run_inproc(*args, "--header-line", "3-5", "--dry-run")
    assert res.code == 2 and "a header of two rows is N-M with M = N + 1" in res.err
    two_rows = write_csv(tmp_path / "two.csv", "id;;\n;email;name\n7;g@x;Gita\n")
    res = run_inproc(
        "--database", url, "--json", "import", str(two_rows), "--table", "users",
        "--header-line", "1-2", "--yes", "--no-backup",
    )  # fmt: skip
    assert res.code == 0 and "semicolon delimiter (sniffed), header on lines 1-2)" in res.err
    assert sqlite_file_rows(path, "SELECT id, name FROM users ORDER BY id") == [
        (1, "Ani"),
        (7, "Gita"),
    ]


def test_the_hint_of_a_file_that_does_not_fit_is_what_to_do(tmp_path: Path) -> None:
    # The hint said "fix the header or add a mapping file (--map)" under every such error:
    # to an operator who had given --map, and under "line 3 looks like the header …: pass
    # --header-line 3", where editing the header in Excel loses the NISNs' leading zeros.
    url, _path = _db(tmp_path)
    mapping = tmp_path / "users.toml"
    mapping.write_text('[columns.email]\nfrom = "Email"\n[columns.name]\nfrom = "Nama"\n')
    titled = write_csv(tmp_path / "t.csv", "Daftar Pengguna;;\n;;\nEmail;Nama\na@x;Ani\n")
    plain = write_csv(tmp_path / "p.csv", "E-mail;Nama\na@x;Ani\n")
    base = ("--database", url, "import", "--table", "users", "--dry-run")
    hints = {}
    for name, *args in (("titled", titled, "--map", mapping), ("mapped", plain, "--map", mapping),
                        ("bare", plain)):  # fmt: skip
        res = run_inproc(*base, *map(str, args))
        assert res.code == 2, res.err
        hints[name] = next(line for line in res.err.splitlines() if line.startswith("hint: "))
    assert hints["titled"].startswith("hint: pass --header-line as said above"), hints
    assert hints["mapped"].startswith("hint: fix the mapping or the header"), hints
    assert hints["bare"].startswith("hint: fix the header or add a mapping file (--map)"), hints


def test_a_rejects_path_that_cannot_be_written_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --rejects naming a folder (or a path under a file) ended the import at its first
    # rejected row in a Python traceback (IsADirectoryError), after the confirmation and the
    # safety backup. It is now refused before anything is read, in one line (exit 2).
    url, path = _db(tmp_path)
    csv_file = write_csv(tmp_path / "users.csv", "id,email,name\n1,a@x,Ani\n2,b@x,\n")
    args = ("--database", url, "import", str(csv_file), "--table", "users", "--max-errors", "1")
    for rejects, why in ((tmp_path, "it is a folder"), (csv_file / "r.csv", "is not a folder")):
        res = run_inproc(*args, "--rejects", str(rejects), "--yes", "--no-backup")
        assert res.code == 2 and "Traceback" not in res.err
        assert f"error: {rejects}: the rejects file cannot be written there: " in res.err
        assert why in res.err
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(0,)]
    # The default place, beside the CSV, cannot be written (here a folder of that name; a
    # read-only card or share in life): TABLE.rejects.csv in the working folder, as --from.
    (tmp_path / "users.rejects.csv").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    res = run_inproc(*args, "--yes", "--no-backup")
    assert res.code == 0 and f"rejects file: {tmp_path / 'work' / 'users.rejects.csv'}" in res.err
    assert (tmp_path / "work" / "users.rejects.csv").read_text().startswith("line,column,")


def test_csv_options_with_from_are_refused(tmp_path: Path) -> None:
    # --header-line, --encoding, --delimiter are a CSV file's: with --from (a table's rows)
    # they were silently ignored and the import committed as if they had been applied.
    url, path = _db(tmp_path)
    (tmp_path / "legacy").mkdir()
    legacy, legacy_path = _db(tmp_path / "legacy")
    with sqlite3.connect(legacy_path) as conn:
        conn.execute("INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'Ani')")
    conn.close()
    args = ("--database", url, "import", "--from", f"{legacy}:users", "--table", "users")
    for option in (("--header-line", "3"), ("--encoding", "cp1252"), ("--delimiter", ";")):
        res = run_inproc(*args, *option, "--yes", "--no-backup")
        assert res.code == 2 and "Traceback" not in res.err
        assert f"error: {option[0]} is for a CSV file: with --from" in res.err
    assert sqlite_file_rows(path, "SELECT count(*) FROM users") == [(0,)]
    assert run_inproc(*args, "--yes", "--no-backup").code == 0
    assert sqlite_file_rows(path, "SELECT name FROM users") == [("Ani",)]


def test_a_rejects_file_is_this_runs_own(tmp_path: Path) -> None:
    # A re-run that rejected nothing left the previous run's rejects file beside the input:
    # its rows were taken for this run's. An earlier rejects file (first line the header the
    # tool writes) is removed as the run starts, and stderr says so.
    url, path = _db(tmp_path)
    csv_file = write_csv(tmp_path / "users.csv", "id,email,name\n1,a@x,Ani\n2,b@x,\n")
    args = ("--database", url, "import", str(csv_file), "--table", "users")
    assert run_inproc(*args, "--max-errors", "1", "--yes", "--no-backup").code == 0
    rejects = tmp_path / "users.rejects.csv"
    assert rejects.read_bytes().startswith(b"line,column,reason,raw\r\n3,")
    write_csv(csv_file, "id,email,name\n2,b@x,Budi\n")  # the row fixed, sent again
    res = run_inproc(*args, "--yes", "--no-backup")
    assert res.code == 0 and f"removed {rejects}, an earlier run's rejects file" in res.err
    assert not rejects.exists()
    # Any other file at the --rejects path would have been truncated by the first rejected
    # row (the CSV being imported itself, the operator's notes): refused before anything.
    bad = write_csv(tmp_path / "bad.csv", "id,email,name\n3,c@x,\n")
    notes = write_csv(tmp_path / "notes.txt", "keep me\n")
    for target, why in ((bad, "it is the file being imported"), (notes, "it is not a rejects")):
        res = run_inproc(
            "--database", url, "import", str(bad), "--table", "users", "--rejects", str(target),
            "--max-errors", "1", "--yes", "--no-backup",
        )  # fmt: skip
        assert res.code == 2 and f"error: {target}: {why}" in res.err
        assert "the rejects file would overwrite it" in res.err
    assert bad.read_text() == "id,email,name\n3,c@x,\n" and notes.read_text() == "keep me\n"
    assert sqlite_file_rows(path, "SELECT id, name FROM users ORDER BY id") == [
        (1, "Ani"),
        (2, "Budi"),
    ]


def test_a_database_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    # A mistyped path (or --from naming one) created an empty database with the tool's
    # tables, then said "no table": refused first, nothing created, on every way in.
    url, _ = _db(tmp_path)
    csv_file = write_csv(tmp_path / "users.csv", "id,email,name\n1,a@x,Ani\n")
    missing = tmp_path / "sekolah" / "school.db"
    for args in (
        ("--database", f"sqlite:///{missing}", "import", str(csv_file), "--table", "users"),
        ("--database", f"sqlite:///{missing}", "import", str(csv_file), "--table", "users",
         "--dry-run"),
        ("--database", url, "import", "--from", f"sqlite:///{missing}:users", "--table", "users"),
    ):  # fmt: skip
        res = run_inproc(*args, "--yes", "--no-backup")
        assert res.code == 2 and f"error: database file {missing} does not exist" in res.err
        assert not missing.parent.exists()


def test_a_workbook_given_as_the_csv_is_named_exit_2(tmp_path: Path) -> None:
    # An operator picking siswa.xlsx instead of siswa.csv read "not valid utf-8 (byte 0x87)"
    # and "pass --encoding cp1252", and with it a wall of the zip's bytes as unknown columns.
    import zipfile

    url, path = _db(tmp_path)
    book = tmp_path / "siswa.xlsx"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    for extra in ((), ("--encoding", "cp1252")):
        res = run_inproc(
            "--database", url, "import", str(book), "--table", "students", *extra, "--yes"
        )
        assert res.code == 2 and "Traceback" not in res.err
        assert res.err.splitlines()[0] == (
            f"error: {book}: the file is an Excel workbook (.xlsx), not a CSV file"
        )
        assert "save it as CSV" in res.err and "--encoding" not in res.err
    assert sqlite_file_rows(path, "SELECT count(*) FROM students") == [(0,)]
