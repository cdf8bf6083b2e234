"""What Indonesian schools' spreadsheet exports (Dapodik/EMIS sheets saved from Excel, Google
Sheets and LibreOffice CSV downloads) hold in place of values, through the real import on every
backend: each such cell is a rejected row with its line and reason, never a value stored."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from malnu_tui.engine.data import ImportRequest, MaxErrors, open_csv, preview_import
from malnu_tui.engine.data.csvsource import CsvSource
from malnu_tui.engine.data.dates import date_step
from malnu_tui.engine.data.errors import InputFileError
from malnu_tui.engine.data.mapping import parse_mapping
from malnu_tui.engine.data.transform import StepFailed, decimal_step, phone_step
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv

SCIENTIFIC = "is a number the spreadsheet wrote in scientific notation: its digits are lost"
ERROR_VALUE = "is a spreadsheet's error value"


def _preview_problems(imp: ImportTarget, req: ImportRequest) -> tuple[str, ...]:
    """What the preview of ``req`` says is wrong (the schema check's problems)."""
    backend = imp.open()
    try:
        return tuple(preview_import(backend, req, open_csv(req)).problems)
    finally:
        backend.close()


def test_numbers_in_scientific_notation_and_error_values_are_rejected(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # A 16-digit NIK in a cell of Excel's General format is saved as 3.20123E+15 (3,20123E+15
    # in the Indonesian locale): the TEXT column stored that text and the NUMERIC one stored
    # 3201230000000000, both "committed". A formula that failed (#N/A from a VLOOKUP) was
    # stored as the student's name.
    imp.execute("CREATE TABLE siswa (nis TEXT PRIMARY KEY, nik TEXT, nama TEXT, kk NUMERIC(16,0))")
    text = (
        "nis;nik;nama;kk\n"
        "001;3201234567890001;Ani;3201234567890009\n"
        "002;3.20123E+15;Budi;3201234567890009\n"
        "003;3201234567890003;#N/A;3201234567890009\n"
        "004;3201234567890004;Citra;3,20123E+15\n"
        "005;3201234567890005;#NILAI!;3201234567890009\n"  # #VALUE! in Indonesian Excel
        "006;3201234567890006;Err:502;3201234567890009\n"  # LibreOffice
        "007;3201234567890007;Dewi E+2 #1;1E+3\n"
        "008;3201234567890008;#SEMANGAT!;1\n"  # a motto, not an error value
    )
    req = ImportRequest(
        "siswa", file=write_csv(tmp_path / "siswa.csv", text), max_errors=MaxErrors(10)
    )
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (8, 3, 5)
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert got == [
        (
            "3",
            "nik",
            f"'3.20123E+15' {SCIENTIFIC} (format the column as Text in the sheet "
            "and save the CSV again)",
        ),
        (
            "4",
            "nama",
            f"'#N/A' {ERROR_VALUE} (a formula that failed in the sheet): fix the "
            "cell, or map it to NULL with the step null_if_error",
        ),
        (
            "5",
            "kk",
            f"'3,20123E+15' {SCIENTIFIC} (format the column as Text in the sheet "
            "and save the CSV again)",
        ),
        (
            "6",
            "nama",
            f"'#NILAI!' {ERROR_VALUE} (a formula that failed in the sheet): fix the "
            "cell, or map it to NULL with the step null_if_error",
        ),
        (
            "7",
            "nama",
            f"'Err:502' {ERROR_VALUE} (a formula that failed in the sheet): fix the "
            "cell, or map it to NULL with the step null_if_error",
        ),
    ]
    assert imp.rows("SELECT nis, nik, nama FROM siswa ORDER BY nis") == [
        ("001", "3201234567890001", "Ani"),
        ("007", "3201234567890007", "Dewi E+2 #1"),
        ("008", "3201234567890008", "#SEMANGAT!"),
    ]


def test_the_same_when_the_server_checks_the_values(imp: ImportTarget, tmp_path: Path) -> None:
    # Every column text without a length: PostgreSQL (15 and older) is sent the file's own
    # block unsplit, the server's checks standing for the client's, and took the NIK as text.
    imp.execute("CREATE TABLE nik (nis TEXT, nik TEXT)")
    text = "nis;nik\n001;3201234567890001\n002;3,20123E+15\n003;3201234567890003\n"
    req = ImportRequest("nik", file=write_csv(tmp_path / "nik.csv", text), max_errors=MaxErrors(1))
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (3, 2, 1)
    assert [(r["line"], r["column"]) for r in rejects_of(report.rejects_file)] == [("3", "nik")]
    assert imp.rows("SELECT nis, nik FROM nik ORDER BY nis") == [
        ("001", "3201234567890001"),
        ("003", "3201234567890003"),
    ]


def test_an_error_value_mapped_to_null(imp: ImportTarget, tmp_path: Path) -> None:
    # The class looked up with VLOOKUP, #N/A where the student has none yet: the operator
    # says so in the mapping: error values of that column become NULL, not of another.
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\n[columns.email]\nfrom = "email"\n'
        '[columns.name]\nfrom = "name"\n'
        '[columns.class_id]\nfrom = "kelas"\napply = ["trim", "null_if_error"]\n'
    )
    text = "id,email,name,kelas\n1,a@x,Ani,#N/A\n2,b@x,Budi, X-IPA-1\n3,c@x,#REF!,#N/A\n"
    req = ImportRequest(
        "users", file=write_csv(tmp_path / "u.csv", text), mapping=mapping, max_errors=MaxErrors(1)
    )
    report = import_into(imp, req)
    assert report.committed and (report.inserted, report.rejected) == (2, 1)
    assert imp.rows("SELECT id, class_id FROM users ORDER BY id") == [(1, None), (2, "X-IPA-1")]
    assert [r["line"] for r in rejects_of(report.rejects_file)] == ["4"]


DAPODIK = (
    "Daftar Peserta Didik;;;;\r\n"
    "SMA MALNU KANANGA;;;;\r\n"
    "Kecamatan Menes, Kabupaten Pandeglang, Provinsi Banten;;;;\r\n"
    "Tanggal Unduh: 2025-07-14 08:00:00;;;;\r\n"
    ";;;;\r\n"
    "No;Nama;NIPD;JK;NISN\r\n"
    "1;Ani Lestari;001;P;0012345678\r\n"
    "2;Budi Santoso;002;X;0012345679\r\n"
    "3;Citra Dewi;003;P;0012345680\r\n"
)
DAPODIK_MAP = (
    '[columns.nis]\nfrom = "NIPD"\n[columns.nisn]\nfrom = "NISN"\n'
    '[columns.name]\nfrom = "Nama"\n[columns.gender]\nfrom = "JK"\n'
)


def test_title_rows_above_the_header(imp: ImportTarget, tmp_path: Path) -> None:
    # A Dapodik download saved from Excel: the sheet's title, the school, where and when,
    # then the header on line 6. The first line was taken for the header (exit 2, "unknown
    # column 'Daftar Peserta Didik'") and the operator's only way out was to delete the
    # rows in Excel, which saves every NISN again without its leading zeros.
    mapping = tmp_path / "dapodik.toml"
    mapping.write_text(DAPODIK_MAP)
    csv_file = write_csv(tmp_path / "dapodik.csv", DAPODIK, bom=True)
    req = ImportRequest("students", file=csv_file, mapping=mapping, max_errors=MaxErrors(1))
    problems = _preview_problems(imp, req)
    assert problems[-1] == (
        "line 6 looks like the header (No, Nama, NIPD, JK, NISN), with a title above it: "
        "pass --header-line 6"
    )
    report = import_into(imp, replace(req, header_line=6))
    assert report.committed and (report.read, report.inserted, report.rejected) == (3, 2, 1)
    got = rejects_of(report.rejects_file)
    assert [(r["line"], r["raw"]) for r in got] == [("8", "2;Budi Santoso;002;X;0012345679")]
    assert imp.rows("SELECT nis, nisn FROM students ORDER BY nis") == [
        ("001", "0012345678"),
        ("003", "0012345680"),
    ]


def test_rupiah_day_names_and_a_zero_excel_dropped() -> None:
    # What the school's fee and guardian sheets hold and the steps refused: a rupiah sign
    # (Excel's currency format, or typed), Indonesian day names, and a phone column Excel
    # kept as numbers (the operator says so; 62… stays refused: +62 or 062…?).
    rupiah = decimal_step(",", ".")
    assert [
        rupiah(v)
        for v in ("Rp 1.000", "Rp1.000.000,00", "IDR 150.000", "-Rp 5.000", "Rp 150.000,-")
    ] == ["1000", "1000000.00", "150000", "-5000", "150000"]
    for bad in ("USD 100", "Rp", "-Rp -5", "Rp 1.5", "- 5"):
        with pytest.raises(StepFailed, match="decimal: "):
            rupiah(bad)
    day = date_step(["%A, %d %B %Y", "%d/%m/%Y"])
    assert [day(v) for v in ("Senin, 6 Januari 2025", "Jum'at, 10 Januari 2025")] == [
        "2025-01-06",
        "2025-01-10",
    ]
    assert day("Ahad, 5 Januari 2025") == day("Minggu, 5 Januari 2025") == "2025-01-05"
    with pytest.raises(StepFailed, match="a wrong day name: 2025-01-05 is a Minggu"):
        day("Senin, 5 Januari 2025")  # a Sunday: the day or the date is wrong
    rules = parse_mapping(
        '[columns.hp]\nfrom = "HP"\n'
        'apply = [{ phone = { form = "national", leading_zero_lost = true } }]\n',
        Path("m.toml"),
    ).rules
    assert rules[0].describe() == "from HP, phone (→ 081234567890, 8123… read as 08123…)"
    (phone,) = rules[0].steps
    assert [phone(v) for v in ("81234567890", "0812-3456-7890", "215551234")] == [
        "081234567890",
        "081234567890",
        "0215551234",
    ]
    with pytest.raises(StepFailed, match=r"could be \+62 without its \+ or 0628… without its 0"):
        phone("6281234567890")
    with pytest.raises(StepFailed, match="has no leading 0"):
        phone_step("national")("81234567890")  # not said: refused as before


def test_a_quote_never_closed_past_the_field_limit_takes_the_rest_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stray quote on line 3 of a large file: the field grew to the csv module's limit
    # (16 MB; 300 bytes here), was rejected as "field larger than field limit", and reading
    # went on from wherever the limit struck: the lines after it were imported as records,
    # those before it silently gone with the one rejected row (--max-errors let it commit).
    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", 256)
    rows = "".join(f"{i},u{i}@x,Siswa {i}\n" for i in range(3, 200))
    text = 'id,email,name\n1,a@x,Ani\n2,b@x,"Budi\n' + rows
    old = csv.field_size_limit(300)
    try:
        recs = list(CsvSource(write_csv(tmp_path / "u.csv", text)).records())
    finally:
        csv.field_size_limit(old)
    assert [r.line for r in recs] == [2, 3] and not recs[0].error
    assert recs[1].error.startswith("malformed CSV: a quote opened in this record is never closed")
    assert "the record runs to the end of the file, line 200;" in recs[1].error
    assert recs[1].raw.startswith('2,b@x,"Budi\n3,u3@x,Siswa 3\n')


def test_a_header_of_two_rows_with_merged_cells(imp: ImportTarget, tmp_path: Path) -> None:
    # Dapodik's student sheet: the parents' columns sit under merged cells ("Data Ayah" over
    # Nama, NIK; "Data Ibu" over the same), so the names are on two rows and "Nama" is there
    # three times. Neither row alone could be the header (empty or duplicate names).
    imp.execute(
        "CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT, ayah TEXT, nik_ayah TEXT, "
        "ibu TEXT, kelas TEXT)"
    )
    text = (
        "Daftar Peserta Didik;;;;;;;\n"
        "SMA MALNU KANANGA;;;;;;;\n"
        "No;Nama;NIPD;Data Ayah;;Data Ibu;;Rombel Saat Ini\n"
        ";;;Nama;NIK;Nama;NIK;\n"
        "1;Ani;001;Bapak A;3201234567890001;Ibu A;3201234567890002;X-1\n"
        "2;Budi;002;Bapak B;3.20123E+15;Ibu B;3201234567890004;X-2\n"
    )
    mapping = tmp_path / "dapodik.toml"
    mapping.write_text(
        '[columns.nis]\nfrom = "NIPD"\n[columns.nama]\nfrom = "Nama"\n'
        '[columns.ayah]\nfrom = "Data Ayah / Nama"\n[columns.nik_ayah]\nfrom = "Data Ayah / NIK"\n'
        '[columns.ibu]\nfrom = "Data Ibu / Nama"\n[columns.kelas]\nfrom = "Rombel Saat Ini"\n'
    )
    csv_file = write_csv(tmp_path / "dapodik.csv", text)
    req = ImportRequest("siswa", file=csv_file, mapping=mapping, max_errors=MaxErrors(1))
    problems = _preview_problems(imp, req)
    assert problems[-1] == (
        "lines 3 and 4 look like a header of two rows (merged cells over the names): "
        "pass --header-line 3-4"
    )
    two_rows = replace(req, header_line=3, header_rows=2)
    assert open_csv(two_rows).header == (
        "No",
        "Nama",
        "NIPD",
        "Data Ayah / Nama",
        "Data Ayah / NIK",
        "Data Ibu / Nama",
        "Data Ibu / NIK",
        "Rombel Saat Ini",
    )
    report = import_into(imp, two_rows)
    assert report.committed and (report.read, report.inserted, report.rejected) == (2, 1, 1)
    assert [(r["line"], r["column"]) for r in rejects_of(report.rejects_file)] == [
        ("6", "nik_ayah")
    ]
    assert imp.rows("SELECT nis, nama, ayah, nik_ayah, ibu, kelas FROM siswa") == [
        ("001", "Ani", "Bapak A", "3201234567890001", "Ibu A", "X-1")
    ]


def test_identifiers_of_fixed_length() -> None:
    # A NISN saved from a number cell lost its leading zeros (0012345678 → 12345678) and went
    # into the TEXT column as 12345678: the student's number was another one. { digits = 10 }
    # refuses it, naming why; leading_zeros_lost = true (the operator says it was a number
    # cell) puts them back, which is exact for an identifier of fixed length.
    rules = parse_mapping(
        '[columns.nisn]\nfrom = "NISN"\napply = [{ digits = 10 }]\n'
        '[columns.nis]\nfrom = "NIS"\n'
        "apply = [{ digits = { length = 6, leading_zeros_lost = true } }]\n",
        Path("m.toml"),
    ).rules
    assert [r.describe() for r in rules] == [
        "from NISN, digits (10)",
        "from NIS, digits (6, leading zeros put back)",
    ]
    (nisn,), (nis,) = rules[0].steps, rules[1].steps
    assert nisn(" 0012345678 ") == "0012345678" and nisn(None) is None
    with pytest.raises(StepFailed, match=r"has 8 digits, not 10 \(its leading zeros dropped"):
        nisn("12345678")
    for bad in ("00123456789", "1.23457E+15", "001234567x", "１２３４５６７８９０"):
        with pytest.raises(StepFailed, match="digits: "):
            nisn(bad)
    assert [nis(v) for v in ("123", "001234", "1")] == ["000123", "001234", "000001"]
    with pytest.raises(StepFailed, match="has 7 digits, not 6"):
        nis("1234567")


def test_booleans_as_indonesian_sheets_write_them(imp: ImportTarget, tmp_path: Path) -> None:
    # Excel, Google Sheets and LibreOffice in Indonesian write TRUE and FALSE as BENAR and
    # SALAH: a BOOLEAN column refused both ("not a boolean").
    imp.execute("CREATE TABLE aktif (id INTEGER PRIMARY KEY, aktif BOOLEAN)")
    text = "id;aktif\n1;BENAR\n2;SALAH\n3;Benar\n"
    report = import_into(imp, ImportRequest("aktif", file=write_csv(tmp_path / "a.csv", text)))
    assert report.committed and report.inserted == 3
    assert [bool(a) for _, a in imp.rows("SELECT id, aktif FROM aktif ORDER BY id")] == [
        True,
        False,
        True,
    ]


def test_other_types_name_the_spreadsheet_too(imp: ImportTarget, tmp_path: Path) -> None:
    # An INTEGER, DATE or BOOLEAN column refused these values before, saying only "not a
    # whole number" or "invalid date": the reason now says what the sheet did.
    imp.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, lahir DATE, lulus BOOLEAN)")
    text = "id;lahir;lulus\n1.23457E+15;2008-07-16;1\n2;#N/A;1\n3;2008-07-16;#REF!\n4;x;1\n"
    req = ImportRequest("nilai", file=write_csv(tmp_path / "n.csv", text), max_errors=MaxErrors(9))
    report = import_into(imp, req)
    got = [(r["line"], r["column"], r["reason"][:40]) for r in rejects_of(report.rejects_file)]
    got[3] = (got[3][0], got[3][1], got[3][2][:23])  # DATE or date: as the database says
    assert got == [
        ("2", "id", "'1.23457E+15' is a number the spreadshee"),
        ("3", "lahir", "'#N/A' is a spreadsheet's error value (a"),
        ("4", "lulus", "'#REF!' is a spreadsheet's error value ("),
        ("5", "lahir", "invalid date 'x' for a "),
    ]


