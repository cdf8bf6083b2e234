"""A keyed D1 table's BLOB too large for one hex() is read in pieces by its row's key, a request
after its page (.d1.pieces): a row the school's application changes between the two is read as
one state of the table, or refused by one line; on the local D1 stand-in, the pieces' request
held while the application writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.d1 import pieces
from malnu_tui.engine.errors import BackendError
from tests.d1server import Fault
from tests.sync_support import Db, make_db, sync, verify


def _meanwhile(src: Db, run: Callable[[], Any], writes: list[Callable[[], None]]) -> list[Any]:
    """``run()`` in a thread while the first len(writes) requests reading pieces are held,
    each write done while its request waits; what it returned or raised."""
    assert src.d1 is not None
    faults = [
        src.d1.server.inject(Fault("slow", match="substr(CAST", hold=threading.Event()))
        for _ in writes
    ]
    done: list[Any] = []

    def body() -> None:
        try:
            done.append(run())
        except BackendError as exc:
            done.append(exc)

    running = threading.Thread(target=body)
    running.start()
    for fault, write in zip(faults, writes, strict=True):
        while fault.count and running.is_alive():  # until this pieces' request is held
            time.sleep(0.01)
        write()
        assert fault.hold is not None
        fault.hold.set()
    running.join()
    return done


def _lampiran(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Db, Db]:
    src, dst = make_db("d1", request, tmp_path, "src"), make_db("sqlite", request, tmp_path, "d")
    src.run("CREATE TABLE lampiran (id INTEGER PRIMARY KEY, nama TEXT, isi BLOB)")
    src.many(
        "INSERT INTO lampiran VALUES (?, ?, ?)",
        [(1, "a.pdf", b"a" * 2_000), (2, "b.pdf", b"b" * 2_000)],
    )
    return src, dst


@pytest.mark.parametrize("size", [2_000, 2_500], ids=["same size", "another size"])
def test_a_keyed_d1_row_changed_while_its_blob_is_read_in_pieces_is_copied_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The application replacing a file (and its name) between the page's request and its
    pieces' had the row copied with its old name and its new file, a row that never was
    (another size stopped the sync: "the value changed while it was read in pieces"). The
    page is now read again after its pieces, and anew when its rows changed."""
    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)  # a file of 2,000 bytes: in pieces
    src, dst = _lampiran(request, tmp_path)
    new = b"c" * size

    def replace() -> None:
        src.run("UPDATE lampiran SET nama = 'c.pdf', isi = ? WHERE id = 2", (new,))

    (report,) = _meanwhile(src, lambda: sync(src, dst), [replace])
    assert not isinstance(report, BaseException), report
    got = dst.run("SELECT id, nama, isi FROM lampiran ORDER BY id")
    wanted = [(1, "a.pdf", b"a" * 2_000), (2, "c.pdf", new)]  # each file whole, one version
    assert got == wanted, [(i, n, v[:1], v[-1:], len(v)) for i, n, v in got]
    assert report.verified

    # Changed at each of its three readings: one line, the row not copied.
    def again(i: int) -> Callable[[], None]:
        return lambda: src.run("UPDATE lampiran SET nama = ?, isi = ? WHERE id = 2", (f"{i}", new))

    (failed,) = _meanwhile(src, lambda: sync(src, dst), [again(i) for i in range(3)])
    assert isinstance(failed, BackendError), failed
    assert "reading lampiran: its rows changed each time their BLOBs too large for one hex()" in (
        str(failed)
    )
    assert dst.run("SELECT nama FROM lampiran ORDER BY id") == [("a.pdf",), ("c.pdf",)]


def test_sync_verify_reads_a_keyed_d1_row_changed_while_its_blob_is_read_in_pieces_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sync verify` reads the source's rows as the sync does: a row changed between its page
    and its pieces was compared as a row that never was."""
    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)
    src, dst = _lampiran(request, tmp_path)
    assert sync(src, dst).verified
    new = b"c" * 2_000
    dst.run("UPDATE lampiran SET nama = 'c.pdf', isi = ? WHERE id = 2", (new,))  # as it will be

    def replace() -> None:
        src.run("UPDATE lampiran SET nama = 'c.pdf', isi = ? WHERE id = 2", (new,))

    (report,) = _meanwhile(src, lambda: verify(src, dst), [replace])
    assert not isinstance(report, BaseException), report
    assert report.verified, report


def test_a_d1_client_dump_takes_a_row_changed_while_its_blob_is_read_in_pieces_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup of a D1 database holding an FTS5 index is the client's dump (.clientdump), its
    pages read as the sync's are: the application replacing a file and its name between a
    page's request and its pieces' had the backup hold the old name with the new file, a row
    that never was, restored so. The page is now read again after its pieces."""
    import sqlite3

    from malnu_tui.engine.backends.d1.clientdump import client_dump
    from malnu_tui.engine.config import open_backend

    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)
    src, _ = _lampiran(request, tmp_path)
    new = b"c" * 2_000

    def replace() -> None:
        src.run("UPDATE lampiran SET nama = 'c.pdf', isi = ? WHERE id = 2", (new,))

    d1 = open_backend(src.target("src"))
    dump = tmp_path / "dump.sql"
    try:
        (done,) = _meanwhile(src, lambda: client_dump(d1, dump, [], lambda _: None), [replace])
    finally:
        d1.close()
    assert not isinstance(done, BaseException), done
    restored = sqlite3.connect(":memory:")
    restored.executescript(dump.read_text(encoding="utf-8"))
    got = restored.execute("SELECT id, nama, isi FROM lampiran ORDER BY id").fetchall()
    wanted = [(1, "a.pdf", b"a" * 2_000), (2, "c.pdf", new)]  # each file with its own name
    assert got == wanted, [(i, n, v[:1], len(v)) for i, n, v in got]


def test_an_import_from_a_d1_table_takes_a_row_changed_while_its_blob_is_read_in_pieces_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`import --from d1:TABLE` reads its pages as the sync does: the application replacing a
    file and its name between a page and its pieces had the old name imported with the new
    file, a row that never was."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.data import tablevalues
    from malnu_tui.engine.data.tablesource import TableSource

    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)
    monkeypatch.setattr(tablevalues, "MAX_HEX_BLOB_BYTES", 1_000)
    src, _ = _lampiran(request, tmp_path)
    new = b"c" * 2_000

    def replace() -> None:
        src.run("UPDATE lampiran SET nama = 'c.pdf', isi = ? WHERE id = 2", (new,))

    d1 = open_backend(src.target("src"))
    try:
        source = TableSource(d1, "lampiran")
        (pages,) = _meanwhile(src, lambda: list(source._pages()), [replace])
    finally:
        d1.close()
    assert not isinstance(pages, BaseException), pages
    got = [(str(r[0]), r[1], r[2]) for page in pages for r in page]
    assert got[1] == ("2", "c.pdf", new), [(i, n, v[:1], len(v)) for i, n, v in got]
