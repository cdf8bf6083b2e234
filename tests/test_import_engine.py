"""Import on every backend (SQLite file, PostgreSQL, D1 on the local server): the school's
mappings, rejects with their lines, --max-errors, re-import with a key, rows the database
refuses, injection-shaped headers, counts and audit rows."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from malnu_tui.engine.data import (
    ImportRequest,
    MaxErrors,
    SchemaMismatch,
    open_csv,
    preview_import,
)
from tests.import_support import EXAMPLES, ImportTarget, import_into, rejects_of, write_csv


def test_legacy_users_mapping(imp: ImportTarget, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    req = ImportRequest(
        "users",
        file=EXAMPLES / "legacy_users.csv",
        mapping=EXAMPLES / "legacy_users.toml",
        rejects=rejects,
        max_errors=MaxErrors(2),
    )
    report = import_into(imp, req)
    assert report.committed
    assert (report.read, report.inserted, report.rejected) == (7, 5, 2)
    assert (report.before_count, report.after_count) == (0, 5)
    rows = imp.rows("SELECT id, email, name, role, class_id, created_at FROM users ORDER BY id")
    assert [r[0] for r in rows] == [1001, 1002, 1003, 1004, 1005]
    first = rows[0]
    assert first[1:5] == ("siti.rahmawati@malnu.sch.id", "Siti Rahmawati", "student", "X-IPA-1")
    assert str(first[5]).replace(" ", "T").startswith("2024-07-15T07:30:00")
    assert rows[1][2:5] == ("Ahmad Fauzi", "teacher", None)  # trimmed; empty → NULL
    # The unmapped role code is rejected, not NULL; the bad date's record starts on line 8
    # (its quoted name spans two lines).
    got = rejects_of(report.rejects_file)
    assert [(r["line"], r["column"]) for r in got] == [("7", "role"), ("8", "created_at")]
    assert report.rejects_file is not None  # the raw rows are personal data: owner only
    assert stat.S_IMODE(Path(report.rejects_file).stat().st_mode) == 0o600
    assert "'X' is not mapped" in got[0]["reason"]
    assert got[1]["raw"].startswith('1007,putri.ayu@malnu.sch.id,"Putri Ayu\n Kusumawardhani"')
    audit = imp.rows("SELECT action, object, outcome, detail FROM malnu_audit")
    imports = [a for a in audit if a[0] == "import"]
    assert len(imports) == 1 and imports[0][2] == "ok"
    assert report.sha256 and report.sha256 in imports[0][3] and "inserted 5" in imports[0][3]


def test_over_max_errors_writes_nothing(imp: ImportTarget, tmp_path: Path) -> None:
    req = ImportRequest(
        "users",
        file=EXAMPLES / "legacy_users.csv",
        mapping=EXAMPLES / "legacy_users.toml",
        rejects=tmp_path / "r.csv",
        max_errors=MaxErrors(1),
    )
    report = import_into(imp, req)
    assert not report.committed and "over --max-errors 1" in report.reason
    assert imp.count("users") == 0
    assert report.read == report.inserted + report.updated + report.skipped + report.rejected
    outcomes = [r[0] for r in imp.rows("SELECT outcome FROM malnu_audit WHERE action = 'import'")]
    assert outcomes == ["failed"]


def test_max_errors_in_percent_at_its_boundary(imp: ImportTarget, tmp_path: Path) -> None:
    # "rejected ≤ P % of rows read" was judged in floats: 0.29 * 100 is 28.999…, so 29
    # rejected rows of 100 were over --max-errors 29% and nothing was imported (exit 1); the
    # same for 7 of 1,000 at 0.7%, 57 of 100 at 57%.
    lines = [
        f"{i},u{i}@malnu.sch.id,{'' if i % 10 < 3 and i <= 97 else 'Ani'}" for i in range(1, 101)
    ]
    f = write_csv(tmp_path / "u.csv", "id,email,name\n" + "\n".join(lines) + "\n")
    req = ImportRequest("users", file=f, rejects=tmp_path / "r.csv")
    over = import_into(imp, replace(req, max_errors=MaxErrors.parse("28.9%")))
    assert (over.read, over.rejected, over.committed) == (100, 29, False)
    assert "over --max-errors 28.9%" in over.reason and imp.count("users") == 0
    report = import_into(imp, replace(req, max_errors=MaxErrors.parse("29%")))
    assert (report.read, report.inserted, report.rejected, report.committed) == (100, 71, 29, True)
    assert imp.count("users") == 71


def test_student_list_bom_semicolons_leading_zeros_and_reimport(
    imp: ImportTarget, tmp_path: Path
) -> None:
    req = ImportRequest(
        "students", file=EXAMPLES / "siswa_excel.csv", mapping=EXAMPLES / "siswa.toml"
    )
    backend = imp.open()
    try:
        preview = preview_import(backend, req, open_csv(req))
    finally:
        backend.close()
    assert preview.header[0] == "NIS"  # the BOM is not glued to the first header
    assert "semicolon" in preview.source and "BOM" in preview.source
    assert (
        preview.samples[0].after is not None and dict(preview.samples[0].after)["nis"] == "0012345"
    )
    first = import_into(imp, req)
    assert (first.inserted, first.rejected, first.committed) == (7, 0, True)
    rows = imp.rows("SELECT nis, nisn, name, birth_date, active FROM students ORDER BY nis")
    assert rows[0][:2] == ("0012345", "0081234567")
    assert rows[6][2] == "Ni Luh Putu Érika Damayanti"
    assert str(rows[0][3]) == "2008-05-03"
    assert [bool(r[4]) for r in rows].count(False) == 1
    again = import_into(imp, ImportRequest(**{**req.__dict__, "key": ("nis",)}))
    assert (again.inserted, again.updated, again.after_count) == (0, 7, 7)
    skip = import_into(
        imp, ImportRequest(**{**req.__dict__, "key": ("nis",), "on_conflict": "skip"})
    )
    assert (skip.inserted, skip.skipped, skip.after_count) == (0, 7, 7)
    assert imp.count("students") == 7


def test_rows_the_database_refuses_are_rejected_with_their_lines(
    imp: ImportTarget, tmp_path: Path
) -> None:
    f = write_csv(
        tmp_path / "u.csv",
        "id,email,name,role\n"
        "1,a@malnu.sch.id,Ana,student\n"
        "2,b@malnu.sch.id,Budi,kepala sekolah\n"  # CHECK
        "3,a@malnu.sch.id,Cici,teacher\n"  # UNIQUE (email of line 2)
        "4,d@malnu.sch.id,,parent\n"  # empty unquoted → NULL into NOT NULL
        '5,e@malnu.sch.id,"",parent\n'  # empty quoted → '' (allowed)
        "6,f@malnu.sch.id,Fajar,admin,extra\n"  # too many fields
        "x7,g@malnu.sch.id,Gita,student\n",  # not an integer
    )
    req = ImportRequest("users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(10))
    report = import_into(imp, req)
    assert report.committed and report.inserted == 2 and report.rejected == 5
    got = {int(r["line"]): r for r in rejects_of(report.rejects_file)}
    assert sorted(got) == [3, 4, 5, 7, 8]
    assert got[5]["column"] == "name" and "NOT NULL" in got[5]["reason"]
    assert "too many fields" in got[7]["reason"]
    assert "check" in got[3]["reason"].lower() and got[3]["raw"].startswith("2,b@")
    assert "unique" in got[4]["reason"].lower() or "duplicate" in got[4]["reason"].lower()
    assert sorted(r[0] for r in imp.rows("SELECT id FROM users")) == [1, 5]
    assert imp.rows("SELECT name FROM users WHERE id = 5") == [("",)]


def test_injection_shaped_header_is_an_unknown_column(imp: ImportTarget, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "evil.csv", 'id,email,"name""; DROP TABLE users;--"\n1,a@b.c,Ana\n')
    req = ImportRequest("users", file=f)
    with pytest.raises(SchemaMismatch, match=r"unknown column 'name\"; DROP TABLE users;--'"):
        import_into(imp, req)
    assert imp.count("users") == 0  # still there, still empty


def test_dry_run_writes_nothing(imp: ImportTarget, tmp_path: Path) -> None:
    req = ImportRequest(
        "students",
        file=EXAMPLES / "siswa_excel.csv",
        mapping=EXAMPLES / "siswa.toml",
        dry_run=True,
    )
    report = import_into(imp, req)
    assert not report.committed and report.read == 7 and report.inserted == 7
    assert imp.count("students") == 0
    assert "malnu_audit" not in [
        r[0]
        for r in imp.rows(
            "SELECT name FROM sqlite_master"
            if imp.kind != "postgresql"
            else "SELECT table_name FROM information_schema.tables"
        )
    ]


def test_values_round_trip_exactly(imp: ImportTarget, tmp_path: Path) -> None:
    names = ["tab\there", "back\\slash \\N", "line\nbreak", "crlf\r\nbreak", "Érika Nur’aini", ""]
    body = "".join(
        f'{i},u{i}@malnu.sch.id,"{n}",{"" if i % 2 else "X-1"}\n' for i, n in enumerate(names, 1)
    )
    f = write_csv(tmp_path / "v.csv", "id,email,name,class_id\n" + body)
    report = import_into(imp, ImportRequest("users", file=f))
    assert report.committed and report.inserted == len(names)
    rows = imp.rows("SELECT id, name, class_id FROM users ORDER BY id")
    assert [r[1] for r in rows] == names
    assert [r[2] for r in rows] == [None, "X-1"] * 3  # unquoted empty → NULL


def test_declared_types_are_checked_the_same_everywhere(imp: ImportTarget, tmp_path: Path) -> None:
    f = write_csv(
        tmp_path / "s.csv",
        "nis;nisn;name;gender;birth_date;active\n"
        "0012345;0081234567;Siti;P;2008-05-03;true\n"
        "0012346;0087654321;Budi;L;2008-02-30;true\n"  # no such date
        "0012347;0089876543;Cici;P;03/05/2008;1\n"  # not ISO: a mapping would say the format
        "0012348;0080011223;Dodi;L;2009-01-09;mungkin\n",  # not a boolean
    )
    req = ImportRequest("students", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(5))
    report = import_into(imp, req)
    assert (report.inserted, report.rejected) == (1, 3)
    got = {int(r["line"]): (r["column"], r["reason"]) for r in rejects_of(report.rejects_file)}
    assert got[3][0] == "birth_date" and "invalid date" in got[3][1]
    assert got[4][0] == "birth_date" and got[5][0] == "active"
    assert imp.rows("SELECT nis FROM students") == [("0012345",)]


def test_schema_problems_are_named_together(imp: ImportTarget, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "email,email,nama\na@b.c,a@b.c,Ana\n")
    with pytest.raises(SchemaMismatch) as exc:
        import_into(imp, ImportRequest("users", file=f, key=("nama",)))
    text = str(exc.value)
    assert "duplicate header 'email'" in text and "unknown column 'nama'" in text
    assert "NOT NULL column 'name' has no default and is not given" in text
    assert exc.value.exit_code == 2


def test_dry_run_names_the_rows_the_database_would_refuse(
    imp: ImportTarget, tmp_path: Path
) -> None:
    f = write_csv(
        tmp_path / "u.csv",
        "id,email,name,role\n"
        "1,a@malnu.sch.id,Ana,student\n"
        "2,b@malnu.sch.id,Budi,kepala sekolah\n"  # CHECK
        "3,a@malnu.sch.id,Cici,teacher\n"  # UNIQUE (line 2's email)
        "4,d@malnu.sch.id,Dedi,parent\n",
    )
    req = ImportRequest(
        "users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(5), dry_run=True
    )
    report = import_into(imp, req)
    assert not report.committed and (report.read, report.rejected) == (4, 2)
    assert sorted(int(r["line"]) for r in rejects_of(report.rejects_file)) == [3, 4]
    assert imp.count("users") == 0
    # Under --max-errors 0 (the default) too: the dry run is where the operator gets the
    # whole list to fix the file. On PostgreSQL it named the first row the database refused
    # and counted the rest as inserted (the search stopped at the limit, as the real run's).
    f.write_text("id,email,name\n" + "".join(f"{i},u{i % 3}@x,N{i}\n" for i in range(1, 10)))
    report = import_into(imp, replace(req, max_errors=MaxErrors(0)))
    assert (report.read, report.inserted, report.rejected) == (9, 3, 6)
    assert [int(r["line"]) for r in rejects_of(report.rejects_file)] == [5, 6, 7, 8, 9, 10]
    assert imp.count("users") == 0


def test_each_import_is_one_run_row_for_monitoring(imp: ImportTarget, tmp_path: Path) -> None:
    import json

    ok = ImportRequest(
        "students", file=EXAMPLES / "siswa_excel.csv", mapping=EXAMPLES / "siswa.toml"
    )
    import_into(imp, ok)
    bad = ImportRequest(
        "users",
        file=EXAMPLES / "legacy_users.csv",
        mapping=EXAMPLES / "legacy_users.toml",
        rejects=tmp_path / "r.csv",
    )
    import_into(imp, bad)
    runs = imp.rows(
        "SELECT object, outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id"
    )
    assert [(r[0], r[1]) for r in runs] == [("import students", "ok"), ("import users", "failed")]
    assert json.loads(runs[0][2])["counts"]["inserted"] == 7
    assert "not committed" in json.loads(runs[1][2])["error"]


def test_clean_blocks_take_the_fast_path_and_a_bad_row_far_in_is_still_named(
    imp: ImportTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean file goes the fast way (PostgreSQL: COPY straight into the table); a row the
    database refuses far into the file still ends up in the rejects file with its line and
    raw text (PostgreSQL: the unit starts over through the temp table), with a row the client
    rejects, and the rest commits under --max-errors; an integer written in other digits than
    ASCII is taken everywhere alike (PostgreSQL refuses it in COPY; the checked path takes it)."""
    from malnu_tui.engine.data import run as run_module

    used: list[str] = []
    real_open = run_module.open_writer

    def spy(*args: object, **kw: object) -> object:
        writer = real_open(*args, **kw)  # type: ignore[arg-type]
        used.append(type(writer).__name__)
        return writer

    monkeypatch.setattr(run_module, "open_writer", spy)
    n = 3000
    rows = [f"{i},u{i}@malnu.sch.id,Nama {i},student\n" for i in range(1, n + 1)]
    rows[2400] = "2401,u10@malnu.sch.id,Kembar,student\n"  # line 2402: UNIQUE (email of id 10)
    rows[2700] = "x2701,u2701@malnu.sch.id,Nama,student\n"  # line 2702: not an integer
    rows[2800] = "2801,u2801@malnu.sch.id,,student\n"  # line 2802: NULL into NOT NULL name
    rows.append("٣٠٠١,u3001@malnu.sch.id,Angka Arab,student\n")  # 3001 in Arabic-Indic digits
    clean = write_csv(tmp_path / "clean.csv", "id,email,name,role\n" + "".join(rows[:2000]))
    report = import_into(imp, ImportRequest("users", file=clean))
    assert report.committed and report.inserted == 2000 and report.rejects_file is None
    fast = {"postgresql": ["PostgresDirectWriter"], "sqlite": ["SQLiteWriter"]}
    assert used == fast.get(imp.kind, ["D1Writer"])
    imp.execute("DELETE FROM users")
    used.clear()
    f = write_csv(tmp_path / "far.csv", "id,email,name,role\n" + "".join(rows))
    req = ImportRequest("users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(3))
    report = import_into(imp, req)
    assert report.committed and (report.inserted, report.rejected) == (n - 2, 3)
    got = {int(r["line"]): r for r in rejects_of(report.rejects_file)}
    assert sorted(got) == [2402, 2702, 2802]
    assert got[2802]["column"] == "name" and "NOT NULL" in got[2802]["reason"]
    assert got[2402]["raw"] == "2401,u10@malnu.sch.id,Kembar,student"
    assert "unique" in got[2402]["reason"].lower() or "duplicate" in got[2402]["reason"].lower()
    assert got[2702]["column"] == "id" and got[2702]["raw"].startswith("x2701,")
    assert imp.count("users") == n - 2
    assert imp.rows("SELECT name FROM users WHERE id = 3001") == [("Angka Arab",)]
    if imp.kind == "postgresql":
        assert used == ["PostgresDirectWriter", "PostgresWriter"]


def test_names_with_percent_signs_import_and_reimport(imp: ImportTarget, tmp_path: Path) -> None:
    # psycopg reads a "%" inside a quoted name as a placeholder's once a statement has
    # parameters: a table or column named with one broke the PostgreSQL import.
    imp.execute('CREATE TABLE "nilai %" (nis TEXT PRIMARY KEY, "Grade %" REAL, "50%s" TEXT)')
    f = write_csv(tmp_path / "n.csv", "nis,Grade %,50%s\n001,97.5,a\n002,88,b%\n")
    first = import_into(imp, ImportRequest("nilai %", file=f))
    assert first.committed and first.inserted == 2
    f = write_csv(tmp_path / "n.csv", "nis,Grade %,50%s\n002,90,c%%\n003,70,\n")
    again = import_into(imp, ImportRequest("nilai %", file=f, key=("nis",)))
    assert (again.inserted, again.updated) == (1, 1)
    rows = imp.rows('SELECT nis, "Grade %", "50%s" FROM "nilai %" ORDER BY nis')
    assert rows == [("001", 97.5, "a"), ("002", 90.0, "c%%"), ("003", 70.0, None)]


def test_a_row_the_database_refuses_names_its_column_alike_everywhere(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # The rejects file's `column` of a row refused as a duplicate key: SQLite said `nis`,
    # PostgreSQL said nothing (its unique violation names the column only in its detail) and
    # D1 said `nis: SQLITE_CONSTRAINT_PRIMARYKEY` (its result code taken as the column's name):
    # sorting or filtering the rejects by column split one fault three ways.
    imp.execute('CREATE TABLE kontak (nis TEXT PRIMARY KEY, "No HP" TEXT UNIQUE, nama TEXT)')
    f = write_csv(
        tmp_path / "kontak.csv",
        "nis;No HP;nama\n0012;0811;Ani\n0013;0812;Budi\n0012;0813;Ani lagi\n0014;0811;Citra\n",
    )
    req = ImportRequest("kontak", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(5))
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (4, 2, 2)
    got = sorted((r["line"], r["column"]) for r in rejects_of(report.rejects_file))
    assert got == [("4", "nis"), ("5", "No HP")]
    # An upsert by nis meeting the other key: that key's column.
    f.write_text("nis;No HP;nama\n0013;0811;Budi\n")
    req = replace(req, key=("nis",))
    report = import_into(imp, req)
    assert (report.read, report.updated, report.rejected) == (1, 0, 1)
    assert [r["column"] for r in rejects_of(report.rejects_file)] == ["No HP"]


def test_the_next_insert_after_an_import_of_ids_takes_a_new_id(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # Legacy rows imported with their ids: on PostgreSQL the id's sequence stayed where it
    # was (PostgreSQL never moves it for values given), so the application's next INSERT took
    # id 1 and failed on the primary key ("Key (id)=(1) already exists"). SQLite and D1 take
    # max + 1 by themselves. The import now moves it past them, never back, not in a dry run.
    pg = imp.kind == "postgresql"
    auto = "GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" if pg else "PRIMARY KEY AUTOINCREMENT"
    imp.execute(f"CREATE TABLE akun (id INTEGER {auto}, nama TEXT)")

    def import_text(text: str, *, dry_run: bool = False, key: tuple[str, ...] = ()) -> None:
        f = write_csv(tmp_path / "a.csv", text)
        req = ImportRequest("akun", file=f, key=key, dry_run=dry_run)
        report = import_into(imp, req)
        assert report.committed == (not dry_run) and not report.warnings

    def insert(name: str) -> int:
        imp.execute(f"INSERT INTO akun (nama) VALUES ('{name}')")
        return int(imp.rows(f"SELECT id FROM akun WHERE nama = '{name}'")[0][0])

    import_text("id,nama\n1,Ani\n2,Budi\n7,Citra\n")
    assert insert("Dewi") == 8
    import_text("id,nama\n3,Eka\n")  # lower ids: never moved back
    assert insert("Fajar") == 9
    import_text("id,nama\n100,Gita\n", dry_run=True)  # a dry run moves nothing
    assert insert("Hadi") == 10
    import_text("id,nama\n20,Indah\n10,Hadi Baru\n", key=("id",))  # an upsert alike
    assert insert("Joko") == 21


@pytest.mark.parametrize("imp", ["postgresql"], indirect=True)
def test_ids_into_an_identity_generated_always(imp: ImportTarget, tmp_path: Path) -> None:
    # A PostgreSQL id GENERATED ALWAYS AS IDENTITY given in the file: the plain import's COPY
    # wrote the ids, but the upsert (--key), and the same import once a row was refused (its
    # fallback through the temp table), failed whole: "cannot insert a non-DEFAULT value into
    # column id", exit 1 after the confirmation. The ids given are written on every path.
    imp.execute("CREATE TABLE g (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n text)")
    imp.execute("ALTER TABLE g ADD CHECK (n <> 'x')")
    f = write_csv(tmp_path / "g.csv", "id,n\n1,Ani\n5,x\n7,Citra\n")
    report = import_into(imp, ImportRequest("g", file=f, max_errors=MaxErrors(1)))
    assert report.committed and (report.inserted, report.rejected) == (2, 1)
    f.write_text("id,n\n7,Citra Dewi\n9,Eka\n")
    report = import_into(imp, ImportRequest("g", file=f, key=("id",)))
    assert report.committed and (report.inserted, report.updated) == (1, 1)
    imp.execute("INSERT INTO g (n) VALUES ('Fajar')")
    assert imp.rows("SELECT id, n FROM g ORDER BY id") == [
        (1, "Ani"),
        (7, "Citra Dewi"),
        (9, "Eka"),
        (10, "Fajar"),
    ]
