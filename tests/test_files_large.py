"""Large migration files (a legacy seed of hundreds of MB). Discovery of a file larger than
the text it keeps: checksum, header, blank and bad-UTF-8 checks read the file in blocks, the
same answers as reading it whole. `plan` makes no unified diff it does not show; `plan`
summarises a seed's statements past a number, `diff` is built statement by statement."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tracemalloc
from pathlib import Path

import pytest

from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.files import (
    KEEP_TEXT_BYTES,
    checkout_checksums,
    checksum_bytes,
    discover,
)
from malnu_tui.engine.filestream import BLOCK, checkout_checksums_of
from malnu_tui.engine.plan_diff import translate_plan, unified_diff
from malnu_tui.engine.textdiff import PIECE_LINES, WHOLE_FILE_LINES, pieces
from tests.fixtures_core import MigrationDirs, run_cli

_ROW = b"INSERT INTO s (id, note) VALUES (1, 'a; b');\r\n"


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    mig, rb = tmp_path / "migrations", tmp_path / "rollback"
    mig.mkdir()
    rb.mkdir()
    return mig, rb


def _big(at_boundary: int) -> bytes:
    """A CRLF file with a BOM, larger than KEEP_TEXT_BYTES, one of whose CR LF pairs is split
    between two of discovery's blocks at ``at_boundary``."""
    head = b"\xef\xbb\xbf-- Description: legacy seed\r\n-- Author: tu\r\n"
    rows = _ROW * ((at_boundary + 3 * BLOCK) // len(_ROW))
    pad = (at_boundary - 1 - len(head) - 4 - (len(_ROW) - 2)) % len(_ROW)
    data = head + b"--" + b"x" * pad + b"\r\n" + rows
    assert data[at_boundary - 1 : at_boundary + 1] == b"\r\n"
    return data


# The first block is what was read past KEEP_TEXT_BYTES in 64 KiB reads; later ones are BLOCK.
_FIRST = (KEEP_TEXT_BYTES // 65536 + 1) * 65536


@pytest.mark.parametrize("boundary", [_FIRST, _FIRST + BLOCK])
def test_large_file_checksum_and_header_as_read_whole(tmp_path: Path, boundary: int) -> None:
    mig, rb = _dirs(tmp_path)
    data = _big(boundary)
    (mig / "20250101_000000_seed.sql").write_bytes(data)
    m = discover(mig, rb).migrations[0]
    assert m.text is None  # not kept: read again when its statements are needed
    assert m.checksum == checksum_bytes(data)
    assert (m.description, m.author) == ("legacy seed", "tu")
    assert m.same_content(checksum_bytes(data))
    assert len(m.statements()) == data.count(b"INSERT")


def test_large_file_bad_utf8_and_blank_name_the_file(tmp_path: Path) -> None:
    mig, rb = _dirs(tmp_path)
    f = mig / "20250101_000000_seed.sql"
    rows = _ROW * (3 * KEEP_TEXT_BYTES // len(_ROW))
    f.write_bytes(rows + b"INSERT INTO s VALUES ('\xff');\n")
    with pytest.raises(MigrationFileError) as err:
        discover(mig, rb)
    assert "not UTF-8 (byte 0xff)" in str(err.value)
    assert err.value.line == rows.count(b"\n") + 1
    f.write_bytes(b" \n\t" * KEEP_TEXT_BYTES)
    with pytest.raises(MigrationFileError, match="the file is empty"):
        discover(mig, rb)


def test_discovery_reads_a_large_file_in_blocks(tmp_path: Path) -> None:
    """status/verify discover the set: a 16 MB file is not held whole (as bytes, as text,
    nor split into lines for its header)."""
    mig, rb = _dirs(tmp_path)
    size = 16 * 1024 * 1024
    (mig / "20250101_000000_seed.sql").write_bytes(
        b"-- Description: x\n" + _ROW * (size // len(_ROW))
    )
    tracemalloc.start()
    try:
        discover(mig, rb)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size // 4  # read whole: over 2 * size


def test_plan_makes_the_diff_only_when_asked(tmp_path: Path) -> None:
    """difflib's time grows with the square of the changed lines: `plan` of a 2 MB seed of
    INSERTs spent 36 of its 54 s on a diff it never prints. It is made when `diff` or
    `--json` asks, the same diff as before."""
    mig, rb = _dirs(tmp_path)
    (mig / "20250101_000000_t.sql").write_text("CREATE TABLE s (id INTEGER, note TEXT);\n")
    (mig / "20250102_000000_seed.sql").write_text("INSERT INTO s VALUES (1, 'a; b');\n" * 50)
    plan = translate_plan(discover(mig, rb).migrations)
    assert all("diff" not in vars(t) for t in plan)  # nothing made yet
    t = plan[0]
    assert t.diff == unified_diff(t.sqlite_source, t.postgres_sql, t.filename)
    assert t.diff.startswith("--- 20250101_000000_t.sql (SQLite)")
    assert list(t.as_json())[:6] == [
        "filename",
        "version",
        "sqlite_source",
        "postgres_sql",
        "diff",
        "statements",
    ]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_other_runners_checksum_of_a_large_file_read_in_blocks(tmp_path: Path, bom: bytes) -> None:
    """A tracking row of another runner (the raw file's hash, a Windows checkout) is matched
    against each form a checkout may take without holding the file (five copies) in memory;
    the same forms as checkout_checksums of the whole file."""
    mig, rb = _dirs(tmp_path)
    # A CR LF pair split between the first two blocks (BLOCK bytes each here), BOM or not.
    data = bom + _big(BLOCK + 3 - len(bom))[3:] + _ROW * (12 * 1024 * 1024 // len(_ROW))
    assert data[BLOCK - 1 : BLOCK + 1] == b"\r\n"
    size = len(data)
    f = mig / "20250101_000000_seed.sql"
    f.write_bytes(data)
    assert checkout_checksums_of(str(f)) == checkout_checksums(data)
    m = discover(mig, rb).migrations[0]
    raw = hashlib.sha256(data).hexdigest()
    tracemalloc.start()
    try:
        same = m.same_content(raw)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert same and not m.same_content(hashlib.sha256(data + b"x").hexdigest())
    assert peak < size // 4  # read whole: over 5 * size


def _seed(rows: int, odd: str = "") -> str:
    """A seed of INSERTs, one in three with backticks (translated), the rest unchanged: the
    scattered changes that made difflib's whole-file diff take 87 s for 2 MB."""
    head = "CREATE TABLE s (id INTEGER, note TEXT);\n"
    out = [head]
    for i in range(1, rows + 1):
        table = "`s`" if i % 3 == 0 else "s"
        out.append(f"INSERT INTO {table} (id, note) VALUES ({i}, 'row {i}');\n")
        if i == rows // 2 and odd:
            out.append(odd)
    return "".join(out)


def _apply(diff: str, before: str) -> str:
    """The text a unified diff turns ``before`` into (checks every hunk's context)."""
    old = before.splitlines(keepends=True)
    new: list[str] = []
    at = 0
    lines = diff.splitlines(keepends=True)[2:]
    k = 0
    while k < len(lines):
        m = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", lines[k])
        assert m, lines[k]
        start = int(m.group(1)) - (0 if m.group(2) == "0" else 1)
        new.extend(old[at:start])
        at = start
        k += 1
        while k < len(lines) and not lines[k].startswith("@@"):
            tag, line = lines[k][0], lines[k][1:]
            if tag in " -":
                assert old[at] == line
                at += 1
            if tag in " +":
                new.append(line)
            k += 1
    return "".join(new + old[at:])


def test_a_large_files_diff_is_built_statement_by_statement(tmp_path: Path) -> None:
    """`diff`/`plan --json` of a 2 MB seed took 87 s (difflib over the whole file); the diff is
    now made of each statement beside its own translation, still one unified diff of the whole
    file. An ordinary file's diff is difflib's, as it was. (6,000 statements here: three times
    the lines a file may have to be diffed whole.)"""
    mig, rb = _dirs(tmp_path)
    kept = "INSERT INTO s (id, note) VALUES (1, 'same');"
    changed = "INSERT INTO `s` (id, note) VALUES (1, 'same');"
    rows = [changed if i % 3 == 0 else kept for i in range(1, 6_001)]
    (mig / "20250101_000000_seed.sql").write_text(
        "CREATE TABLE s (id INTEGER, note TEXT);\n" + "\n".join(rows) + "\n"
    )
    t = translate_plan(discover(mig, rb).migrations)[0]
    before = t.sqlite_source.splitlines(keepends=True)
    after = t.postgres_sql.splitlines(keepends=True)
    assert len(before) > WHOLE_FILE_LINES
    cut = pieces(before, after, [(p.line, p.postgres) for p in t.statements])
    assert len(cut) == 6_001  # one piece a statement
    longest = max(max(i1 - i0, j1 - j0) for i0, i1, j0, j1 in cut)
    assert longest == 4 < PIECE_LINES  # CREATE TABLE's 4 lines
    assert (cut[0][0], cut[-1][1], cut[0][2], cut[-1][3]) == (0, len(before), 0, len(after))
    diff = t.diff
    assert diff.startswith("--- 20250101_000000_seed.sql (SQLite)\n+++ ")
    assert _apply(diff, t.sqlite_source) == t.postgres_sql
    # Only the changed statements are taken out and put back, each beside its translation
    # (over the whole file, difflib took these 6,000 like lines for noise and replaced all).
    lines = diff.splitlines()
    assert sum(1 for x in lines[2:] if x.startswith("-")) == 1 + 6_000 // 3
    assert f" {kept}\n-{changed}\n+{kept}\n {kept}\n" in diff
    small = _seed(30)
    (mig / "20250101_000000_seed.sql").write_text(small)
    t = translate_plan(discover(mig, rb).migrations)[0]
    whole = difflib.unified_diff(
        small.splitlines(keepends=True),
        t.postgres_sql.splitlines(keepends=True),
        "20250101_000000_seed.sql (SQLite)",
        "20250101_000000_seed.sql (PostgreSQL)",
    )
    assert t.diff == "".join(whole)


def test_plan_of_a_large_seed_summarises_its_statements(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """`plan` drew a table row for each of a seed's 20,000 INSERTs (12 s, 204 MB for 2 MB): it
    lists the first 200 and any with an error or a warning, then one line for the rest. (Any
    file of over 200 statements is summarised: 2,000 here, ten times the rows listed.) The
    line's `malnu-tui diff …` names the target, as a hint's does."""
    mdirs.migrations.joinpath("20250101_000000_seed.sql").write_text(
        _seed(2_000, odd="SELECT typeof(1);\n")
    )
    res = run_cli("--database", sqlite_url, *mdirs.args(), "plan", "--all")
    assert res.code == 0, res.err
    assert "VALUES (199, 'row" in res.out  # the 200th statement
    assert "VALUES (200, 'row" not in res.out and "VALUES (1999, 'row" not in res.out
    assert "typeof" in res.out and "NOT TRANSLATED" in res.out  # past row 200: still listed
    more = "… and 1,801 more statements (1,801 INSERT; 1,801 unchecked; no findings)"
    assert more in res.out
    # The command it quotes names the database it worked on, as every hint's does: bare, as
    # copied from another directory (or with a config's other default target), it showed
    # another set, or `no such migration`.
    named = "`malnu-tui diff 20250101_000000_seed.sql --database sqlite:"
    assert named in res.out and "/primary.db --migrations-dir " in res.out, res.out[-600:]
    assert "` or `plan --json` shows each" in res.out
    assert "1 untranslatable statements" in res.err
    res = run_cli("--database", sqlite_url, *mdirs.args(), "plan", "--all", "--json")
    statements = json.loads(res.out)["migrations"][0]["statements"]
    assert len(statements) == 2_002  # --json keeps every statement