def test_a_cp1252_file_read_as_latin_1_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Excel autocorrects Ma'ruf to Ma’ruf and saves it as byte 0x92 (cp1252). The hint for a
    # file that is not UTF-8 offers cp1252 or latin-1; read as latin-1, 0x92 is a control
    # character, and "Ma\x92ruf" went into the table, invisible. Such a byte names its line.
    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", 64)
    rows = "".join(f"{i};Siswa {i}\n" for i in range(1, 30))
    f = write_csv(tmp_path / "w.csv", "nis;name\n" + rows + "30;Ma’ruf\n", encoding="cp1252")
    with pytest.raises(InputFileError) as err:
        list(CsvSource(f, encoding="latin-1").records())
    assert str(err.value) == (
        f"{f}:31: byte 0x92 is a control character in latin-1 ('’' in cp1252): the file is "
        "cp1252 (Windows, Excel), not latin-1"
    )
    assert err.value.hint == "pass --encoding cp1252"
    assert list(CsvSource(f, encoding="cp1252").records())[-1].fields == ("30", "Ma’ruf")
    latin = write_csv(tmp_path / "l.csv", "nis;name\n1;José\n", encoding="latin-1")
    assert [r.fields for r in CsvSource(latin, encoding="latin-1").records()] == [("1", "José")]


