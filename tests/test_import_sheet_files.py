"""Files as a school's staff really produce them (Excel in the Indonesian locale, Dapodik),
written by the test and imported for real: each read as the file means it, or refused in one
line naming the file, the line and the value, never stored as a wrong value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from malnu_tui.engine.data import ImportRequest, InputFileError, MaxErrors, SchemaMismatch
from tests.fixtures_matrix import DbTarget
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportTarget]:
    """One SQLite database for the module: ``siswa`` of the types a grade sheet fills."""
    root = tmp_path_factory.mktemp("sheets")
    t = ImportTarget("sqlite", f"sqlite:///{root / 'school.db'}", root)
    t.execute(
        "CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT NOT NULL, nisn TEXT, "
        "lahir DATE, nilai REAL, spp NUMERIC(12,2))"
    )
    yield t


def test_a_file_cut_short_in_the_middle_of_a_character(school: ImportTarget) -> None:
    # A copy or a download that stopped part way ends in the middle of a character: it was
    # "not valid utf-8" naming no line and giving no reason (for UTF-16, Excel's Unicode
    # Text cut at an odd byte, the same). Now its last line, and what happened to the file.
    text = "nis;nama\r\n1;Ani\r\n2;José"
    cut = {
        "cut.csv": text.encode()[:-1],
        "cut.txt": text.replace(";", "\t").encode("utf-16")[:-1],
    }
    for name, data in cut.items():
        path = school.root / name
        path.write_bytes(data)
        with pytest.raises(InputFileError) as err:
            import_into(school, ImportRequest("siswa", file=path))
        assert str(err.value).startswith(f"{path}:3: the file ends in the middle of a character")
        assert "cut short" in str(err.value) and err.value.exit_code == 2
        assert school.count("siswa") == 0


def test_a_file_whose_end_was_filled_with_zeros(school: ImportTarget) -> None:
    # A card pulled out before its data was written keeps the file's size, its end zeros:
    # the record of NUL bytes was "a NUL byte in 'nis': not text (a binary file …?)".
    path = school.root / "nol.csv"
    path.write_bytes(b"nis;nama\r\n1;Ani\r\n2;Budi\r\n" + bytes(4096))
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path))
    assert not report.committed and school.count("siswa") == 0
    assert [(r.line, r.reason) for r in report.first_rejects] == [
        (
            4,
            "4,096 NUL bytes (0x00) and nothing else: the file's end is lost (a copy cut short, "
            "filled with zeros?): copy or download the file again",
        )
    ]


def test_encoding_utf16_on_a_file_without_its_bom(school: ImportTarget) -> None:
    # --encoding utf-16 on Unicode Text saved without its BOM (by a tool, not by Excel) was
    # "UTF-16 stream does not start with BOM", with no way out; on a UTF-8 file the same.
    text = "nis\tnama\r\n1\tAni\r\n"
    for name, data, hint in (
        ("le.txt", text.encode("utf-16-le"), "UTF-16 without its BOM: pass --encoding utf-16-le"),
        ("be.txt", text.encode("utf-16-be"), "UTF-16 without its BOM: pass --encoding utf-16-be"),
        ("u8.txt", text.encode(), "the file is not UTF-16 text: leave --encoding out"),
    ):
        path = school.root / name
        path.write_bytes(data)
        with pytest.raises(InputFileError) as err:
            import_into(school, ImportRequest("siswa", file=path, encoding="utf-16"))
        assert err.value.hint == hint and str(err.value).startswith(f"{path}:1: not valid")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_mark_that_keeps_a_number_as_text_in_excel(
    kind: str, fresh_db: Callable[[str], DbTarget], tmp_path: Path
) -> None:
    # Old school systems write '0051234567 so that Excel keeps the zeros; Excel keeps the '
    # as part of a CSV file's cell and saves it again. A TEXT column stored the NISN
    # "'0051234567" (on PostgreSQL the file's own bytes went to COPY so), matching no other
    # system's; a number column refused it as "not a number". Now refused naming the mark
    # and the step that reads it; a name with an apostrophe ('Ainun, Jum'at) is text, and
    # the step leaves it so. In a varchar(10) it was "11 characters", naming no mark.
    db = ImportTarget(kind, fresh_db(kind).url, tmp_path)
    db.execute(
        "CREATE TABLE murid (nis TEXT PRIMARY KEY, nama TEXT, nisn varchar(10), kelas INTEGER)"
    )
    text = (
        "nis;nama;nisn;kelas\n"
        "1;Ani;'0051234567;10\n"
        "2;'Ainun;0051234568;10\n"
        "3;Jum'at;0051234569;10\n"
        "4;Budi; '0051234570;10\n"
    )
    mark = "starts with ', the mark an export puts before a number or a date so that Excel keeps"
    # The first file's block is clean but for the marks (PostgreSQL's COPY took its bytes).
    for body, rejected in (
        (text, [("2", "nisn"), ("5", "nisn")]),
        (text.replace("69;10", "69;'10"), [("2", "nisn"), ("4", "kelas"), ("5", "nisn")]),
    ):
        db.execute("DELETE FROM murid")
        path = write_csv(tmp_path / "murid.csv", body)
        report = import_into(db, ImportRequest("murid", file=path, max_errors=MaxErrors(3)))
        got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
        assert [g[:2] for g in got] == rejected
        assert all(mark in g[2] and "step strip_apostrophe" in g[2] for g in got)
        assert db.count("murid") == 4 - len(rejected)
    mapping = tmp_path / "murid.toml"
    mapping.write_text(
        "".join(
            f'[columns.{c}]\nfrom = "{c}"\napply = ["strip_apostrophe"]\n'
            for c in ("nis", "nama", "nisn", "kelas")
        )
    )
    db.execute("DELETE FROM murid")
    report = import_into(db, ImportRequest("murid", file=path, mapping=mapping))
    assert report.committed and report.inserted == 4
    assert db.rows("SELECT nis, nama, nisn, kelas FROM murid ORDER BY nis") == [
        ("1", "Ani", "0051234567", 10),
        ("2", "'Ainun", "0051234568", 10),
        ("3", "Jum'at", "0051234569", 10),
        ("4", "Budi", "0051234570", 10),
    ]


def test_the_mark_before_a_date(school: ImportTarget) -> None:
    # '14/05/2008 was "invalid date" naming no step (as a date cell it keeps its mark too).
    path = write_csv(school.root / "tanda.csv", "nis;nama;lahir\n1;Ani;'14/05/2008\n")
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path, max_errors=MaxErrors(1)))
    assert "the mark an export puts before a number or a date" in report.first_rejects[0].reason
    mapping = school.root / "tanda.toml"
    mapping.write_text(
        '[columns.nis]\nfrom = "nis"\n[columns.nama]\nfrom = "nama"\n[columns.lahir]\n'
        'from = "lahir"\napply = ["strip_apostrophe", { date = ["%d/%m/%Y"] }]\n'
    )
    assert import_into(school, ImportRequest("siswa", file=path, mapping=mapping)).committed
    assert school.rows("SELECT lahir FROM siswa") == [("2008-05-14",)]


def test_a_date_cell_with_a_date_time_format_into_a_date_column(school: ImportTarget) -> None:
    # A date cell formatted as date and time writes every date at midnight (14/05/2008 0:00,
    # 0.00 in the Indonesian locale; a database's DATETIME 2008-05-14 00:00:00). The DATE
    # column's refusal named the step { date = ["%d/%m/%Y %H:%M"] }, which made a date/time
    # the column refused again. Now it names the format that reads the date alone, and says
    # that another time of day would be lost.
    text = (
        "nis;nama;lahir\n1;Ani;14/05/2008 0:00\n2;Budi;15/05/2008 0.00\n"
        "3;Citra;2008-05-16 00:00:00\n4;Dewi;17/05/2008 07:30\n5;Eka;39585,5\n"
    )
    path = write_csv(school.root / "lahir.csv", text)
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path, max_errors=MaxErrors(5)))
    reasons = [r["reason"] for r in rejects_of(report.rejects_file)]
    assert reasons[3].endswith("a '07:30' time of day: a DATE column keeps none (a TIMESTAMP does)")
    # An Excel serial with a fraction is a time too: the hint was the step "excel".
    assert reasons[4].endswith(
        "an Excel date serial with a time of day (its fraction): a DATE column keeps none (a "
        "TIMESTAMP does)"
    )
    formats = [r.partition("{ date = ")[2].removesuffix(" }") for r in reasons[:3]]
    assert formats == ['["%d/%m/%Y 0:00"]', '["%d/%m/%Y 0.00"]', '["%Y-%m-%d 00:00:00"]']
    mapping = school.root / "lahir.toml"
    step = "{ date = [" + ", ".join(f[1:-1] for f in formats) + "] }"
    mapping.write_text(
        '[columns.nis]\nfrom = "nis"\n[columns.nama]\nfrom = "nama"\n'
        f'[columns.lahir]\nfrom = "lahir"\napply = [{step}]\n'
    )
    report = import_into(
        school, ImportRequest("siswa", file=path, mapping=mapping, max_errors=MaxErrors(2))
    )
    assert report.committed and report.rejected == 2
    assert school.rows("SELECT nis, lahir FROM siswa ORDER BY nis") == [
        ("1", "2008-05-14"),
        ("2", "2008-05-15"),
        ("3", "2008-05-16"),
    ]


def test_a_header_with_a_no_break_space_names_it(school: ImportTarget) -> None:
    # A header pasted from a web page (Dapodik's) holds NBSPs, which Excel shows as spaces:
    # the mapping's from = "Nama Lengkap" was "not in the header (the header has
    # 'Nama\xa0Lengkap': names must match exactly)", a difference no one could see or type.
    # Now the character is named, with the from that reads it.
    text = 'No.\xa0Induk;Nama\u200bLengkap;"Tgl\nLahir"\n7;Eka;2008-05-14\n'
    path = write_csv(school.root / "dapodik.csv", text)
    mapping = school.root / "dapodik.toml"
    school.execute("DELETE FROM siswa")
    written = {}
    for name, source in (("nis", "No. Induk"), ("nama", "NamaLengkap"), ("lahir", "Tgl Lahir")):
        written[name] = f'[columns.{name}]\nfrom = "{source}"\n'
    mapping.write_text("".join(written.values()))
    with pytest.raises(SchemaMismatch) as err:
        import_into(school, ImportRequest("siswa", file=path, mapping=mapping))
    problems = err.value.problems
    assert problems[0].endswith(
        "the header's holds NO-BREAK SPACE (U+00A0), which looks like a space: a mapping reads "
        'it with from = "No.\\u00a0Induk")'
    )
    assert "ZERO WIDTH SPACE (U+200B), which shows as nothing" in problems[1]
    # A header cell on two lines (Alt+Enter) said it too, naming no line break.
    assert problems[2].endswith(
        "a line break (Alt+Enter), which the sheet shows as a new line in the cell: a mapping "
        'reads it with from = "Tgl\\nLahir")'
    )
    spelled = [p.rpartition("from = ")[2].removesuffix(")") for p in problems]
    lines = [f"[columns.{n}]\nfrom = {s}\n" for n, s in zip(written, spelled, strict=True)]
    mapping.write_text("".join(lines))
    report = import_into(school, ImportRequest("siswa", file=path, mapping=mapping))
    assert report.committed
    assert school.rows("SELECT nis, nama, lahir FROM siswa") == [("7", "Eka", "2008-05-14")]


def test_utf8_text_excel_read_as_cp1252_and_saved_again(school: ImportTarget) -> None:
    # A UTF-8 export without a BOM, opened in Excel (which reads it as cp1252) and saved as
    # "CSV UTF-8": José is "JosÃ©", “Ani” is "â€œAniâ€\x9d", an Arabic name "Ù…Ø­Ù…Ø¯". Read as
    # the UTF-8 it now is, it was stored so, committed. Now a rejected row naming what the
    # text was; the step undo_cp1252 reads it back; names with their own é, ’ or … are text.
    spoil = {"José": "", "“Ani”": "", "محمد": ""}
    for name in spoil:
        raw = name.encode()
        spoil[name] = "".join(
            chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
            for b in raw
        )
    assert spoil["José"] == "JosÃ©"
    rows = [*spoil.values(), "Ni Luh Putu Érika", "Jum’at", "Café…"]
    text = "nis;nama\n" + "".join(f"{i};{n}\n" for i, n in enumerate(rows, 1))
    path = write_csv(school.root / "excel_lagi.csv", text)
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path, max_errors=MaxErrors(3)))
    got = [(r["line"], r["column"], r["reason"]) for r in rejects_of(report.rejects_file)]
    assert [g[:2] for g in got] == [("2", "nama"), ("3", "nama"), ("4", "nama")]
    assert got[0][2] == (
        "'JosÃ©' holds 'Ã©', which is 'é' read as cp1252 and saved again (the file, UTF-8 "
        "without a BOM, was opened in Excel and saved): import the file as it was exported, "
        "or read the column with a mapping's step undo_cp1252"
    )
    assert school.rows("SELECT nama FROM siswa ORDER BY nis") == [(n,) for n in rows[3:]]
    mapping = school.root / "excel_lagi.toml"
    mapping.write_text(
        '[columns.nis]\nfrom = "nis"\n[columns.nama]\nfrom = "nama"\napply = ["undo_cp1252"]\n'
    )
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path, mapping=mapping))
    assert report.committed
    assert school.rows("SELECT nama FROM siswa ORDER BY nis") == [
        ("José",),
        ("“Ani”",),
        ("محمد",),
        *[(n,) for n in rows[3:]],
    ]


def test_a_fee_sheet_in_excels_accounting_format(school: ImportTarget) -> None:
    # A treasurer's SPP sheet in Excel's Accounting format shows zero (a scholarship
    # student's fee) as "Rp -", padded, and the CSV file holds that: it was "not a number"
    # (the decimal step's too), naming nothing that reads it. Now the refusal says what it
    # is, and the decimal step's accounting = true reads it as 0 ((Rp 5.000) as -5000). The
    # Accounting format itself writes a negative number with the sign at the cell's left edge,
    # outside the parentheses: "Rp (2.500)" (padded), which accounting = true refused.
    text = (
        "nis;nama;spp\n1;Ani;Rp 150.000\n2;Budi; Rp            -   \n3;Citra;(Rp 5.000)\n"
        "4;Dewi; Rp        (2.500) \n"
    )
    path = write_csv(school.root / "spp.csv", text)
    school.execute("DELETE FROM siswa")
    report = import_into(school, ImportRequest("siswa", file=path, max_errors=MaxErrors(4)))
    reasons = [r["reason"] for r in rejects_of(report.rejects_file)]
    for at, what in ((1, "zero"), (2, "a negative number"), (3, "a negative number")):
        assert reasons[at].endswith(
            f"{what} as Excel's Accounting format shows it? read it with a mapping's step "
            '{ decimal = { decimal_sep = ",", thousands_sep = ".", accounting = true } }'
        )
    mapping = school.root / "spp.toml"
    step = '{ decimal = { decimal_sep = ",", thousands_sep = "."%s } }'
    for accounting in ("", ", accounting = true"):
        mapping.write_text(
            '[columns.nis]\nfrom = "nis"\n[columns.nama]\nfrom = "nama"\n'
            f'[columns.spp]\nfrom = "spp"\napply = [{step % accounting}]\n'
        )
        school.execute("DELETE FROM siswa")
        req = ImportRequest("siswa", file=path, mapping=mapping, max_errors=MaxErrors(3))
        report = import_into(school, req)
        assert report.committed
        got = [r["reason"] for r in rejects_of(report.rejects_file)] if report.rejected else []
        if not accounting:
            assert [g.partition("' is ")[2][:40] for g in got] == [
                "zero as Excel's Accounting format shows ",
                "a negative number as Excel's Accounting ",
                "a negative number as Excel's Accounting ",
            ]
    assert school.rows("SELECT nis, CAST(spp AS TEXT) FROM siswa ORDER BY nis") == [
        ("1", "150000"),
        ("2", "0"),
        ("3", "-5000"),
        ("4", "-2500"),
    ]


def test_a_header_line_given_one_row_short_names_the_right_one(school: ImportTarget) -> None:
    # Dapodik's header is two rows; --header-line 5 (its top row, as the sheet shows it) or a
    # line of the title above was "not in the header" with nothing more: the search for the
    # header below ran only without --header-line.
    text = (
        "DAFTAR PESERTA DIDIK;;\nSMA NEGERI 1 PANDEGLANG;;\nNo;NIPD;Data Ayah\n;;Nama\n"
        "1;0051;Budi\n"
    )
    path = write_csv(school.root / "dapodik2.csv", text)
    mapping = school.root / "dapodik2.toml"
    mapping.write_text('[columns.nis]\nfrom = "NIPD"\n[columns.nama]\nfrom = "Data Ayah / Nama"\n')
    for line, told in ((3, "pass --header-line 3-4"), (2, "pass --header-line 3-4")):
        req = ImportRequest("siswa", file=path, mapping=mapping, header_line=line)
        with pytest.raises(SchemaMismatch) as err:
            import_into(school, req)
        assert err.value.problems[-1].endswith(
            f"look like a header of two rows (merged cells over the names): {told}"
        )
    title = write_csv(
        school.root / "judul.csv", "DAFTAR SISWA KELAS X;\nTAHUN 2024;\nnis;nama\n1;Ani\n"
    )
    with pytest.raises(SchemaMismatch) as err:
        import_into(school, ImportRequest("siswa", file=title, header_line=2))
    assert err.value.problems[-1].endswith("with a title above it: pass --header-line 3")
