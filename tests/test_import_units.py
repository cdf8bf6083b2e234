"""The import's pieces without a database: the CSV reader (BOM, sniffed delimiter, quoted
newlines and line numbers, encodings, NULL vs empty), every transform step, the mapping file's
errors with their lines, and --max-errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.data import CsvSource, MappingError, MaxErrors
from malnu_tui.engine.data.dates import date_step
from malnu_tui.engine.data.errors import InputFileError
from malnu_tui.engine.data.mapping import parse_mapping
from malnu_tui.engine.data.transform import SIMPLE_STEPS, StepFailed, ValueMap, bool_step
from malnu_tui.engine.errors import ConfigError
from tests.import_support import write_csv


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_sniffed_and_bom_never_glued(tmp_path: Path, delimiter: str) -> None:
    d = delimiter
    text = f'NIS{d}Nama{d}Kelas\r\n0012345{d}"Siti{d} Nur"{d}X-1\r\n0012346{d}Budi{d}\r\n'
    src = CsvSource(write_csv(tmp_path / "s.csv", text, bom=True))
    assert src.header == ("NIS", "Nama", "Kelas")
    assert src.format.delimiter == d and src.format.bom
    recs = list(src.records())
    assert [r.fields for r in recs] == [
        ("0012345", f"Siti{d} Nur", "X-1"),
        ("0012346", "Budi", None),
    ]


def test_line_numbers_count_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    text = 'a,b\n1,"two\nlines"\n\n2,x\n3,"three\n\nlines"\n4,y\n'
    recs = list(CsvSource(write_csv(tmp_path / "q.csv", text)).records())
    assert [r.line for r in recs] == [2, 5, 6, 9]
    assert recs[0].fields == ("1", "two\nlines") and recs[0].raw == '1,"two\nlines"\n'
    assert recs[2].fields[1] == "three\n\nlines"


def test_empty_unquoted_is_null_and_quoted_empty_is_text(tmp_path: Path) -> None:
    text = 'a,b,c,d\n,"",x,\n"a ""q""",,"",""\n'
    recs = list(CsvSource(write_csv(tmp_path / "n.csv", text)).records())
    assert recs[0].fields == (None, "", "x", None)
    assert recs[1].fields == ('a "q"', None, "", "")


def test_encodings(tmp_path: Path) -> None:
    f = write_csv(
        tmp_path / "w.csv", "nama;kota\nAndré;Tangerang\nJosé;Serang\n", encoding="cp1252"
    )
    with pytest.raises(InputFileError, match=r"w\.csv:2: not valid utf-8") as exc:
        CsvSource(f)
    assert exc.value.hint and "--encoding cp1252" in exc.value.hint
    src = CsvSource(f, encoding="cp1252")
    assert [r.fields[0] for r in src.records()] == ["André", "José"]
    assert src.format.encoding == "cp1252" and src.format.delimiter == ";"
    latin = CsvSource(f, encoding="latin-1")
    assert next(latin.records()).fields[0] == "André"
    with pytest.raises(ConfigError, match="unknown encoding"):
        CsvSource(f, encoding="klingon")
    # A BOM stays out of the header even when another encoding is asked for.
    bom = write_csv(tmp_path / "b.csv", "id,x\n1,2\n", bom=True)
    assert CsvSource(bom, encoding="cp1252").header == ("id", "x")


def test_malformed_and_too_wide_records_are_records_with_an_error(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "m.csv", 'a,b\n1,"x"y\n2,3\n')
    recs = list(CsvSource(f).records())
    assert recs[0].error.startswith("malformed CSV") and recs[0].line == 2
    assert recs[1].fields == ("2", "3") and recs[1].line == 3
    with pytest.raises(InputFileError, match="empty file"):
        CsvSource(write_csv(tmp_path / "e.csv", ""))


