"""A key twice within ONE import (a student listed twice in the ministry's file, a legacy table
whose key is COLLATE NOCASE holding ``s004`` and ``S004``): the later row is rejected, naming
the line of the first, alike on every backend and with every --on-conflict; compared as the
target's key compares (NOCASE on SQLite/D1, exact text on PostgreSQL, citext without case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.data import ImportRequest, MaxErrors
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv


def _balanced(report: object) -> bool:
    r = report
    return r.read == r.inserted + r.updated + r.skipped + r.rejected  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["update", "skip", "error"])
def test_a_key_twice_in_the_file_is_a_rejected_row_naming_the_first(
    imp: ImportTarget, tmp_path: Path, mode: str
) -> None:
    imp.execute("INSERT INTO users (id, email, name) VALUES (9, 'old@malnu.sch.id', 'Lama')")
    # Line 5 repeats line 2's id (the --key); line 4's id 9 is in the table already.
    f = write_csv(
        tmp_path / "u.csv",
        "id,email,name\n"
        "1,a@malnu.sch.id,Ana\n"
        "2,b@malnu.sch.id,Budi\n"
        "9,old@malnu.sch.id,Baru\n"
        "1,c@malnu.sch.id,Ana Dua\n",
    )
    req = ImportRequest(
        "users",
        file=f,
        key=("id",),
        on_conflict=mode,  # type: ignore[arg-type]
        rejects=tmp_path / "r.csv",
        max_errors=MaxErrors(0 if mode == "update" else 2),
    )
    report = import_into(imp, req)
    assert _balanced(report)
    got = rejects_of(report.rejects_file)
    first = 4 if mode == "error" else None  # line 4: id 9 is in the table (error mode only)
    lines = [int(r["line"]) for r in got]
    assert lines == sorted(x for x in (first, 5) if x), got
    dup = next(r for r in got if r["line"] == "5")
    assert dup["column"] == "id" and "line 2" in dup["reason"], dup
    assert dup["raw"].startswith("1,c@"), dup
    if mode == "update":  # --max-errors 0: nothing committed, nothing lost
        assert not report.committed and report.rejected == 1
        assert (report.inserted, report.updated) == (2, 1)
        assert imp.count("users") == 1
        return
    assert report.committed
    names = dict(imp.rows("SELECT id, name FROM users"))
    assert names[1] == "Ana"  # the first of the two, never overwritten by the second
    if mode == "skip":
        assert (report.inserted, report.skipped, report.rejected) == (2, 1, 1)
        assert names[9] == "Lama"
    else:
        assert (report.inserted, report.rejected) == (2, 2)


def test_a_repeated_key_far_apart_in_a_big_file_is_found(imp: ImportTarget, tmp_path: Path) -> None:
    # Two chunks apart (5,000 rows a chunk): line 2 and the last line share an email.
    body = "".join(f"{i},u{i}@malnu.sch.id,N{i}\n" for i in range(1, 6002))
    f = write_csv(tmp_path / "u.csv", "id,email,name\n" + body + "7000,u1@malnu.sch.id,X\n")
    req = ImportRequest(
        "users",
        file=f,
        key=("email",),
        on_conflict="update",
        rejects=tmp_path / "r.csv",
        max_errors=MaxErrors(1),
    )
    report = import_into(imp, req)
    assert _balanced(report) and report.committed
    assert (report.inserted, report.updated, report.rejected) == (6001, 0, 1)
    (r,) = rejects_of(report.rejects_file)
    assert (r["line"], r["column"]) == ("6003", "email") and "line 2" in r["reason"]
    assert imp.rows("SELECT id, name FROM users WHERE email = 'u1@malnu.sch.id'") == [(1, "N1")]


def test_the_key_compares_as_the_target_s_key_compares(imp: ImportTarget, tmp_path: Path) -> None:
    # The legacy table: its key COLLATE NOCASE on SQLite/D1; on PostgreSQL plain text (exact)
    # and citext (without case).
    if imp.kind == "postgresql":
        imp.execute("CREATE EXTENSION IF NOT EXISTS citext")
        imp.execute("CREATE TABLE murid (nis text PRIMARY KEY, nama text)")
        imp.execute("CREATE TABLE murid_ci (nis citext PRIMARY KEY, nama text)")
    else:
        imp.execute("CREATE TABLE murid (nis TEXT COLLATE NOCASE PRIMARY KEY, nama TEXT)")
        imp.execute("CREATE TABLE murid_ci (nis TEXT COLLATE NOCASE PRIMARY KEY, nama TEXT)")
    body = "nis,nama\ns001,Ani\ns004,Budi\nS004,Cici\ns005,Dodi\n"
    f = write_csv(tmp_path / "m.csv", body)
    for table in ("murid", "murid_ci"):
        req = ImportRequest(
            table,
            file=f,
            on_conflict="update",
            rejects=tmp_path / f"{table}.csv",
            max_errors=MaxErrors(1),
        )
        report = import_into(imp, req)
        assert report.committed and _balanced(report)
        exact = imp.kind == "postgresql" and table == "murid"
        if exact:  # two students
            assert (report.inserted, report.updated, report.rejected) == (4, 0, 0)
            assert imp.count(table) == 4
            continue
        assert (report.inserted, report.updated, report.rejected) == (3, 0, 1), table
        (r,) = rejects_of(report.rejects_file)
        assert r["line"] == "4" and "line 3" in r["reason"] and r["raw"] == "S004,Cici"
        assert imp.rows(f"SELECT nama FROM {table} WHERE nis = 's004'") == [("Budi",)]


def test_a_key_of_two_columns_repeats_only_whole(imp: ImportTarget, tmp_path: Path) -> None:
    # Grades keyed by (student, subject): the same student in another subject is no repeat.
    imp.execute(
        "CREATE TABLE nilai (nis TEXT NOT NULL, mapel TEXT NOT NULL, skor INTEGER, "
        "UNIQUE (nis, mapel))"
    )
    f = write_csv(
        tmp_path / "n.csv",
        "nis,mapel,skor\n0012,MTK,80\n0012,IPA,75\n0013,MTK,90\n0012,MTK,60\n",
    )
    req = ImportRequest(
        "nilai",
        file=f,
        key=("nis", "mapel"),
        on_conflict="update",
        rejects=tmp_path / "r.csv",
        max_errors=MaxErrors(1),
    )
    report = import_into(imp, req)
    assert report.committed and _balanced(report)
    assert (report.inserted, report.updated, report.rejected) == (3, 0, 1)
    (r,) = rejects_of(report.rejects_file)
    assert r["line"] == "5" and "key (nis, mapel) = ('0012', 'MTK') repeats line 2" in r["reason"]
    assert imp.rows("SELECT skor FROM nilai WHERE nis = '0012' AND mapel = 'MTK'") == [(80,)]