def test_an_encoding_kept_from_last_semester_on_a_utf8_file(tmp_path: Path) -> None:
    # The operator re-runs last semester's command, --encoding cp1252 and all, on this
    # semester's "CSV UTF-8" export: "José" was stored as "JosÃ©". A BOM is the file's own
    # word (as for UTF-16); without one, UTF-8 letters beyond ASCII are refused, named.
    text = "nis;name\n001;Budi\n002;José\n"
    with_bom = write_csv(tmp_path / "b.csv", text, bom=True)
    src = CsvSource(with_bom, encoding="cp1252")
    assert [r.fields[1] for r in src.records()] == ["Budi", "José"]
    assert src.description.endswith(
        "(utf-8 with BOM, semicolon delimiter (sniffed), by its BOM, not --encoding cp1252)"
    )
    utf16 = tmp_path / "u.txt"
    utf16.write_bytes(text.replace(";", "\t").encode("utf-16"))
    assert [r.fields[1] for r in CsvSource(utf16, encoding="cp1252").records()] == ["Budi", "José"]
    plain = write_csv(tmp_path / "p.csv", text)
    for asked in ("cp1252", "latin-1"):
        with pytest.raises(InputFileError) as err:
            CsvSource(plain, encoding=asked)
        assert str(err.value) == (
            f"{plain}:3: the file is UTF-8, not {asked}: 'José' would be read as 'JosÃ©'"
        )
    ascii_only = write_csv(tmp_path / "a.csv", "nis;name\n001;Budi\n")
    assert CsvSource(ascii_only, encoding="cp1252").format.encoding == "cp1252"


