"""What a school's files written in the Indonesian locale hold, through the import: Y/T
booleans, numbers with a decimal comma, dots between thousands, a rupiah sign or a percent
sign, dates with month and day names or a two-digit year, and empty cells of columns with a
DEFAULT. Each is read as the mapping says, or refused with the step that reads it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from malnu_tui.engine.data import CsvSource, ImportRequest, InputFileError, MappingError, MaxErrors
from malnu_tui.engine.data.coerce import sheet_date_hint
from malnu_tui.engine.data.dates import date_step
from malnu_tui.engine.data.mapping import parse_mapping
from malnu_tui.engine.data.transform import (
    SIMPLE_STEPS,
    StepFailed,
    bool_step,
    digits_step,
    phone_step,
)
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv
from tests.inproc import run_inproc

DECIMAL = '{ decimal = { decimal_sep = ",", thousands_sep = "." } }'
PERCENT = '{ decimal = { decimal_sep = ",", thousands_sep = ".", percent = "points" } }'
Y_OR_T = (
    "is true (T/F, as PostgreSQL writes it) or tidak (Y/T, as Indonesian forms write it)? "
    'say which with a mapping\'s step { bool = { true = ["y"], false = ["t"] } } or '
    '{ bool = { true = ["t"], false = ["f"] } }'
)


def test_what_an_indonesian_sheet_writes_without_a_step(imp: ImportTarget, tmp_path: Path) -> None:
    # Y/T is the Indonesian form's ya/tidak: "T" was stored as TRUE (t/f, PostgreSQL's), a
    # student not receiving KIP recorded as receiving it. The other values were refused
    # naming no step ("not a number", "(YYYY-MM-DD)", "NULL in a NOT NULL column").
    imp.execute(
        "CREATE TABLE siswa_kip (id INTEGER PRIMARY KEY, kip BOOLEAN, spp NUMERIC(12,2), "
        "hadir INTEGER, lahir DATE, status TEXT NOT NULL DEFAULT 'aktif')"
    )
    text = (
        "id;kip;spp;hadir;lahir;status\n"
        "1;Y;150000;20;2008-07-16;aktif\n"
        "2;T;150000;20;2008-07-16;aktif\n"
        "3;Aktif;150000;20;2008-07-16;aktif\n"
        "4;N;1.234.567,50;20;2008-07-16;aktif\n"
        "5;N;85,5%;20;2008-07-16;aktif\n"
        "6;N;150000;Rp 1.500;2008-07-16;aktif\n"
        "7;N;150000;20;16 Juli 2008;aktif\n"
        "8;N;150000;20;16/07/08;aktif\n"
        "9;N;150000;20;Senin, 16 Juli 2008;aktif\n"
        "10;N;150000;20;45123,5;aktif\n"
        "11;N;150000;20;2008-07-16;\n"
    )
    req = ImportRequest(
        "siswa_kip", file=write_csv(tmp_path / "kip.csv", text), max_errors=MaxErrors(20)
    )
    report = import_into(imp, req)
    assert report.committed and (report.inserted, report.rejected) == (1, 10)
    assert [(i, bool(k)) for i, k in imp.rows("SELECT id, kip FROM siswa_kip")] == [(1, True)]
    got = [(r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    step = "; read it with a mapping's step "
    sheet = "; a number as an Indonesian sheet writes it? read it with a mapping's step "
    hinted = ("spp", "hadir", "lahir")  # the type as each database names it, then the hint
    assert [(c, r.split(" (", 1)[0].lower() if c in hinted else r) for c, r in got] == [
        ("kip", f"'T' {Y_OR_T}"),
        (
            "kip",
            "'Aktif' is not a boolean (true/false, benar/salah, ya/tidak, 1/0): say what it "
            'means, "aktif" in { bool = { true = […], false = […] } } (a mapping\'s step)',
        ),
        ("spp", "'1.234.567,50' is not a number"),
        ("spp", "'85,5%' is not a number"),
        ("hadir", "'rp 1.500' is not a whole number"),
        ("lahir", "invalid date '16 juli 2008' for a date column"),
        ("lahir", "invalid date '16/07/08' for a date column"),
        ("lahir", "invalid date 'senin, 16 juli 2008' for a date column"),
        ("lahir", "invalid date '45123,5' for a date column"),
        (
            "status",
            "NULL in a NOT NULL column (an empty cell takes no DEFAULT: give the value with "
            "the mapping's default = … in [columns.status], or leave the column out)",
        ),
    ]
    ends = [r[r.index("; ") :] for c, r in got if c in hinted]
    assert ends == [
        sheet + DECIMAL,
        sheet + PERCENT + ' (85.5 for 85,5%; "fraction": 0.855)',
        sheet + DECIMAL,
        step + '{ date = ["%d %B %Y"] }',
        step + '{ date = ["%d/%m/%y"] }',
        "; a wrong day name: 2008-07-16 is a Rabu",
        # Noon of that day: the step "excel" it named made a date/time the column refused.
        "; an Excel date serial with a time of day (its fraction): a DATE column keeps none (a "
        "TIMESTAMP does)",
    ]


def test_a_key_with_a_space_around_it_is_refused(imp: ImportTarget, tmp_path: Path) -> None:
    # Next semester's sheet has a trailing space or an NBSP after a NIS (Excel, a value pasted
    # from a web page): --key nis found no such student and added them again, committed.
    imp.execute("CREATE TABLE wali_kelas (nis TEXT PRIMARY KEY, nama TEXT)")
    first = write_csv(tmp_path / "a.csv", "nis;nama\n0051234567;Ani\n0051234568;Budi\n")
    assert import_into(imp, ImportRequest("wali_kelas", file=first, key=("nis",))).inserted == 2
    # A zero-width space or a BOM (pasted from a chat or a web page) is not whitespace to
    # str.strip: it passed the check, and trim kept it.
    again = (
        "nis;nama\n0051234567\xa0;Ani L\n 0051234568;Budi S\n0051234569 ;Citra\n"
        "\u200b0051234570;Dewi\n0051234571\ufeff;Eko\n"
    )
    req = ImportRequest(
        "wali_kelas",
        file=write_csv(tmp_path / "b.csv", again),
        key=("nis",),
        max_errors=MaxErrors(5),
    )
    report = import_into(imp, req)
    assert (report.inserted, report.updated, report.rejected) == (0, 0, 5)
    assert [(r["line"], r["reason"].split(" (")[0]) for r in rejects_of(report.rejects_file)] == [
        ("2", "the key nis '0051234567\\xa0' has a space at its end"),
        ("3", "the key nis ' 0051234568' has a space at its start"),
        ("4", "the key nis '0051234569 ' has a space at its end"),
        ("5", "the key nis '\\u200b0051234570' has an invisible character at its start"),
        ("6", "the key nis '0051234571\\ufeff' has an invisible character at its end"),
    ]
    assert rejects_of(report.rejects_file)[0]["reason"].endswith(
        "at its end (Excel's, an NBSP, a zero-width space): a re-run would not find the row "
        "stored without it and would add it again; read it with a mapping's step trim"
    )
    assert imp.count("wali_kelas") == 2
    # Through a mapping (the values built column by column), the same; with trim, updated.
    mapping = tmp_path / "m.toml"
    for nis_steps, counts in (('["upper"]', (0, 0, 5)), ('["trim"]', (3, 2, 0))):
        mapping.write_text(
            f'[columns.nis]\nfrom = "nis"\napply = {nis_steps}\n'
            '[columns.nama]\nfrom = "nama"\napply = ["trim"]\n'
        )
        report = import_into(imp, replace(req, mapping=mapping))
        assert (report.inserted, report.updated, report.rejected) == counts
    assert imp.rows("SELECT nis, nama FROM wali_kelas ORDER BY nis") == [
        ("0051234567", "Ani L"),
        ("0051234568", "Budi S"),
        ("0051234569", "Citra"),
        ("0051234570", "Dewi"),
        ("0051234571", "Eko"),
    ]


def test_the_steps_read_them_as_the_mapping_says() -> None:
    rules = {
        r.column: r
        for r in parse_mapping(
            '[columns.kip]\nfrom = "KIP"\napply = [{ bool = { true = ["y"], false = ["t"] } }]\n'
            '[columns.aktif]\nfrom = "Status"\n'
            'apply = [{ bool = { true = ["aktif"], false = ["tidak aktif"] } }]\n'
            f'[columns.hadir]\nfrom = "Hadir"\napply = [{PERCENT}]\n'
            '[columns.nilai]\nfrom = "Nilai"\napply = [{ decimal = { decimal_sep = ",", '
            'thousands_sep = ".", percent = "fraction" } }]\n'
            f'[columns.spp]\nfrom = "SPP"\napply = [{DECIMAL}]\n'
            '[columns.lahir]\nfrom = "Lahir"\napply = [{ date = ["excel"] }]\n',
            Path("m.toml"),
        ).rules
    }

    def run(column: str, value: str) -> object:
        v: object = value
        for fn in rules[column].steps:
            v = fn(v)
        return v

    # Y/T said so: T is tidak. Spaces inside a word are one (Excel's NBSP, a double space).
    assert [run("kip", v) for v in ("Y", "T", "t", "y")] == [True, False, False, True]
    assert [run("aktif", v) for v in ("Aktif", "Tidak\xa0Aktif", "tidak  aktif")] == [
        True,
        False,
        False,
    ]
    # The default words: Y, Ya, N, F, Tidak as ever; a lone T is either, so refused.
    default = SIMPLE_STEPS["bool"]
    assert [default(v) for v in ("Y", "Ya", "N", "f", "Tidak", "BENAR")] == [
        True,
        True,
        False,
        False,
        False,
        True,
    ]
    for t in ("T", "t", " T "):
        with pytest.raises(StepFailed, match=r"or tidak \(Y/T"):
            default(t)
    with pytest.raises(StepFailed, match=r'another word: say what it means, "tidak aktif" in'):
        default("Tidak Aktif")
    assert bool_step(["t"], ["f"])("T") is True  # t/f said so
    # A percentage as the mapping says; without percent, refused (85.5 or 0.855?).
    assert [run("hadir", v) for v in ("85,5%", "100 %", "-2,5%", "85,5")] == [
        "85.5",
        "100",
        "-2.5",
        "85.5",
    ]
    assert [run("nilai", v) for v in ("85,5%", "100%", "0,5%", "0,855")] == [
        "0.855",
        "1.00",
        "0.005",
        "0.855",
    ]
    with pytest.raises(StepFailed, match="is a percentage: say which number to store, percent"):
        run("spp", "85,5%")
    with pytest.raises(StepFailed, match="is not a number"):
        run("hadir", "Rp 5%")
    assert run("spp", "Rp 1.500.000") == "1500000"
    # Excel in the Indonesian locale exports a date-time serial with a decimal comma.
    assert run("lahir", "45123,5") == "2023-07-16T12:00:00" == run("lahir", "45123.5")
    assert date_step(["%d %b %Y"])("16 Agu 2008") == "2008-08-16"
    assert rules["hadir"].step_names == ("decimal (1.234,56 → 1234.56, 85,5% → 85.5)",)
    assert rules["nilai"].step_names == ("decimal (1.234,56 → 1234.56, 85,5% → 0.855)",)
    with pytest.raises(MappingError, match=r'm.toml:3: .*percent = "points" or "fraction"'):
        parse_mapping(
            '[columns.a]\nfrom = "x"\napply = [{ decimal = { decimal_sep = ",", '
            'thousands_sep = ".", percent = "persen" } }]\n',
            Path("m.toml"),
        )


def test_a_semicolon_file_whose_values_each_hold_a_comma(tmp_path: Path) -> None:
    # Excel in the Indonesian locale saves with ';'. When every value of a line holds one
    # comma (a grade 85,5; an address "Jl. Mawar, RT 01"), ',' split the lines as evenly, its
    # header line (no comma) taken for a title: the header became the first record's fields.
    grades = "NISN;Nilai\r\n0051234567;85,5\r\n0051234568;90,25\r\n"
    src = CsvSource(write_csv(tmp_path / "nilai.csv", grades))
    assert (src.format.delimiter, src.header) == (";", ("NISN", "Nilai"))
    assert [r.fields for r in src.records()] == [("0051234567", "85,5"), ("0051234568", "90,25")]
    addresses = (
        "Nama;Alamat;HP\nAni;Jl. Mawar, RT 01, RW 02;0812\nBudi;Jl. Melati, RT 02, RW 03;0813\n"
    )
    src = CsvSource(write_csv(tmp_path / "alamat.csv", addresses))
    assert (src.format.delimiter, src.header) == (";", ("Nama", "Alamat", "HP"))
    assert next(iter(src.records())).fields == ("Ani", "Jl. Mawar, RT 01, RW 02", "0812")
    # A title line (with a ';' in it) above a ',' file: still ','.
    titled = "DAFTAR SISWA; KELAS X\nnis,nama\n1,Ani\n2,Budi\n"
    assert CsvSource(write_csv(tmp_path / "t.csv", titled)).format.delimiter == ","


def test_the_mark_an_export_puts_before_an_identifier() -> None:
    # Old school systems write '0051234567 so that Excel keeps the zeros; Excel shows the ' and
    # saves it again. The digits and phone steps refused such a value ("is not 10 digits").
    nisn, hp = digits_step(10), phone_step("national")
    assert nisn("'0051234567") == "0051234567" == nisn(" '0051234567 ")
    assert hp("'0812-3456-7890") == "081234567890" == phone_step("national")("'+62 812 3456 7890")
    for bad in ("''0051234567", "'", "'5.12346E+09"):
        with pytest.raises(StepFailed, match="is not 10 digits"):
            nisn(bad)


def test_a_utf8_file_given_as_cp1252_past_its_first_64_kb(
    imp: ImportTarget, tmp_path: Path
) -> None:
    # An --encoding cp1252 kept from last semester's command, on this semester's file from
    # Google Sheets (UTF-8, no BOM): only the first 64 KB were checked, and a class list sorted
    # by name has its first "José" further down. It was stored as "JosÃ©", committed.
    rows = "".join(f"{i:010d};Siswa Nomor {i} Dengan Nama Panjang\n" for i in range(1, 2500))
    text = "nis;nama\n" + rows + "0000009999;Ani\n0000010000;José Érika\n"
    imp.execute("CREATE TABLE kelas_x (nis TEXT PRIMARY KEY, nama TEXT)")
    utf8 = write_csv(tmp_path / "utf8.csv", text)
    with pytest.raises(InputFileError) as exc:
        import_into(imp, ImportRequest("kelas_x", file=utf8, encoding="cp1252"))
    assert str(exc.value) == (
        f"{utf8}:2502: the file is UTF-8, not cp1252: 'José' would be read as 'JosÃ©'"
    )
    assert exc.value.exit_code == 2 and imp.count("kelas_x") == 0
    # The same names written in cp1252 (the file is what it was said to be) are read so.
    legacy = write_csv(tmp_path / "cp1252.csv", text.replace("Érika", "Érika’s"), encoding="cp1252")
    report = import_into(imp, ImportRequest("kelas_x", file=legacy, encoding="cp1252"))
    assert report.committed and report.inserted == 2501
    assert imp.rows("SELECT nama FROM kelas_x WHERE nis = '0000010000'") == [("José Érika’s",)]


def test_a_time_written_with_dots_names_its_format() -> None:
    # Excel in the Indonesian locale writes times with dots (16/07/2008 07.30): a date/time
    # column refused them saying "(ISO 8601)" alone; the hint named only times with colons.
    hints = [sheet_date_hint(v) for v in ("16/07/2008 07.30", "16.07.2008 07.30.15", "1/7/08 7.30")]
    assert hints == [
        '; read it with a mapping\'s step { date = ["%d/%m/%Y %H.%M"] }',
        '; read it with a mapping\'s step { date = ["%d.%m.%Y %H.%M.%S"] }',
        '; read it with a mapping\'s step { date = ["%d/%m/%y %H.%M"] }',
    ]
    assert date_step(["%d/%m/%Y %H.%M"])("16/07/2008 07.30") == "2008-07-16T07:30:00"
    assert sheet_date_hint("16/07/2008 25.30") == ""  # no format makes it a time


def test_a_databases_own_t_is_still_true(tmp_path: Path) -> None:
    # A legacy Rails application on SQLite stored its booleans as 't'/'f': read from that
    # table (--from), a database's own "t" is true (only a file's text is Y/T or T/F).
    legacy, target = tmp_path / "legacy.db", tmp_path / "sekolah.db"
    for path, rows in ((legacy, "INSERT INTO siswa VALUES (1, 't'), (2, 'f');"), (target, "")):
        conn = sqlite3.connect(path)
        conn.executescript(f"CREATE TABLE siswa (id INTEGER PRIMARY KEY, aktif BOOLEAN);{rows}")
        conn.close()
    res = run_inproc(
        "--database", f"sqlite:///{target}", "import", "--from", f"sqlite:///{legacy}:siswa",
        "--table", "siswa", "--yes", "--no-backup", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.code == 0, res.err
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT id, aktif FROM siswa ORDER BY id").fetchall() == [(1, 1), (2, 0)]
    conn.close()


def test_a_month_name_of_the_other_length_says_which_directive_reads_it() -> None:
    # %B reads Agustus, %b Agu/Agt: "16 Agu 2008" under "%d %B %Y" matched none, naming no
    # reason, and which of the two directives reads which is not for the operator to guess.
    for fmt, value, why in (
        ("%d %B %Y", "16 Agu 2008", "a short month name: %b reads it, not %B"),
        ("%d-%b-%Y", "16-Agustus-2008", "a full month name: %B reads it, not %b"),
    ):
        with pytest.raises(StepFailed) as exc:
            date_step([fmt])(value)
        assert str(exc.value) == f"date: {value!r} matches none of {fmt} ({why})"
    assert date_step(["%d %B %Y", "%d %b %Y"])("16 Agu 2008") == "2008-08-16"