def test_every_step() -> None:
    s = SIMPLE_STEPS
    assert s["trim"]("  Siti  ") == "Siti"
    assert s["lower"]("Siti@MALNU.sch.id") == "siti@malnu.sch.id"
    assert s["upper"]("x-ipa") == "X-IPA"
    assert s["title"]("nur 'aini o'neil SITI") == "Nur 'Aini O'neil Siti"
    assert s["collapse_spaces"]("Putri   Ayu\n Kusuma") == "Putri Ayu Kusuma"
    assert s["null_if_empty"]("  ") is None and s["null_if_empty"]("x") == "x"
    assert s["int"](" 007 ") == 7
    with pytest.raises(StepFailed, match="not a whole number"):
        s["int"]("7a")
    assert s["bool"]("Ya") is True and s["bool"]("tidak") is False
    with pytest.raises(StepFailed):
        s["bool"]("mungkin")
    custom = bool_step(["Aktif"], ["Keluar"])
    assert custom("aktif") is True and custom("KELUAR") is False
    d = date_step(["%d/%m/%Y %H:%M", "%Y-%m-%d"])
    assert d("15/07/2024 07:30") == "2024-07-15T07:30:00"
    assert date_step(["%d/%m/%Y"])("03/05/2008") == "2008-05-03"
    with pytest.raises(StepFailed, match="matches none"):
        d("31/02/2024 08:00")
    for step in s.values():
        assert step(None) is None  # NULL passes through
    roles = ValueMap({"S": "student"})
    assert roles("S") == "student"
    with pytest.raises(StepFailed, match="'X' is not mapped"):
        roles("X")
    with pytest.raises(StepFailed, match="empty value"):
        roles(None)
    assert ValueMap({"S": "student"}, "student", True)("X") == "student"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[columns.a]\nfrom = "x"\napply = ["trim", "nope"]\n', 3, "unknown step 'nope'"),
        ('[columns.a]\nfrom = "x"\n\n[columns.b]\nform = "y"\n', 5, "unknown key 'form'"),
        ('[columns.a]\nfrom = "x"\nconst = 1\n', 1, "exactly one of from, const, now"),
        ('[columns.a]\nfrom = "x"\napply = ["date"]\n', 3, "date needs its input formats"),
        ('[columns.a]\nfrom = "x"\napply = [{ date = "dd/mm" }]\n', 3, "strptime formats"),
        ('[columns.a]\nfrom = "x"\nmap = "S"\n', 3, "map must be a table"),
        ("[columns.a]\nfrom = \n", 2, "not valid TOML"),
        ('[tables.a]\nfrom = "x"\n', 1, "unknown key 'tables'"),
        ("[columns.a]\nnow = false\n", 2, "now must be true"),
        ('[columns.a]\nfrom = "x"\napply = ["decimal"]\n', 3, "decimal needs its separators"),
        (
            '[columns.a]\nfrom = "x"\napply = [{ decimal = { decimal_sep = "," } }]\n',
            3,
            "decimal needs its separators",
        ),
        (
            '[columns.a]\nfrom = "x"\n'
            'apply = [{ decimal = { decimal_sep = ",", thousands_sep = "," } }]\n',
            3,
            "must differ",
        ),
        ('[columns.a]\nfrom = "x"\napply = [{ phone = "intl" }]\n', 3, "phone needs the form"),
    ],
)
def test_mapping_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(MappingError, match=message) as exc:
        parse_mapping(text, Path("m.toml"))
    assert exc.value.line == line and str(exc.value).startswith(f"m.toml:{line}: ")
    assert exc.value.exit_code == 2


def test_max_errors() -> None:
    assert MaxErrors.parse("0").allows(0, 10) and not MaxErrors.parse("0").allows(1, 10)
    assert MaxErrors.parse("3").allows(3, 10) and not MaxErrors.parse("3").allows(4, 10)
    assert MaxErrors.parse("10%").allows(10, 100) and not MaxErrors.parse("10%").allows(11, 100)
    for bad in ("-1", "x", "150%", ""):
        with pytest.raises(ConfigError):
            MaxErrors.parse(bad)


def test_raw_text_and_lines_across_read_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny blocks: records (some spanning several lines, one longer than a block) cross them.
    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", 16)
    records = [
        "1,plain",
        '2,"two\nlines"',
        '3,"' + "panjang sekali\n" * 20 + '"',
        "4,after",
        '5,"x\r\ny"',
    ]
    f = write_csv(tmp_path / "b.csv", "id,text\n" + "\n".join(records) + "\n")
    got = list(CsvSource(f).records())
    assert [r.raw.rstrip("\n") for r in got] == records
    assert [r.line for r in got] == [2, 3, 5, 26, 27]
    assert got[2].fields[1] == "panjang sekali\n" * 20