def test_thousands_written_with_dots_are_not_read_as_decimals(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # The monthly fee as an Indonesian sheet writes it, 150.000, went into a NUMERIC column
    # without a mapping as 150 (a thousandth of it); 1.250.000 was refused as "not a number".
    # Such a value is refused, naming both readings; a decimal step says which it is, and
    # the decimals a program or an English sheet writes (1.005, 2.675, 0.500) are as before.
    imp.execute("CREATE TABLE spp (id INTEGER PRIMARY KEY, bulanan NUMERIC(12,2), nilai REAL)")
    text = "id;bulanan;nilai\n1;150.000;1.005\n2;1.250.000;2.675\n3;75000;0.500\n4;1.005;1.500\n"
    req = ImportRequest("spp", file=write_csv(tmp_path / "spp.csv", text), max_errors=MaxErrors(9))
    report = import_into(imp, req)
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert got == [
        (
            "2",
            "bulanan",
            "'150.000' is ambiguous: 150000 with '.' between thousands (as Indonesian sheets "
            "write it) or 150.000; say which with the step decimal (decimal_sep and "
            "thousands_sep)",
        ),
        (
            "3",
            "bulanan",
            "'1.250.000' is 1250000 with '.' between thousands (as Indonesian sheets write it): "
            "read it with the step decimal",
        ),
        ("5", "nilai", got[2][2]),
    ]
    assert got[2][2].startswith("'1.500' is ambiguous: 1500 with '.' between thousands")
    rows = imp.rows("SELECT id, bulanan, nilai FROM spp ORDER BY id")
    assert [(i, float(b), float(n)) for i, b, n in rows] == [(3, 75000.0, 0.5)]
    mapping = tmp_path / "spp.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\n[columns.bulanan]\nfrom = "bulanan"\n'
        'apply = [{ decimal = { decimal_sep = ",", thousands_sep = "." } }]\n'
        '[columns.nilai]\nfrom = "nilai"\n'
        'apply = [{ decimal = { decimal_sep = ".", thousands_sep = "" } }]\n'
    )
    imp.execute("DELETE FROM spp")
    report = import_into(imp, replace(req, mapping=mapping))
    assert report.committed and report.rejected == 0
    rows = imp.rows("SELECT id, bulanan, nilai FROM spp ORDER BY id")
    assert [(i, float(b), float(n)) for i, b, n in rows] == [
        (1, 150000.0, 1.005),
        (2, 1250000.0, 2.675),
        (3, 75000.0, 0.5),
        (4, 1005.0, 1.5),
    ]


