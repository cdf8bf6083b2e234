"""A table that refers to itself at the destination (``pegawai.atasan_id`` → ``pegawai.id``, a
category tree, ``kelas.induk_kode`` → ``kelas.kode``): the rows whose parent is not there yet
are held back until the chunk that brings it (:class:`HeldRows`), and, past a few chunks'
worth of them, kept in a scratch file instead of memory (:class:`_Spill`): a chain whose every
row refers to a later one is held whole, and a million-row tree keyed so was held in memory
whole (the product's rule: never the whole table in memory)."""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync.model import Key, Row, TableShape
from malnu_tui.engine.sync.problems import table_key
from malnu_tui.engine.sync.references import self_references
from malnu_tui.engine.sync.uniques import present

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["HELD_PAGES", "HeldRows"]

HELD_PAGES = 4  # held rows kept in memory: at most so many chunks' worth, then in a file
Ref = tuple[tuple[int, ...], tuple[int, ...]]  # a reference's columns: referring, referred
_BATCH = 500  # values a statement of the scratch file asks for at once


def _code(values: tuple[Any, ...]) -> str:
    """A key or a referred value as the scratch file indexes it (equal values of one type
    give one text)."""
    return repr(values)


@contextlib.contextmanager
def _scratch(table: str) -> Iterator[None]:
    """The scratch file's failure (no such directory, no room) said as one line, with the
    way out."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        raise MalnuError(
            f"{table}: the rows held back for their parents (past a few chunks' worth) could "
            f"not be kept in a scratch file in {tempfile.gettempdir()}: {exc}",
            hint="point TMPDIR at a directory with room for them, then sync again (what whole "
            "chunks wrote stays; the next sync resumes)",
        ) from exc


class _Spill:
    """Held rows past the limit, in a scratch SQLite file. It holds students' rows: made mode
    0600 in the temporary directory and unlinked at once (nothing is left behind, by an error,
    Ctrl-C or kill -9 alike; the space is freed when it is closed, with the table's copy),
    with no journal and a small page cache."""

    def __init__(self, refs: Sequence[Ref], kidx: tuple[int, ...], table: str) -> None:
        self.refs, self.kidx, self.count, self.last = refs, kidx, 0, 0
        self.table = table
        with _scratch(table):
            self._open()

    def _open(self) -> None:
        fd, path = tempfile.mkstemp(prefix="malnu-held-", suffix=".db")
        os.close(fd)
        try:
            self.db = sqlite3.connect(path, isolation_level=None)
            for sql in (
                "PRAGMA journal_mode = OFF",
                "PRAGMA synchronous = OFF",
                "PRAGMA cache_size = -2048",
                "CREATE TABLE held (n INTEGER PRIMARY KEY, k TEXT UNIQUE, row BLOB)",
                # what a row is to each reference (j), and what it refers to there
                "CREATE TABLE what (j INTEGER, v TEXT, n INTEGER)",
                "CREATE TABLE up (j INTEGER, p TEXT, n INTEGER)",
                "CREATE INDEX what_v ON what (j, v)",
                "CREATE INDEX what_n ON what (n)",
                "CREATE INDEX up_p ON up (j, p)",
                "CREATE INDEX up_n ON up (n)",
            ):
                self.db.execute(sql)
        finally:
            os.unlink(path)

    def _in(self, query: str, values: Sequence[Any], *head: Any) -> list[tuple[Any, ...]]:
        """``query``'s rows for ``values`` (its ``IN ({})``), a batch at a time. Every read
        and delete of :meth:`discard`, :meth:`holds` and :meth:`keys` goes through here, so
        a failure of the scratch file there (its disk gone read-only, a corrupt page) is one
        line as in :meth:`add`, not a traceback."""
        out: list[tuple[Any, ...]] = []
        with _scratch(self.table):
            for at in range(0, len(values), _BATCH):
                part = values[at : at + _BATCH]
                out += self.db.execute(query.format(", ".join("?" * len(part))), (*head, *part))
        return out

    def discard(self, keys: Sequence[Key]) -> None:
        """Forget the rows of ``keys`` (a newer version of each is read)."""
        if not self.count:
            return
        codes = list(map(_code, keys))
        found = [n for (n,) in self._in("SELECT n FROM held WHERE k IN ({})", codes)]
        if found:
            for table in ("what", "up", "held"):
                self._in(f"DELETE FROM {table} WHERE n IN ({{}})", found)
            self.count -= len(found)

    def add(self, rows: Sequence[Row]) -> None:
        with _scratch(self.table):
            self._add(rows)

    def _add(self, rows: Sequence[Row]) -> None:
        self.discard([_at(r, self.kidx) for r in rows])
        held, what, up = [], [], []
        for r in rows:
            self.last += 1
            held.append((self.last, _code(_at(r, self.kidx)), pickle.dumps(r)))
            for j, (frm, to) in enumerate(self.refs):
                what.append((j, _code(_at(r, to)), self.last))
                p = _at(r, frm)
                if None not in p:
                    up.append((j, _code(p), self.last))
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO held VALUES (?, ?, ?)", held)
        self.db.executemany("INSERT INTO what VALUES (?, ?, ?)", what)
        self.db.executemany("INSERT INTO up VALUES (?, ?, ?)", up)
        self.db.execute("COMMIT")
        self.count += len(rows)

    def holds(self, j: int, values: Sequence[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """Which of ``values`` a held row here is, to reference ``j``."""
        by = {_code(v): v for v in values}
        query = "SELECT v FROM what WHERE j = ? AND v IN ({})"
        return {by[v] for (v,) in self._in(query, list(by), j)}

    def keys(self, keys: Sequence[Key]) -> set[Key]:
        """Which of ``keys`` are held here."""
        by = {_code(k): k for k in keys}
        return {by[k] for (k,) in self._in("SELECT k FROM held WHERE k IN ({})", list(by))}

    def drain(self, most: int) -> Iterator[list[Row]]:
        """Every row, parents first, in lists of at most ``most`` rows (each list's parents in
        it or in one before it), emptied: a row's depth under the rows whose parents are none
        of these; rows referring to each other round a ring (no such depth) last, together."""
        db = self.db
        with _scratch(self.table):
            db.execute("CREATE TEMP TABLE IF NOT EXISTS depth (n INTEGER PRIMARY KEY, d INTEGER)")
            db.execute(
                "INSERT INTO depth WITH RECURSIVE down(n, d) AS ("
                "SELECT h.n, 0 FROM held h WHERE NOT EXISTS (SELECT 1 FROM up u JOIN what w "
                "ON w.j = u.j AND w.v = u.p WHERE u.n = h.n AND w.n <> h.n) "
                "UNION SELECT u.n, down.d + 1 FROM down JOIN what w ON w.n = down.n "
                "JOIN up u ON u.j = w.j AND u.p = w.v WHERE u.n <> down.n AND down.d < ?) "
                "SELECT n, max(d) FROM down GROUP BY n",
                (self.count,),  # (a ring reached from a row above it: no longer a path)
            )
            batch: list[Row] = []
            ring = False
            query = (
                "SELECT h.row, d.d IS NULL FROM held h LEFT JOIN depth d USING (n) "
                "ORDER BY d.d IS NULL, d.d, h.n"
            )
            for blob, unreached in db.execute(query):
                if len(batch) >= most and not (ring and unreached):
                    yield batch
                    batch = []
                ring = bool(unreached)
                batch.append(pickle.loads(blob))
            if batch:
                yield batch
            for table in ("held", "what", "up", "temp.depth"):
                db.execute(f"DELETE FROM {table}")
            self.count = 0

    def close(self) -> None:
        self.db.close()


def _at(row: Row, idx: tuple[int, ...]) -> tuple[Any, ...]:
    return tuple(row[i] for i in idx)


class HeldRows:
    """The rows of a table that refers to itself at the destination (``pegawai.atasan_id`` →
    ``pegawai.id``, a category tree; or to a UNIQUE column of its own, ``kelas.induk_kode`` →
    ``kelas.kode``) whose parent row is neither there yet nor in their own chunk: a chunk
    commits on its own, so a child whose parent comes in a later chunk (a manager hired after
    their staff, a row re-parented to a newer one) stopped the sync on "violates foreign key
    constraint". Such rows (and their own children in the chunk) are held back and written
    with the chunk that brings their parent, or with the table's last; a parent the source
    lacks too is then refused as before, by row. Past ``most`` rows (:data:`HELD_PAGES`
    chunks' worth) they go to a scratch file (:class:`_Spill`) and come back at the end,
    parents first, a batch at a time (:meth:`rest`). A table without such a key costs
    nothing: no query is made for it. Closed (its file with it) by ``with`` or :meth:`close`."""

    def __init__(
        self, s: SyncSession, shape: TableShape, full: bool, most: int | None = None
    ) -> None:
        self.s, self.shape, self.full = s, shape, full
        # In the run's references (session.plan_sync), so a table of no self-reference is
        # not asked.
        self.refs = (
            self_references(s.dst, shape)
            if table_key(s.dst, shape.name) in s.self_referring
            else []
        )
        self.rows: list[Row] = []  # held back in memory, in the order read
        self.most = most if most is not None else HELD_PAGES * s.batch_rows
        self.spill: _Spill | None = None  # the rows held past ``most``

    def __enter__(self) -> HeldRows:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def _key(self, r: Row) -> Key:
        return tuple(r[i] for i in self.shape.key_index)

    def take(self, page: Sequence[Row], after: Key | None) -> tuple[Sequence[Row], int]:
        """The rows to write with ``page`` (the rows held in memory before it whose parents
        are now there or in it, then the page's rows whose parents are), and how many of
        ``page``'s first rows are among them before the first held one (``len(page)`` when
        none is held). ``after``: the key before ``page`` (a full copy: every key up to it
        written, but for the rows held in the scratch file)."""
        if not self.refs:
            return page, len(page)  # (the copy's hot path: no list made)
        key = self._key
        if self.spill is not None:
            self.spill.discard([key(r) for r in page])  # (a newer version of a row there)
        rows = [*self.rows, *page]
        # What each row is to each reference (its key, or its UNIQUE value), and the rows
        # that refer to each such value.
        what = [{_at(r, to) for r in rows} for _, to in self.refs]
        children: dict[tuple[int, tuple[Any, ...]], list[int]] = {}
        asked: list[set[tuple[Any, ...]]] = [set() for _ in self.refs]
        for n, r in enumerate(rows):
            for j, (frm, _) in enumerate(self.refs):
                p = _at(r, frm)
                if None not in p:
                    children.setdefault((j, p), []).append(n)
                    if p not in what[j]:
                        asked[j].add(p)
        absent: list[int] = []  # rows whose parent is absent
        for j, values in enumerate(asked):
            gone = self.spill.holds(j, list(values)) if self.spill is not None and values else set()
            rest = [p for p in values - gone if not self._by(j, p, after)]
            gone |= set(rest) - self._there(j, rest)
            absent += [n for p in gone for n in children[(j, p)]]
        # A row whose parent is absent is held, and so is every row under it (walked down
        # once: a chain where each row's parent comes after it, a document's newer revision,
        # took a pass over the rows for each link).
        versions: dict[Key, list[int]] = {}
        for n, r in enumerate(rows):
            versions.setdefault(key(r), []).append(n)
        held: set[Key] = set()
        todo = absent
        while todo:
            k = key(rows[todo.pop()])
            if k in held:
                continue
            held.add(k)
            for n in versions[k]:
                for j, (_, to) in enumerate(self.refs):
                    todo.extend(children.get((j, _at(rows[n], to)), ()))
        self.rows = [r for r in rows if key(r) in held]
        first = next((n for n, r in enumerate(page) if key(r) in held), len(page))
        if len(self.rows) > self.most:
            if self.spill is None:
                self.spill = _Spill(self.refs, self.shape.key_index, self.shape.name)
            self.spill.add(self.rows)
            self.rows = []
        return [r for r in rows if key(r) not in held], first

    def holds(self, keys: Sequence[Key]) -> set[Key]:
        """Which of ``keys`` are held back."""
        mine = {self._key(r) for r in self.rows}
        out = {k for k in keys if k in mine}
        return out | (self.spill.keys(keys) if self.spill is not None else set())

    def rest(self) -> Iterator[list[Row]]:
        """Every row held back (their parents came, or never will), emptied: the rows held in
        memory in one list, as they are; with rows in the scratch file, all of them, parents
        first, in lists of at most ``most`` rows (each list's parents in it or before it)."""
        rows, self.rows = self.rows, []
        if self.spill is None or not self.spill.count:
            if rows:
                yield rows
            return
        self.spill.add(rows)
        yield from self.spill.drain(self.most)

    def _by(self, j: int, parent: tuple[Any, ...], after: Key | None) -> bool:
        """Whether a full copy has written ``parent`` already (a key up to ``after``; of a
        reference to the key)."""
        if not self.full or after is None or self.refs[j][1] != self.shape.key_index:
            return False
        try:
            return bool(parent <= after)
        except TypeError:  # keys of another type than the parent's: asked
            return False

    def _there(self, j: int, values: Sequence[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """Which of ``values`` a row at the destination is, to reference ``j``."""
        if not values:
            return set()
        to = self.refs[j][1]
        if to == self.shape.key_index:
            return {self._key(r) for r in self.s.dst.rows_for_keys(self.shape, list(values))}
        return present(self.s.dst, self.shape, to, values)
