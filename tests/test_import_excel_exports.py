"""What Indonesian schools' spreadsheet exports (Dapodik/EMIS sheets saved from Excel, Google
Sheets and LibreOffice CSV downloads) hold in place of values, through the real import on every
backend: each such cell is a rejected row with its line and reason, never a value stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from malnu_tui.engine.data import ImportRequest, MaxErrors, open_csv, preview_import
from malnu_tui.engine.data.mapping import parse_mapping
from malnu_tui.engine.data.transform import StepFailed, date_step, decimal_step, phone_step
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv

SCIENTIFIC = "is a number the spreadsheet wrote in scientific notation: its digits are lost"
ERROR_VALUE = "is a spreadsheet's error value"


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
    )
    req = ImportRequest(
        "siswa", file=write_csv(tmp_path / "siswa.csv", text), max_errors=MaxErrors(10)
    )
    report = import_into(imp, req)
    assert report.committed and (report.read, report.inserted, report.rejected) == (7, 2, 5)
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
    backend = imp.open()
    try:
        problems = preview_import(backend, req, open_csv(req)).problems
    finally:
        backend.close()
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