def test_a_step_refusing_what_the_spreadsheet_wrote_names_it(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # A phone column Excel kept as numbers, long enough to be shown in scientific notation:
    # the phone step said "'6.28123E+12' is not a phone number", leaving the operator to
    # guess why; a map refusing #N/A said it "is not mapped".
    imp.execute("CREATE TABLE wali (id INTEGER PRIMARY KEY, hp TEXT, jk TEXT)")
    mapping = tmp_path / "wali.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\n[columns.hp]\nfrom = "hp"\napply = [{ phone = "national" }]\n'
        '[columns.jk]\nfrom = "jk"\nmap = { L = "L", P = "P" }\n'
    )
    text = "id;hp;jk\n1;6.28123E+12;L\n2;0812-3456-7890;#N/A\n3;x;L\n"
    req = ImportRequest(
        "wali", file=write_csv(tmp_path / "w.csv", text), mapping=mapping, max_errors=MaxErrors(9)
    )
    got = [
        (r["line"], r["column"], r["reason"])
        for r in rejects_of(import_into(imp, req).rejects_file)
    ]
    assert got == [
        (
            "2",
            "hp",
            f"'6.28123E+12' {SCIENTIFIC} (format the column as Text in the sheet and save the "
            "CSV again)",
        ),
        (
            "3",
            "jk",
            f"'#N/A' {ERROR_VALUE} (a formula that failed in the sheet): fix the cell, or map "
            "it to NULL with the step null_if_error",
        ),
        ("4", "hp", "phone: 'x' is not a phone number"),
    ]