@pytest.mark.parametrize("block", [16, 64, 1 << 20])
def test_reader_matches_the_csv_module_on_random_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Blocks without quotes are split in C, others go through the csv module: the records,
    their lines and raw text must be exactly what the csv module alone gives."""
    import csv
    import random

    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", block)
    rnd = random.Random(block)
    for case in range(20):
        quotes = case % 2 == 0
        rows = ["a;b;c"]
        for _ in range(rnd.randint(1, 40)):
            kind = rnd.random()
            if kind < 0.1:
                rows.append("")  # a blank line
            elif quotes and kind < 0.3:
                rows.append(f'{rnd.randint(0, 9)};"x;\n{"y" * rnd.randint(0, 30)}";')
            else:
                rows.append(";".join(rnd.choice(["", "Siti", "0012", " spasi "]) for _ in "abc"))
        text = "\n".join(rows) + ("\n" if case % 3 else "")
        if case % 4 == 1:
            text = text.replace("\n", "\r\n")  # Windows line ends
        f = write_csv(tmp_path / f"r{case}.csv", text)
        want = []
        reader = csv.reader(text.splitlines(keepends=True), delimiter=";", strict=True)
        consumed = 0
        lines = text.splitlines(keepends=True)
        for fields in reader:
            first, consumed = consumed, reader.line_num
            if any(fields):  # a blank line, or delimiters only (Excel's empty row): no record
                want.append(
                    (first + 1, [x if x else None for x in fields], "".join(lines[first:consumed]))
                )
        got = [
            (r.line, [x if x else None for x in r.fields], r.raw)
            for r in CsvSource(f, delimiter=";").records()
        ]
        assert got == want[1:], (case, text)


def test_old_mac_line_ends_are_lines_too(tmp_path: Path) -> None:
    f = tmp_path / "cr.csv"
    f.write_bytes(b'id;name\r1;Siti\r2;"Budi\rX"\r3;\r')
    src = CsvSource(f)
    assert src.format.delimiter == ";" and src.header == ("id", "name")
    got = [(r.line, r.fields) for r in src.records()]
    assert got == [(2, ("1", "Siti")), (3, ("2", "Budi\rX")), (5, ("3", None))]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_clean_blocks_are_split_in_one_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: str
) -> None:
    """Blocks of complete records of the header's width without empty fields become FlatRows
    (one flat list of values); a block with anything else is read record by record. Both give
    the same records, lines and raw text."""
    from malnu_tui.engine.data.flatblock import FlatRows

    monkeypatch.setattr("malnu_tui.engine.data.csvsource.BLOCK_BYTES", 80)
    lines = ["id;name;kelas"] + [f"{i};Siti {i};X-{i % 3}" for i in range(1, 30)]
    lines[12] = "12;too;many;fields"  # its block is read record by record
    lines[20] = "20;;X-2"  # an empty field: NULL
    text = newline.join(lines)  # no line end after the last record
    f = write_csv(tmp_path / "c.csv", text)
    source = CsvSource(f)
    chunks = list(source.chunks(4))
    assert any(isinstance(c.fields, FlatRows) for c in chunks)
    assert not all(isinstance(c.fields, FlatRows) for c in chunks)
    got = [r for c in chunks for r in c.records()]
    assert [r.line for r in got] == list(range(2, 31))
    assert [r.raw for r in got] == [ln + newline for ln in lines[1:-1]] + [lines[-1]]
    assert got[11].fields == ("12", "too", "many", "fields")
    assert got[19].fields == ("20", None, "X-2")
    assert got[0].fields == ("1", "Siti 1", "X-1") and got[-1].fields == ("29", "Siti 29", "X-2")
    flat = max((c.fields for c in chunks if isinstance(c.fields, FlatRows)), key=len)
    assert len(flat) >= 2
    assert list(flat[0:2]) == [flat[0], flat[1]] and flat[-1] == list(flat)[-1]
    assert flat.column(1) == [row[1] for row in flat]


def test_the_files_sha256_comes_with_a_full_read(tmp_path: Path) -> None:
    import hashlib

    f = write_csv(tmp_path / "s.csv", 'id;nama\r\n1;Siti\r\n2;"Budi\r\nS"\r\n3;Érika', bom=True)
    source = CsvSource(f)
    assert source.digest is None
    assert len(list(source.records())) == 3
    assert source.digest == hashlib.sha256(f.read_bytes()).hexdigest()


def test_excel_date_serials_count_as_excel_does() -> None:
    # Excel's 1900 system counts 29 February 1900 (serial 60), a day that never was.
    excel = date_step(["excel"])
    assert [excel(v) for v in ("1", "59", "61", "45123", "2958465")] == [
        "1900-01-01",
        "1900-02-28",
        "1900-03-01",
        "2023-07-16",
        "9999-12-31",
    ]
    assert excel("45123.75") == "2023-07-16T18:00:00"
    for bad in ("60", "0", "2958466", "-5", "45.123,5"):
        with pytest.raises(StepFailed):
            excel(bad)
    assert date_step(["excel1904"])("0") == "1904-01-01"
    assert date_step(["excel1904"])("43661") == "2023-07-16"
