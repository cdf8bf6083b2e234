"""Large migration files (a legacy seed of hundreds of MB). Discovery of a file larger than
the text it keeps: checksum, header, blank and bad-UTF-8 checks read the file in blocks, the
same answers as reading it whole. `plan` makes no unified diff it does not show."""

from __future__ import annotations

import hashlib
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