def test_a_row_without_its_key_is_refused_not_added_again_by_each_rerun(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # New students have no NISN yet; the semester's import keys on it (a nullable UNIQUE).
    # SQLite and PostgreSQL added those rows again on every re-run ("importing the same file
    # twice adds nothing" said the README); D1 failed the first run's count check, blaming
    # "another writer?".
    auto = "GENERATED BY DEFAULT AS IDENTITY " if imp.kind == "postgresql" else ""
    imp.execute(f"CREATE TABLE murid (id INTEGER {auto}PRIMARY KEY, nisn TEXT UNIQUE, nama TEXT)")
    text = "nisn;nama\n0012345678;Ani\n;Budi\n0012345679;Citra\n"
    req = ImportRequest(
        "murid", file=write_csv(tmp_path / "m.csv", text), key=("nisn",), max_errors=MaxErrors(1)
    )
    for inserted, updated in ((2, 0), (0, 2)):
        report = import_into(imp, req)
        assert report.committed
        assert (report.read, report.inserted, report.updated, report.rejected) == (
            3,
            inserted,
            updated,
            1,
        )
        assert [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)] == [
            (
                "3",
                "nisn",
                "no value for the key 'nisn': a re-run could not find the row and would add it "
                "again",
            )
        ]
        assert imp.count("murid") == 2


