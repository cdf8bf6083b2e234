"""Files as schools really have them, through the real import on every backend: what a careful
operator expects from each (a rejected row with its line, or the whole file, never a silent
loss)."""

from __future__ import annotations

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
from malnu_tui.engine.data.errors import InputFileError
from tests.import_support import EXAMPLES, ImportTarget, import_into, rejects_of, write_csv


def test_a_quote_never_closed_is_a_rejected_row_not_the_end_of_the_file(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # The quote opened on line 3 runs to the end of the file: that record (and the lines it
    # swallowed) used to vanish, the import reading 1 row, committing it and exiting 0.
    text = 'id,email,name\n1,a@x,Ani\n2,b@x,"Budi\n3,c@x,Citra\n'
    req = ImportRequest("users", file=write_csv(tmp_path / "u.csv", text))
    report = import_into(imp, req)
    assert (report.read, report.inserted, report.rejected) == (2, 1, 1)
    assert not report.committed and imp.count("users") == 0
    got = rejects_of(report.rejects_file)
    assert [r["line"] for r in got] == ["3"]
    assert "never closed" in got[0]["reason"]
    assert got[0]["raw"] == '2,b@x,"Budi\n3,c@x,Citra'
    # Allowed one error, the rest goes in.
    req = ImportRequest("users", file=req.file, max_errors=MaxErrors(1))
    assert import_into(imp, req).committed and imp.count("users") == 1


def test_a_nul_byte_is_a_rejected_row_on_every_backend(imp: ImportTarget, tmp_path: Path) -> None:
    # A NUL used to go in on SQLite and D1 (where length() and most tools stop at it) and to
    # fail the whole import on PostgreSQL with "invalid byte sequence" naming no line.
    text = 'id,email,name\n1,a@x,Ani\x00Budi\n2,b@x,Citra\n3,c@x,"Dewi\x00\nSari"\n4,d@x,Eka\n'
    req = ImportRequest("users", file=write_csv(tmp_path / "u.csv", text), max_errors=MaxErrors(2))
    report = import_into(imp, req)
    assert report.committed
    assert (report.read, report.inserted, report.rejected) == (4, 2, 2)
    got = rejects_of(report.rejects_file)
    assert [(r["line"], r["column"]) for r in got] == [("2", ""), ("4", "")]
    assert all("NUL byte (0x00) in 'name'" in r["reason"] for r in got)
    assert imp.rows("SELECT id, name FROM users ORDER BY id") == [(2, "Citra"), (4, "Eka")]


def test_the_same_file_twice_without_a_key_is_refused_row_by_row(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # The operator forgot --key on the semester's second run. On PostgreSQL this said
    # "count check failed: 1 row(s) sent were neither inserted nor refused" (the search for
    # refused rows stopped at --max-errors, the rows it had not judged left out of the counts).
    path = write_csv(tmp_path / "u.csv", "id,email,name\n1,a@x,Ani\n2,b@x,Budi\n3,c@x,Citra\n")
    assert import_into(imp, ImportRequest("users", file=path)).committed
    report = import_into(imp, ImportRequest("users", file=path))
    assert not report.committed and report.rejected >= 1
    assert report.read == report.inserted + report.updated + report.skipped + report.rejected
    assert report.before_count == report.after_count == imp.count("users") == 3
    first = rejects_of(report.rejects_file)[0]
    assert first["line"] == "2"
    assert "UNIQUE" in first["reason"] or "duplicate key" in first["reason"]


def test_empty_header_fields_excel_left_behind(imp: ImportTarget, tmp_path: Path) -> None:
    # Excel writes ';' after the last column when a cell beyond it was ever touched. Such a
    # file was refused ("header field 4 is empty"), with a mapping too: the hint's own advice
    # ("add a mapping file") did not help, the operator had to edit the export by hand.
    text = "\ufeffid;email;name;;\r\n1;a@x;Ani;;\r\n2;b@x;Budi;;\r\n"
    excel = write_csv(tmp_path / "excel.csv", text)
    report = import_into(imp, ImportRequest("users", file=excel))
    assert report.committed and report.inserted == 2
    # With a mapping, header fields it does not read need no name, nor a unique one.
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\n[columns.email]\nfrom = "email"\n'
        '[columns.name]\nfrom = "name"\n'
    )
    text = "id,,email,Catatan,name,Catatan\n3,x,c@x,-,Citra,-\n"
    req = ImportRequest("users", file=write_csv(tmp_path / "m.csv", text), mapping=mapping)
    backend = imp.open()
    try:
        notes = preview_import(backend, req, open_csv(req)).check.notes
    finally:
        backend.close()
    assert any("header field(s) 2 empty: not imported" in n for n in notes)
    assert import_into(imp, req).committed
    assert imp.rows("SELECT id, name FROM users ORDER BY id")[-1] == (3, "Citra")
    # Without a mapping an empty field between names is still refused (which column is it?).
    middle = write_csv(tmp_path / "mid.csv", "id,,email,name\n4,x,d@x,Dewi\n")
    with pytest.raises(SchemaMismatch, match="header field 2 is empty"):
        import_into(imp, ImportRequest("users", file=middle))
    assert imp.count("users") == 3


def test_a_field_too_large_for_a_d1_statement_is_imported(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # An essay pasted into a cell (150 KB), a photo kept as a data: URL (600 KB): on D1 such a
    # row was a rejected row ("too large for D1 … the import sends at most 90 KB"), though D1
    # keeps a row up to 2 MB (its 100 KB is a statement's). It is now written alone with its
    # texts bound, as the sync writes it (one piece of code); only a row over D1's 2 MB is a
    # rejected row, named by line and column; the rest of the file goes on.
    essay = "Esai panjang tentang sekolah ✓ " * 5000
    photo = "data:image/png;base64," + "QUJD" * 150_000
    huge = "x" * 2_100_000
    text = f'id,email,name\n1,a@x,Ani\n2,b@x,{essay}\n3,c@x,Citra\n4,d@x,"{photo}"\n5,e@x,{huge}\n'
    path = write_csv(tmp_path / "u.csv", text)
    if imp.kind == "d1":  # a dry run tries the rows in batches D1 rolls back: judged the same
        dry = import_into(
            imp, ImportRequest("users", file=path, dry_run=True, max_errors=MaxErrors(1))
        )
        assert (dry.inserted, dry.rejected, imp.count("users")) == (4, 1, 0)
    report = import_into(imp, ImportRequest("users", file=path, max_errors=MaxErrors(1)))
    assert report.committed
    query = "SELECT id, length(email), length(name) FROM users ORDER BY id"
    if imp.kind != "d1":
        assert (report.inserted, report.rejected) == (5, 0)
        return
    assert (report.read, report.inserted, report.rejected) == (5, 4, 1)
    assert imp.rows(query) == [
        (1, 3, 3),
        (2, 3, len(essay)),
        (3, 3, 5),
        (4, 3, len(photo)),
    ]
    got = rejects_of(report.rejects_file)
    assert [(r["line"], r["column"]) for r in got] == [("6", "name")]
    assert "too large for D1 ('name', 2,100,000 characters: a row of 2,100,0" in got[0]["reason"]
    assert "bytes as D1 stores it; D1 keeps rows under 2,000,000 bytes" in got[0]["reason"]


def test_excel_unicode_text_is_read_as_utf16(imp: ImportTarget, tmp_path: Path) -> None:
    # Excel's "Save as Unicode Text" (UTF-16 with a BOM, tabs, CRLF): without --encoding it was
    # "not valid utf-8 (byte 0xff)" with a hint to try cp1252 (whose header is then garbage);
    # --encoding utf-16-le glued the BOM to the first header; --encoding utf-16 on a file that
    # is not UTF-16 was a traceback.
    text = "id\temail\tname\r\n1\ta@x\tNi Luh Putu Érika\r\n2\tb@x\tBudi Santoso\r\n"
    path = tmp_path / "siswa.txt"
    path.write_bytes(text.encode("utf-16"))
    for encoding in (None, "utf-16-le"):
        imp.execute("DELETE FROM users")
        report = import_into(imp, ImportRequest("users", file=path, encoding=encoding))
        assert report.committed and report.inserted == 2
        assert imp.rows("SELECT name FROM users ORDER BY id") == [
            ("Ni Luh Putu Érika",),
            ("Budi Santoso",),
        ]
    utf8 = write_csv(tmp_path / "u.csv", "id,email,name\n1,a@x,Ani\n")
    with pytest.raises(InputFileError, match=r"u\.csv:1: not valid utf-16") as err:
        import_into(imp, ImportRequest("users", file=utf8, encoding="utf-16"))
    assert err.value.exit_code == 2


def test_excel_empty_rows_are_skipped_like_blank_lines(imp: ImportTarget, tmp_path: Path) -> None:
    # Excel writes a line of delimiters only for every row it once formatted (at the end of
    # the sheet, between blocks): each was rejected as "NULL in a NOT NULL column", so a
    # clean export failed at --max-errors 0. They are no record now, like blank lines: not
    # read, in no count (the balance holds), line numbers still physical.
    text = "\ufeff;;\r\nid;email;name\r\n1;a@x;Ani\r\n;;\r\n;;;;\r\n"
    text += "x;b@x;Budi\r\n3;c@x;Citra\r\n;;\r\n"
    req = ImportRequest("users", file=write_csv(tmp_path / "u.csv", text), max_errors=MaxErrors(1))
    report = import_into(imp, req)
    assert report.committed
    assert (report.read, report.inserted, report.rejected, report.empty_lines) == (3, 2, 1, 4)
    assert report.read == report.inserted + report.updated + report.skipped + report.rejected
    assert "4 empty line(s) of delimiters only skipped" in report.summary()
    got = rejects_of(report.rejects_file)
    assert [(r["line"], r["column"]) for r in got] == [("6", "id")]
    assert imp.rows("SELECT id, name FROM users ORDER BY id") == [(1, "Ani"), (3, "Citra")]
    # Not committed (the rows are in now): the reason follows the outcome, not the empty
    # lines (it read "…4 empty line(s) of delimiters only skipped (3 rejected, over …)").
    over = import_into(imp, replace(req, max_errors=MaxErrors(0), dry_run=True))
    assert over.summary().endswith(
        "NOT committed (3 rejected, over --max-errors 0); "
        "4 empty line(s) of delimiters only skipped"
    )
    # A clean file read in blocks at C speed: an empty row in the middle is skipped too.
    lines = [f"{i};u{i}@x;Siswa {i}\n" for i in range(10, 3010)]
    lines[1500] = ";;\n"
    big = write_csv(tmp_path / "big.csv", "id;email;name\n" + "".join(lines) + ";;\n;;\n")
    report = import_into(imp, ImportRequest("users", file=big))
    assert report.committed and (report.read, report.inserted) == (2999, 2999)
    assert report.empty_lines == 3
    # Quoted empty fields are values someone typed (""), not an empty row: still a record.
    quoted = write_csv(tmp_path / "q.csv", 'id;email;name\n"";"";""\n')
    report = import_into(imp, ImportRequest("users", file=quoted))
    assert (report.read, report.rejected, report.committed) == (1, 1, False)


def test_excel_sep_line_declares_the_delimiter(imp: ImportTarget, tmp_path: Path) -> None:
    # Excel writes (and reads back) "sep=;" as the first line of a "CSV (semicolon)" file. It
    # was taken for the header: "unknown column 'sep='", and every real column "not given".
    # It now declares the delimiter and is skipped; line numbers stay the file's own.
    text = 'sep=;\r\nid;email;name\r\n1;a@x;"Ani\r\nRahayu"\r\nx;b@x;Budi\r\n3;c@x;Citra\r\n'
    path = write_csv(tmp_path / "u.csv", text, bom=True)
    req = ImportRequest("users", file=path, max_errors=MaxErrors(1))
    backend = imp.open()
    try:
        preview = preview_import(backend, req, open_csv(req))
    finally:
        backend.close()
    assert preview.problems == () and preview.header == ("id", "email", "name")
    assert "semicolon delimiter (sep= on line 1)" in preview.source
    assert [s.line for s in preview.samples] == [3, 5, 6]
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (3, 2, 1)
    assert [(r["line"], r["column"], r["raw"]) for r in rejects_of(report.rejects_file)] == [
        ("5", "id", "x;b@x;Budi")
    ]
    got = imp.rows("SELECT id, name FROM users ORDER BY id")
    assert got == [(1, "Ani\r\nRahayu"), (3, "Citra")]
    # A clean file read in blocks at C speed, and Excel's "Unicode Text" (UTF-16, a tab).
    rows = "".join(f"{i}|u{i}@x|Siswa {i}\n" for i in range(10, 3010))
    big = write_csv(tmp_path / "big.csv", "sep=|\nid|email|name\n" + rows)
    assert import_into(imp, ImportRequest("users", file=big)).inserted == 3000
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes("sep=\t\r\nid\temail\tname\r\n4000\td@x\tDewi\r\n".encode("utf-16"))
    assert import_into(imp, ImportRequest("users", file=utf16)).inserted == 1
    # --delimiter that contradicts the file's own declaration: which is it? Exit 2, line 1.
    with pytest.raises(InputFileError, match=r"u\.csv:1: the file declares its delimiter") as err:
        open_csv(ImportRequest("users", file=path, delimiter=","))
    assert err.value.exit_code == 2
    assert imp.count("users") == 3003


def test_numeric_precision_and_scale_are_checked_alike_on_every_backend(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # Grades into NUMERIC(5,2): 12345.678 went in on SQLite and D1 (which do not enforce the
    # declared precision) while PostgreSQL refused it ("numeric field overflow"), and 2.675
    # was stored as 2.675 on SQLite but 2.68 on PostgreSQL. Now one check for all three: the
    # scale rounds half away from zero on the digits as written (PostgreSQL's rule), a value
    # that then has too many digits before the point is a rejected row naming it and the type.
    imp.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, skor NUMERIC(5,2), bobot DECIMAL(3))")
    pg = imp.kind == "postgresql"
    text = (
        "id;skor;bobot\n1;1.005;12.5\n2;-1.005;999.4\n3;2.675;7\n4;999.994;\n5;100;\n"
        "6;12345.678;1\n7;999.995;1\n8;1;999.5\n9;-0.001;-12.5\n"
    )
    req = ImportRequest("nilai", file=write_csv(tmp_path / "n.csv", text), max_errors=MaxErrors(3))
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (9, 6, 3)
    # (the declared type as the database spells it: PostgreSQL says numeric(5,2))
    got = [(r["line"], r["column"], r["reason"].lower()) for r in rejects_of(report.rejects_file)]
    overflow = "does not fit {}: at most {} digit(s) before the decimal point"
    overflow += " (numeric field overflow)"
    assert got == [
        ("7", "skor", "'12345.678' " + overflow.format("numeric(5,2)", 3)),
        ("8", "skor", "'999.995' " + overflow.format("numeric(5,2)", 3)),
        ("9", "bobot", "'999.5' " + overflow.format("numeric(3,0)" if pg else "decimal(3)", 3)),
    ]
    rows = imp.rows("SELECT id, skor, bobot FROM nilai ORDER BY id")
    assert [(i, float(s), None if b is None else float(b)) for i, s, b in rows] == [
        (1, 1.01, 13.0),
        (2, -1.01, 999.0),
        (3, 2.68, 7.0),
        (4, 999.99, None),
        (5, 100.0, None),
        (9, 0.0, -13.0),
    ]
    if pg:  # the rule is PostgreSQL's own: its cast of the values as written agrees
        cast = "SELECT '1.005'::numeric(5,2), '-1.005'::numeric(5,2), '2.675'::numeric(5,2), "
        cast += "'12.5'::numeric(3), '-12.5'::numeric(3), '999.994'::numeric(5,2)"
        assert [float(x) for x in imp.rows(cast)[0]] == [1.01, -1.01, 2.68, 13.0, -13.0, 999.99]


def test_indonesian_spreadsheet_transforms(imp: ImportTarget, tmp_path: Path) -> None:
    # What the school's Excel files hold and the mapping could not read: date serials (a
    # cell formatted as a number), Indonesian month names, 1.234,56 for 1234.56, and phone
    # numbers written every way. Each becomes one form; a value that is none of them is a
    # rejected row with its reason, never a guess.
    imp.execute(
        "CREATE TABLE wali (id INTEGER PRIMARY KEY, lahir DATE, daftar TIMESTAMP, "
        "spp NUMERIC(12,2), hp TEXT)"
    )
    mapping = tmp_path / "wali.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "No"\n'
        '[columns.lahir]\nfrom = "Tanggal Lahir"\n'
        'apply = ["trim", { date = ["%d %B %Y", "%d-%b-%Y", "%d/%m/%Y", "excel"] }]\n'
        '[columns.daftar]\nfrom = "Daftar"\napply = [{ date = ["excel"] }]\n'
        '[columns.spp]\nfrom = "SPP"\n'
        'apply = [{ decimal = { decimal_sep = ",", thousands_sep = "." } }]\n'
        '[columns.hp]\nfrom = "HP"\napply = [{ phone = "national" }]\n'
    )
    text = (
        "No;Tanggal Lahir;Daftar;SPP;HP\n"
        "1;16 Juli 2008;45123.5;1.234,56;0812-3456-7890\n"
        "2;1-Agt-2008;45124;150.000;+62 812 3456 7891\n"
        "3;5 Mei 2009;45125;75000,5;(021) 555-1234\n"
        "4;3-Okt-2008;45126;0,75;0062 813 1111 2222\n"
        "5;25/12/2008;45127;2.500.000;+62 (0)21 555 1235\n"
        "6;39814;45128;1.000;0813-2222-3333\n"
        "7;60;45129;1.000;0813-2222-3334\n"  # Excel's 29 February 1900: no such day
        "8;1 Juli 2008;45130;1.5;0813-2222-3335\n"  # 1.5 with a thousands '.': which is it?
        "9;1 Juli 2008;45131;1.000;81322223336\n"  # the leading 0 lost by Excel
        "10;30 Februari 2008;45132;1.000;0813-2222-3337\n"
    )
    req = ImportRequest(
        "wali",
        file=write_csv(tmp_path / "wali.csv", text),
        mapping=mapping,
        max_errors=MaxErrors(4),
    )
    backend = imp.open()
    try:
        preview = preview_import(backend, req, open_csv(req))
    finally:
        backend.close()
    assert dict(preview.rules) == {
        "id": "from No",
        "lahir": "from Tanggal Lahir, trim → date (+ Excel serials)",
        "daftar": "from Daftar, date (+ Excel serials)",
        "spp": "from SPP, decimal (1.234,56 → 1234.56)",
        "hp": "from HP, phone (→ 081234567890)",
    }
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (10, 6, 4)
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert got == [
        (
            "8",
            "lahir",
            "date: '60' matches none of %d %B %Y, %d-%b-%Y, %d/%m/%Y, excel "
            "(excel: serial 60 is 29 February 1900, a day that never was)",
        ),
        (
            "9",
            "spp",
            "decimal: '1.5' has thousands separators out of place (decimal ',', thousands '.')",
        ),
        (
            "10",
            "hp",
            "phone: '81322223336' has no leading 0, +62 or 00 (the zero lost by Excel? "
            "store the column as text)",
        ),
        (
            "11",
            "lahir",
            "date: '30 Februari 2008' matches none of %d %B %Y, %d-%b-%Y, %d/%m/%Y, excel",
        ),
    ]
    rows = imp.rows(
        "SELECT id, CAST(lahir AS TEXT), CAST(daftar AS TEXT), spp, hp FROM wali ORDER BY id"
    )
    assert [(i, lahir, daftar[:10], float(spp), hp) for i, lahir, daftar, spp, hp in rows] == [
        (1, "2008-07-16", "2023-07-16", 1234.56, "081234567890"),
        (2, "2008-08-01", "2023-07-17", 150000.0, "081234567891"),
        (3, "2009-05-05", "2023-07-18", 75000.5, "0215551234"),
        (4, "2008-10-03", "2023-07-19", 0.75, "081311112222"),
        (5, "2008-12-25", "2023-07-20", 2500000.0, "0215551235"),
        (6, "2009-01-01", "2023-07-21", 1000.0, "081322223333"),
    ]
    assert rows[0][2].replace("T", " ").startswith("2023-07-16 12:00:00")


def test_the_guardians_example_imports_as_the_readme_says(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # examples/import/guardians_*: an Indonesian Excel sheet with every item above at once
    # (sep= line, BOM, CRLF, empty rows at the end, serials, month names, 1.250.000, phones).
    ddl = (EXAMPLES / "guardians.sql").read_text(encoding="utf-8")
    if imp.kind == "postgresql":
        ddl = ddl.replace(
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
    imp.execute(ddl)
    req = ImportRequest(
        "guardians",
        file=EXAMPLES / "guardians_excel.csv",
        mapping=EXAMPLES / "guardians.toml",
        key=("nis",),
        rejects=tmp_path / "rejects.csv",
        max_errors=MaxErrors(1),
    )
    for _ in range(2):  # re-run every semester: updated, nobody added twice
        report = import_into(imp, req)
        assert report.committed and (report.read, report.rejected, report.empty_lines) == (5, 1, 2)
    assert report.updated == 4 and imp.count("guardians") == 4
    assert [(r["line"], r["column"]) for r in rejects_of(report.rejects_file)] == [("6", "phone")]
    rows = imp.rows(
        "SELECT nis, guardian_name, phone, CAST(student_birth_date AS TEXT), "
        "CAST(registered_on AS TEXT), monthly_fee FROM guardians ORDER BY nis"
    )
    assert [(*r[:5], float(r[5])) for r in rows] == [
        ("0012345", "Ni Made Ayu Suartini", "081234567890", "2008-07-16", "2023-07-16", 150000.0),
        (
            "0012346",
            "I Gusti Ngurah Rai Wirawan",
            "081322223333",
            "2008-08-01",
            "2023-07-17",
            150000.0,
        ),
        ("0012347", "Siti Nurhaliza", "0254555123", "2009-05-05", "2023-07-16", 125500.5),
        ("0012349", "Muhammad Rizky Pratama", None, "2008-12-25", "2023-07-20", 1250000.0),
    ]


def _workbooks(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """The files picked instead of their CSV export: a workbook of each kind, as its bytes
    begin (a zip of XML parts; the OLE2 compound file of Excel 97-2003)."""
    import zipfile

    xlsx = tmp_path / "siswa.xlsx"
    with zipfile.ZipFile(xlsx, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet>0012345678 José</worksheet>")
    ods = tmp_path / "siswa.ods"
    with zipfile.ZipFile(ods, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    xls = tmp_path / "siswa.csv"  # an .xls renamed: the name says nothing
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "José".encode("cp1252"))
    return {
        "xlsx": (xlsx, "the file is an Excel workbook (.xlsx), not a CSV file"),
        "ods": (ods, "the file is an OpenDocument spreadsheet (.ods), not a CSV file"),
        "xls": (xls, "the file is an Excel 97-2003 workbook (.xls), not a CSV file"),
    }


def test_a_workbook_or_utf16_without_its_bom_is_named_as_what_it_is(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # The sheet itself picked instead of its CSV export: it failed "not valid utf-8 (byte
    # 0x87)" with the hint --encoding cp1252, which then read the zip's bytes as a header of
    # garbage ("unknown column 'PK\x03\x04…'"). UTF-16 text without its BOM read as UTF-8 gave
    # a header 'n\x00i\x00s\x00'. Each is now named, with what to do, before anything is read.
    for path, what in _workbooks(tmp_path).values():
        for encoding in (None, "cp1252", "latin-1"):
            with pytest.raises(InputFileError) as exc:
                open_csv(ImportRequest("students", file=path, encoding=encoding))
            assert str(exc.value) == f"{path}: {what}"
            assert "save it as CSV" in (exc.value.hint or "")
    text = "nis\tnisn\tname\tgender\n0012\t0012345678\tJosé Ramírez\tL\n"
    for order in ("le", "be"):
        path = tmp_path / f"u16{order}.txt"
        path.write_bytes(text.encode(f"utf-16-{order}"))
        with pytest.raises(InputFileError) as exc:
            open_csv(ImportRequest("students", file=path))
        endian = "little" if order == "le" else "big"
        assert str(exc.value) == (
            f"{path}:1: the file is UTF-16 ({endian}-endian) text without its BOM, not UTF-8"
        )
        assert exc.value.hint == f"pass --encoding utf-16-{order}"
    assert imp.count("students") == 0
    # As the hint says: read so, every value as it was.
    req = ImportRequest("students", file=tmp_path / "u16le.txt", encoding="utf-16-le")
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted) == (1, 1)
    assert imp.rows("SELECT nis, nisn, name FROM students") == [
        ("0012", "0012345678", "José Ramírez")
    ]
    # A NUL in a UTF-8 file is still that row's fault, not the file's (see the NUL test).
    nul = write_csv(tmp_path / "nul.csv", "nis,nisn,name,gender\n0013,0012345679,A\x00B,P\n")
    assert open_csv(ImportRequest("students", file=nul)).header[0] == "nis"


def test_a_header_differing_from_the_columns_by_case_or_spaces_names_the_column(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # A sheet's header as people write it (NIS, Name, Birth Date) for the columns nis, name,
    # birth_date: each was "unknown column 'NIS'" and the table's columns were named nowhere,
    # so the operator could not tell what to write. The column it differs from only by case,
    # spaces or underscores is said beside it; nothing is guessed (still refused, exit 2).
    f = write_csv(tmp_path / "s.csv", "NIS;NISN;Name;gender;Birth Date;Kelas\n1;2;A;L;;\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns.Nis]\nfrom = "NIS"\n[columns.nisn]\nfrom = "NISN"\n'
        '[columns.name]\nfrom = "name"\n'
    )
    backend = imp.open()
    try:
        req = ImportRequest("students", file=f)
        problems = preview_import(backend, req, open_csv(req)).problems
        req = ImportRequest("students", file=f, mapping=mapping)
        mapped = preview_import(backend, req, open_csv(req)).problems
    finally:
        backend.close()
    exactly = "names must match exactly)"
    assert [p for p in problems if p.startswith("unknown")] == [
        f"unknown column 'NIS' (the table's column is 'nis': {exactly}",
        f"unknown column 'NISN' (the table's column is 'nisn': {exactly}",
        f"unknown column 'Name' (the table's column is 'name': {exactly}",
        f"unknown column 'Birth Date' (the table's column is 'birth_date': {exactly}",
        "unknown column 'Kelas'",
    ]
    assert (
        mapped[0]
        == f"unknown column 'Nis' (mapping line 1) (the table's column is 'nis': {exactly}"
    )
    # A mapping's source against the header alike.
    assert mapped[1] == (
        "mapping line 5: source column 'name' is not in the header (the header has 'Name': "
        + exactly
    )
    assert imp.count("students") == 0


def test_a_date_as_the_sheet_writes_it_is_refused_with_the_step_that_reads_it(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # Without a mapping, a DATE or TIMESTAMP column given a sheet's 16/07/2008 or a date cell
    # exported as its serial (45123) refused each row with "(YYYY-MM-DD)" alone: the operator
    # of a 300-row list was not told that a mapping's date step reads them.
    imp.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, d DATE, t TIMESTAMP)")
    f = write_csv(
        tmp_path / "ev.csv",
        "id;d;t\n1;16/07/2008;\n2;07/16/2008;\n3;45123;\n4;;15/07/2024 07:31\n5;;45123.5\n"
        "6;2008;\n7;2008-07-16;2024-07-15 07:31:00\n",
    )
    req = ImportRequest("ev", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(9))
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (7, 1, 6)
    step = "read it with a mapping's step { date = "
    serial = f"an Excel date serial? {step}"
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert [(line, col) for line, col, _ in got] == [
        ("2", "d"), ("3", "d"), ("4", "d"), ("5", "t"), ("6", "t"), ("7", "d")
    ]  # fmt: skip
    # The column's declared type as the database names it (DATE, date, timestamp without…).
    assert [(why.split(" for a ")[0], why.split(" column ")[-1]) for _, _, why in got] == [
        ("invalid date '16/07/2008'", f'(YYYY-MM-DD); {step}["%d/%m/%Y"] }}'),
        ("invalid date '07/16/2008'", f'(YYYY-MM-DD); {step}["%m/%d/%Y"] }}'),
        ("invalid date '45123'", f'(YYYY-MM-DD); {serial}["excel"] }}'),
        ("invalid date/time '15/07/2024 07:31'", f'(ISO 8601); {step}["%d/%m/%Y %H:%M"] }}'),
        ("invalid date/time '45123.5'", f'(ISO 8601); {serial}["excel"] }}'),
        ("invalid date '2008'", "(YYYY-MM-DD)"),
    ]
    # The step it names reads them, as the hint says.
    mapping = tmp_path / "ev.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\n[columns.d]\nfrom = "d"\n'
        'apply = ["null_if_empty", { date = ["%d/%m/%Y", "excel"] }]\n'
    )
    f.write_text("id;d;t\n11;16/07/2008;\n12;45123;\n")
    report = import_into(imp, ImportRequest("ev", file=f, mapping=mapping))
    assert report.committed and report.inserted == 2
    assert [str(r[0]) for r in imp.rows("SELECT d FROM ev WHERE id > 10 ORDER BY id")] == [
        "2008-07-16",
        "2023-07-16",
    ]


def test_a_mapping_saved_by_windows_notepad(imp: ImportTarget, tmp_path: Path) -> None:
    # Notepad's and VS Code's "UTF-8 with BOM": the BOM made line 1 "not valid TOML: Invalid
    # statement", though the mapping was right. Its "Unicode" (UTF-16) and ANSI (cp1252) were
    # "cannot read the mapping: 'utf-8' codec can't decode byte 0xe9 in position 68".
    from malnu_tui.engine.data.errors import MappingError

    text = '[columns.nis]\r\nfrom = "NIS"\r\n[columns.nisn]\r\nfrom = "NISN"\r\n'
    text += '[columns.name]\r\nfrom = "Nama"\r\n[columns.gender]\r\nfrom = "JK"\r\n'
    text += 'map = { "Laki-laki" = "L", "Perempuan" = "P", "Prí" = "L" }\r\n'
    f = write_csv(tmp_path / "s.csv", "NIS;NISN;Nama;JK\n0012;0012345678;Ani;Perempuan\n")
    mapping = tmp_path / "siswa.toml"
    mapping.write_bytes(b"\xef\xbb\xbf" + text.encode())
    report = import_into(imp, ImportRequest("students", file=f, mapping=mapping))
    assert report.committed and report.inserted == 1
    assert imp.rows("SELECT nis, name, gender FROM students") == [("0012", "Ani", "P")]
    save = "save the mapping as UTF-8 (Notepad: Save As → Encoding: UTF-8)"
    for data, why in (
        (b"\xff\xfe" + text.encode("utf-16-le"), f"{mapping}:1: the mapping is UTF-16 text"),
        (text.encode("cp1252"), f"{mapping}:9: not valid UTF-8 (byte 0xed)"),
    ):
        mapping.write_bytes(data)
        with pytest.raises(MappingError) as exc:
            import_into(imp, ImportRequest("students", file=f, mapping=mapping))
        assert str(exc.value).startswith(why) and exc.value.hint == save
    assert imp.count("students") == 1
