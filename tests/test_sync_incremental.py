"""What makes an incremental sync SQLite → PostgreSQL cheap, on real databases: the source's key
fingerprint started before the destination is connected (run.start_early / verify.SourceKeys),
and copies created with room on each page for the rows' next versions (fillfactor)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync import SyncSession
from malnu_tui.engine.sync import run as run_module
from malnu_tui.engine.sync import session as session_module
from malnu_tui.engine.sync import verify as verify_module
from malnu_tui.engine.sync.side import key_fingerprint
from malnu_tui.engine.sync.side_sqlite import SqliteSide
from tests.sync_support import sqlite_to_pg, sync
from tests.test_sync import rows, synced_users


class Spied:
    """What the sync did, in order: the sides it connected, the early fingerprints it started
    (and their results), the ones it cancelled, the key-range splits."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        self.early: list[verify_module.SourceKeys] = []
        self.after_early: list[str] = []  # SQL run at the source once an early one is in
        self.splits = 0
        spied = self
        opened = session_module.open_side
        real_buckets = verify_module.bucket_ranges

        def open_side(target: Any, **how: Any) -> Any:
            spied.events.append(f"connect {target.name}")
            return opened(target, **how)

        class Early(verify_module.SourceKeys):
            def __init__(self, *a: Any, **k: Any) -> None:
                spied.events.append("early fingerprint")
                super().__init__(*a, **k)
                spied.early.append(self)
                if spied.after_early:
                    self.result.exception()  # taken: the source changes after it
                    src, script = spied.after_early.pop(0), spied.after_early.pop(0)
                    with sqlite3.connect(src) as c:
                        c.executescript(script)

            def cancel(self) -> None:
                spied.events.append("cancelled")
                super().cancel()

        def buckets(*a: Any, **k: Any) -> Any:
            spied.splits += 1
            return real_buckets(*a, **k)

        monkeypatch.setattr(session_module, "open_side", open_side)
        monkeypatch.setattr(run_module, "SourceKeys", Early)
        monkeypatch.setattr(verify_module, "bucket_ranges", buckets)


def test_the_source_fingerprint_starts_before_the_destination_connects_and_stays_sound(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 300)
    spied = Spied(monkeypatch)
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' WHERE id = 7")
    quiet = sync(src, dst)
    # The source side, then its fingerprint on a connection of its own, then the destination;
    # the fingerprint was the one compared (equal: no key range split).
    assert spied.events[:3] == ["connect primary", "early fingerprint", "connect analytics"]
    (early,) = spied.early
    assert early.result.result() == key_fingerprint(range(1, 301))
    assert not early._thread.is_alive()
    assert (quiet.scope, quiet.verified, quiet.updated, spied.splits) == ("changed", True, 1, 0)
    # A row the source gains (and one it loses) once that fingerprint is taken: the new row is
    # copied (the fingerprints then differ: the key ranges are compared) and the run verifies.
    assert src.path is not None
    spied.after_early += [
        str(src.path),
        "INSERT INTO users (id, email, name, updated_at) "
        "VALUES (900, 'telat@malnu.sch.id', 'Telat', '2025-11-26 09:00:00');"
        "UPDATE users SET name = 'Lagi', updated_at = '2025-11-26 09:00:00' WHERE id = 8;",
    ]
    later = sync(src, dst)
    assert (later.inserted, later.updated, later.verified, spied.splits) == (1, 1, True, 1)
    assert rows(dst) == rows(src)


def test_a_table_whose_plan_is_a_full_copy_has_its_early_fingerprint_cancelled(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(200)
    spied = Spied(monkeypatch)
    # Never synced to this destination (the source's audit says so): none started.
    first = sync(src, dst)
    assert (first.mode, first.verified, spied.events[:2]) == (
        "full", True, ["connect primary", "connect analytics"])  # fmt: skip
    assert "early fingerprint" not in spied.events
    # Synced before, but the copy is gone: started, then cancelled once the plan says full.
    dst.run("DROP TABLE users")
    dst.run("DELETE FROM malnu_sync")
    spied.events.clear()
    again = sync(src, dst)
    assert (again.mode, again.verified) == ("full", True)
    assert spied.events[:4] == [
        "connect primary", "early fingerprint", "connect analytics", "cancelled"]  # fmt: skip
    assert not any(e._thread.is_alive() for e in spied.early)
    # --full starts none.
    spied.events.clear()
    assert sync(src, dst, full=True).verified
    assert "early fingerprint" not in spied.events


def test_an_early_fingerprint_under_way_is_interrupted_when_cancelled(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(10)

    def endless(side: SqliteSide, _shape: object) -> object:
        return side._rows(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        )

    monkeypatch.setattr(SqliteSide, "key_fingerprint", endless)
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe("users")
        assert shape is not None
        keys = verify_module.SourceKeys(shape, lambda: session_module.open_side(s.source_target))
        deadline = time.monotonic() + 60
        while keys._side is None and time.monotonic() < deadline:
            keys._thread.join(0.01)  # until its query runs
        keys.cancel()  # only an interrupt ends this one
        assert not keys._thread.is_alive()
        with pytest.raises(BackendError, match="interrupted"):
            keys.result.result()
        assert s._dst is None  # the destination was never needed


def test_a_created_copy_keeps_room_on_its_pages_so_an_update_stays_on_its_page(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 2000)  # a full copy: pages filled by COPY
    assert dst.run("SELECT reloptions FROM pg_class WHERE relname = 'users'") == [
        (["fillfactor=90"],)
    ]

    def blocks() -> list[tuple[int, ...]]:
        q = "SELECT id, (ctid::text::point)[0]::int FROM users WHERE id % 100 = 1 ORDER BY id"
        return [tuple(r) for r in dst.run(q)]

    before = blocks()
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' "
            "WHERE id % 100 = 1")  # fmt: skip
    report = sync(src, dst)
    assert (report.updated, report.verified) == (20, True)
    assert blocks() == before  # each new version on its row's page (with no room: elsewhere)
    # A table that was there before is left as it is.
    dst.run("ALTER TABLE users SET (fillfactor = 100)")
    dst.run("DELETE FROM malnu_sync")
    assert sync(src, dst).verified
    assert dst.run("SELECT reloptions FROM pg_class WHERE relname = 'users'") == [
        (["fillfactor=100"],)
    ]