def test_class_lists_joined_into_one_file(imp: ImportTarget, tmp_path: Path) -> None:
    # Each class's "CSV UTF-8" export joined with `copy /b *.csv semua.csv`: the second
    # file's BOM and header line came in as a student named "nama" with NIS "\ufeffnis";
    # a third file without its header left a BOM glued to the first student's NIS.
    first = "\ufeffnis;nama\r\n001;Ani\r\n002;Budi\r\n"
    joined = first + "\ufeffnis;nama\r\n003;Citra\r\n" + "nis;nama\r\n" + "\ufeff004;Dewi\r\n"
    imp.execute("CREATE TABLE kelas (nis TEXT PRIMARY KEY, nama TEXT)")
    path = tmp_path / "semua.csv"
    path.write_bytes(joined.encode("utf-8"))
    req = ImportRequest("kelas", file=path, max_errors=MaxErrors(3))
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (6, 3, 3)
    got = [(r["line"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert got == [
        ("4", "the header line again (files joined together?)"),
        ("6", "the header line again (files joined together?)"),
        ("7", "starts with a byte-order mark, U+FEFF, as a file does (files joined together?)"),
    ]
    assert imp.rows("SELECT nis, nama FROM kelas ORDER BY nis") == [
        ("001", "Ani"),
        ("002", "Budi"),
        ("003", "Citra"),
    ]


def test_excel_text_formulas_and_formulas_saved_as_such(imp: ImportTarget, tmp_path: Path) -> None:
    # Exports made for Excel write a NISN as ="0012345678" so that Excel keeps its zeros: the
    # NISN column stored the text ="0012345678". A sheet saved with its formulas instead of
    # their values (LibreOffice's option) gave =SUM(C2:C3) as a value.
    imp.execute("CREATE TABLE murid (nisn TEXT PRIMARY KEY, nama TEXT, kelas INTEGER)")
    text = (
        'nisn;nama;kelas\n="0012345678";Ani;="10"\n"=""0012345679""";"=""Bu""""di""";11\n'
        "0012345680;=VLOOKUP(A4,Data!A:B,2);12\n0012345681;Dewi;=SUM(C2:C3)\n"
    )
    req = ImportRequest("murid", file=write_csv(tmp_path / "m.csv", text), max_errors=MaxErrors(2))
    report = import_into(imp, req)
    assert report.committed and (report.inserted, report.rejected) == (2, 2)
    assert imp.rows("SELECT nisn, nama, kelas FROM murid ORDER BY nisn") == [
        ("0012345678", "Ani", 10),
        ("0012345679", 'Bu"di', 11),
    ]
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    formula = "is a formula, not its value (the sheet was saved with its formulas: save the CSV "
    assert got == [
        ("4", "nama", f"'=VLOOKUP(A4,Data!A:B,2)' {formula}with the values)"),
        ("5", "kelas", f"'=SUM(C2:C3)' {formula}with the values)"),
    ]


def test_title_rows_longer_than_a_read_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lines above the header may run over several of the reader's blocks (32 bytes here).
    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", 32)
    title = "".join(f"Keterangan baris ke-{i} dari judul lembar ini;;\n" for i in range(1, 5))
    f = write_csv(tmp_path / "t.csv", title + "nis;nama;kelas\n001;Ani;X\n002;Budi;Y\n")
    src = CsvSource(f, header_line=5)
    assert src.header == ("nis", "nama", "kelas")
    assert [(r.line, r.fields) for r in src.records()] == [
        (6, ("001", "Ani", "X")),
        (7, ("002", "Budi", "Y")),
    ]


def test_two_digit_years_where_python_and_excel_disagree() -> None:
    # A parent's birth date as Excel shows it with a two-digit year, 16-Jul-68: strptime's %y
    # read it as 2068 (its pivot is 69; Excel's and Windows' is 30): stored born in the future.
    step = date_step(["%d-%b-%y"])
    assert [step(v) for v in ("16-Jul-69", "16-Agt-08", "1-Jan-29", "31-Des-99")] == [
        "1969-07-16",
        "2008-08-16",
        "2029-01-01",
        "1999-12-31",
    ]
    for v, year in (("16-Jul-68", 68), ("1-Jan-30", 30)):
        with pytest.raises(StepFailed, match=f"a two-digit year: {year} is 20{year} or 19{year}"):
            step(v)
