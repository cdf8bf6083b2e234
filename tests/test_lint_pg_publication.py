"""PG-PUBLISHED-WITHOUT-IDENTITY: once a publication publishes the updates or deletes of a table
with no primary key nor REPLICA IDENTITY (FULL / USING INDEX), PostgreSQL refuses every UPDATE
and DELETE of it ("cannot update table … because it does not have a replica identity and
publishes updates"): the app's writes fail right after the deploy. Each case is shown on the
test cluster; every one passed the lint clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from malnu_tui.engine.lint.supabase_realtime import realtime_replaced
from malnu_tui.engine.lint.target import lint_target
from malnu_tui.engine.sqlsplit import split_statements
from tests.fixtures_core import MigrationDirs

RULE = "PG-PUBLISHED-WITHOUT-IDENTITY"
FIRST = """\
CREATE TABLE keyed (id int PRIMARY KEY, n text);
CREATE TABLE logs (msg text);
CREATE TABLE dumped (id int NOT NULL, n text);
ALTER TABLE ONLY dumped ADD CONSTRAINT dumped_pkey PRIMARY KEY (id);
CREATE TABLE ev (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (100);
CREATE TABLE ev_k (a int, b int, PRIMARY KEY (a)) PARTITION BY RANGE (a);
CREATE TABLE ev_k1 PARTITION OF ev_k FOR VALUES FROM (0) TO (100);
CREATE UNLOGGED TABLE cache (k text);
CREATE VIEW v AS SELECT 1 AS x;
CREATE TABLE full_t (a int);
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE PUBLICATION inserts FOR ALL TABLES WITH (publish = 'insert');
CREATE PUBLICATION everything FOR ALL TABLES;
"""
SECOND = "CREATE TABLE later (x int);\nCREATE TABLE later_k (x int PRIMARY KEY);"
THIRD = """\
DROP PUBLICATION everything;
CREATE PUBLICATION supabase_realtime;
ALTER PUBLICATION supabase_realtime ADD TABLE keyed, logs, full_t;
ALTER TABLE keyed DROP CONSTRAINT keyed_pkey;
ALTER PUBLICATION supabase_realtime ADD TABLE dumped;
ALTER TABLE dumped REPLICA IDENTITY NOTHING;
CREATE PUBLICATION only_inserts FOR TABLE later WITH (publish = 'insert, truncate');
CREATE SCHEMA arsip;
CREATE PUBLICATION per_schema FOR TABLES IN SCHEMA arsip;
CREATE TABLE arsip.lama (x int);
CREATE TABLE arsip.baru (id int, x int, PRIMARY KEY (id));
ALTER TABLE arsip.baru DROP COLUMN id;
"""


def _found(report: Any) -> list[tuple[str, int, str]]:
    return [(f.file[:15], f.line, f.why) for f in report.findings if f.rule == RULE]


def _writes(conn: psycopg.Connection[Any], refused: list[str], fine: list[str]) -> None:
    """What the findings say, on the cluster: each named table's DELETE refused, the others'
    accepted."""
    for t in refused:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="replica ident"):
            conn.execute(f"DELETE FROM {t}")
    for t in fine:
        conn.execute(f"DELETE FROM {t}")


def test_publishing_keyless_tables_in_the_set(pg_url: str, mdirs: MigrationDirs) -> None:
    """`lint --all`: a FOR ALL TABLES publication over the set's keyless tables (a keyless
    partition too: named as itself), a keyless table made later, ADD TABLE of one, a
    published table's key dropped or REPLICA IDENTITY NOTHING. Not named: a key added after
    the CREATE TABLE (pg_dump's form), an unlogged table, a view, REPLICA IDENTITY FULL, a
    publication of inserts only."""
    mdirs.add("20250101_000100", "first", FIRST, "SELECT 1;")
    mdirs.add("20250101_000200", "second", SECOND, "SELECT 1;")
    mdirs.add("20250101_000300", "third", THIRD, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = _found(lint_migrations(mset, dialect="postgresql", session_lock_timeout=True))
    assert [x[:2] for x in found] == [
        ("20250101_000100", 14), ("20250101_000200", 1), ("20250101_000300", 3),
        ("20250101_000300", 4), ("20250101_000300", 6), ("20250101_000300", 10),
        ("20250101_000300", 12),
    ], found  # fmt: skip
    assert found[0][2].startswith(
        "CREATE PUBLICATION everything FOR ALL TABLES: publication everything publishes the "
        "updates and deletes of ev1 (a partition of ev), logs, which have no primary key nor "
        "replica identity: "
        "PostgreSQL refuses every UPDATE and DELETE of them"
    ), found[0][2]
    assert found[1][2].startswith(
        "CREATE TABLE later while publication everything publishes every new table: "
    )
    assert (
        "ADD TABLE: publication supabase_realtime publishes the updates and deletes of logs, "
        "which has" in found[2][2]
    )
    assert "keyed's primary key dropped" in found[3][2]
    assert "dumped set to REPLICA IDENTITY NOTHING" in found[4][2]
    assert found[5][2].startswith(
        "CREATE TABLE arsip.lama while publication per_schema publishes every new table"
    )
    assert "arsip.baru's key column id dropped" in found[6][2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(FIRST)
        _writes(conn, ["logs", "ev"], ["keyed", "dumped", "ev_k", "cache", "full_t"])
        conn.execute(SECOND)
        _writes(conn, ["later"], ["later_k"])
        conn.execute(THIRD)
        _writes(conn, ["logs", "keyed", "dumped", "arsip.lama", "arsip.baru"],
                ["later", "ev", "full_t"])  # fmt: skip


def test_plain_lint_reads_the_live_tables_and_publications(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A plain `lint` of a pending file: the live database's keyless table (made by hand, no
    migration names it) added to its publication, a live published table's key dropped, a
    keyless table made while a live FOR ALL TABLES publication publishes deletes (or a live
    TABLES IN SCHEMA one), a live table's key column dropped. `lint --all`
    of the same file cannot know them (no finding there)."""
    live = (
        "CREATE TABLE absen (siswa int); CREATE TABLE nilai (id int PRIMARY KEY);"
        "CREATE TABLE Guru (id int PRIMARY KEY);"
        "CREATE PUBLICATION rt FOR TABLE nilai, guru;"
        "CREATE PUBLICATION hapus FOR ALL TABLES WITH (publish = 'insert, delete');"
        "CREATE SCHEMA arsip; CREATE PUBLICATION per_schema FOR TABLES IN SCHEMA arsip "
        "WITH (publish = 'update');"
        "CREATE TABLE hadir (siswa int, tgl date, n text, PRIMARY KEY (siswa, tgl))"
    )
    pending = (
        "ALTER PUBLICATION rt ADD TABLE absen;\nALTER TABLE nilai DROP CONSTRAINT nilai_pkey;\n"
        "CREATE TABLE baru (x int);\nCREATE TABLE baru_k (x int PRIMARY KEY);\n"
        "ALTER TABLE guru DROP CONSTRAINT guru_pkey;\nALTER TABLE guru ADD PRIMARY KEY (id);\n"
        "ALTER TABLE arsip.lama_k ADD COLUMN y int;\nCREATE TABLE arsip.rekap (x int);\n"
        "ALTER TABLE hadir DROP COLUMN n;\nALTER TABLE hadir DROP COLUMN tgl;"
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(live)
        conn.execute("CREATE TABLE arsip.lama_k (id int PRIMARY KEY)")
    mdirs.add("20250101_000100", "pending", pending, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    target = Target("pg", pg_url, mdirs.migrations, mdirs.rollback, tmp_path / "backups")
    backend = open_backend(target, dry_run=True, new_ok=True)
    try:
        report = lint_target(target, mset, ["20250101_000100_pending.sql"], backend,
                             from_live_schema=True)  # fmt: skip
    finally:
        backend.close()
    found = _found(report)
    assert [x[1] for x in found] == [1, 2, 3, 8, 10], found
    assert "rt ADD TABLE: publication rt publishes the updates and deletes of absen," in found[0][2]
    assert (
        "nilai's primary key dropped: publications hapus (deletes) and rt (updates and deletes) "
        "publish the changes of nilai, which has no primary key nor replica identity: "
        "PostgreSQL refuses every UPDATE and DELETE of it"
    ) in found[1][2]
    assert "publication hapus publishes the deletes of baru, which has" in found[2][2]
    assert "refuses every DELETE of it" in found[2][2]
    assert found[3][2].startswith(
        "CREATE TABLE arsip.rekap while publications hapus and per_schema publish every new "
        "table: publications hapus (deletes) and per_schema (updates) publish the changes of "
        "arsip.rekap, which has no primary key nor replica identity: PostgreSQL refuses every "
        "UPDATE and DELETE of it"
    ), found[3][2]
    assert "hadir's key column tgl dropped: publication hapus" in found[4][2]
    assert _found(lint_migrations(mset, dialect="postgresql")) == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(pending)
        for t, col in (("absen", "siswa"), ("nilai", "id")):
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
                conn.execute(f"UPDATE {t} SET {col} = 1")
        conn.execute("UPDATE baru SET x = 1")  # (updates not published)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("DELETE FROM baru")
        conn.execute("UPDATE guru SET id = 2; DELETE FROM baru_k; DELETE FROM arsip.lama_k")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("UPDATE arsip.rekap SET x = 1")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("DELETE FROM hadir")


def test_quoted_name_is_another_table(pg_url: str, mdirs: MigrationDirs, tmp_path: Path) -> None:
    """PostgreSQL folds only unquoted names: `"Kelas"` and `kelas` are two tables. The rule took
    them for one (SQLite's folding): a publication of the keyed kelas was named keyless (the
    keyless "Kelas" made first), and kelas's key dropped after passed clean. A plain lint reads
    the live two apart too."""
    first = 'CREATE TABLE "Kelas" (nama text);\nCREATE TABLE kelas (id int PRIMARY KEY);\n'
    first += "CREATE PUBLICATION rt FOR TABLE kelas;"
    mdirs.add("20250101_000100", "first", first, "SELECT 1;")
    mdirs.add(
        "20250101_000200", "second", "ALTER TABLE kelas DROP CONSTRAINT kelas_pkey;", "SELECT 1;"
    )
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = _found(lint_migrations(mset, dialect="postgresql"))
    assert [x[:2] for x in found] == [("20250101_000200", 1)], found
    assert "kelas's primary key dropped" in found[0][2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(first)
        n = conn.execute("SELECT count(*) FROM pg_class WHERE relname IN ('Kelas', 'kelas')")
        assert n.fetchone() == (2,)
        _writes(conn, [], ["kelas", '"Kelas"'])
        conn.execute("DROP PUBLICATION rt")
    pending = 'CREATE PUBLICATION rt FOR TABLE kelas;\nALTER PUBLICATION rt ADD TABLE "Kelas";'
    mdirs.add("20250101_000300", "pending", pending, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    target = Target("pg", pg_url, mdirs.migrations, mdirs.rollback, tmp_path / "backups")
    backend = open_backend(target, dry_run=True, new_ok=True)
    try:
        report = lint_target(target, mset, ["20250101_000300_pending.sql"], backend,
                             from_live_schema=True)  # fmt: skip
    finally:
        backend.close()
    found = _found(report)
    assert [x[1] for x in found] == [2], found
    assert "publishes the updates and deletes of Kelas, which has" in found[0][2], found
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(pending)
        _writes(conn, ['"Kelas"'], ["kelas"])


def test_a_quoted_realtime_name_is_another_publication(pg_url: str) -> None:
    """SUPABASE-REALTIME-REPLACED folded a quoted publication name as SQLite does: dropping or
    SETting the tables of `"Supabase_Realtime"` (another publication) was a false warning, while
    Realtime's own supabase_realtime kept its tables (shown on the cluster)."""
    sql = (
        'DROP PUBLICATION IF EXISTS "Supabase_Realtime";\nCREATE PUBLICATION "Supabase_Realtime";\n'
        'ALTER PUBLICATION "Supabase_Realtime" SET TABLE kelas;\n'
        "ALTER PUBLICATION supabase_realtime SET TABLE kelas;\n"
        'DROP PUBLICATION "supabase_realtime";'
    )
    found = [realtime_replaced("f", st) for st in split_statements(sql, "postgresql")]
    assert [f.line for f in found if f is not None] == [4, 5], found
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kelas (id int PRIMARY KEY); CREATE TABLE siswa (id int);")
        conn.execute("CREATE PUBLICATION supabase_realtime FOR TABLE siswa")
        conn.execute(sql.rsplit("\n", 2)[0])  # (the quoted one's statements)
        rows = conn.execute("SELECT pubname, tablename FROM pg_publication_tables ORDER BY 1")
        assert rows.fetchall() == [("Supabase_Realtime", "kelas"), ("supabase_realtime", "siswa")]


PARTS_1 = """\
CREATE TABLE ev (a int NOT NULL, b int) PARTITION BY RANGE (a);
CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (100);
CREATE TABLE ev2 PARTITION OF ev FOR VALUES FROM (100) TO (200);
CREATE TABLE ev3 PARTITION OF ev FOR VALUES FROM (200) TO (300);
ALTER TABLE ev1 ADD PRIMARY KEY (a);
ALTER TABLE ev2 REPLICA IDENTITY FULL;
CREATE TABLE kv (a int, b int, PRIMARY KEY (a)) PARTITION BY RANGE (a);
CREATE TABLE kv1 PARTITION OF kv FOR VALUES FROM (0) TO (100);
CREATE TABLE kv2 PARTITION OF kv FOR VALUES FROM (100) TO (200);
CREATE TABLE ok (a int NOT NULL, b int) PARTITION BY RANGE (a);
CREATE TABLE ok1 PARTITION OF ok (PRIMARY KEY (a)) FOR VALUES FROM (0) TO (100);
CREATE PUBLICATION p1;
ALTER PUBLICATION p1 ADD TABLE ev1, ev3;
CREATE PUBLICATION p2 FOR TABLE kv, ok WITH (publish_via_partition_root = true);
ALTER PUBLICATION p1 ADD TABLE ev;
"""
PARTS_2 = """\
ALTER TABLE kv1 REPLICA IDENTITY NOTHING;
CREATE TABLE kv3 PARTITION OF kv FOR VALUES FROM (200) TO (300);
CREATE TABLE ok2 PARTITION OF ok FOR VALUES FROM (100) TO (200);
CREATE TABLE loose (a int NOT NULL, b int);
ALTER TABLE ok ATTACH PARTITION loose FOR VALUES FROM (200) TO (300);
ALTER TABLE kv DETACH PARTITION kv2;
ALTER PUBLICATION p1 ADD TABLE kv2;
DROP TABLE ev;
CREATE TABLE ev3 (a int);
"""


def test_partitions_are_judged_one_by_one(pg_url: str, mdirs: MigrationDirs) -> None:
    """PostgreSQL 15 checks each partition's own key or REPLICA IDENTITY (its own, or the key
    its partitioned table gives it; a partitioned table's FULL does not reach it), whether the
    publication names the partition, its partitioned table or every table, and whatever
    publish_via_partition_root says. The rule judged the partitioned table alone: a keyless
    one whose partitions all have their own key was a false error, and ADD TABLE of a keyless
    partition, a keyed table's partition set to REPLICA IDENTITY NOTHING, a keyless partition
    made or attached under a published table passed clean. A table dropped (its partitions
    with it) leaves its publications: one made again under its name is not published."""
    mdirs.add("20250101_000100", "first", PARTS_1, "SELECT 1;")
    mdirs.add("20250101_000200", "second", PARTS_2, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = _found(lint_migrations(mset, dialect="postgresql"))
    assert [x[:2] for x in found] == [
        ("20250101_000100", 13), ("20250101_000200", 1), ("20250101_000200", 3),
        ("20250101_000200", 5),
    ], found  # fmt: skip
    assert found[0][2].startswith(
        "ALTER PUBLICATION p1 ADD TABLE: publication p1 publishes the updates and deletes of ev3 "
        "(a partition of ev), which has no primary key"
    ), found[0][2]
    assert found[1][2].startswith("kv1 set to REPLICA IDENTITY NOTHING: publication p2 ")
    assert found[2][2].startswith(
        "CREATE TABLE ok2 PARTITION OF ok while publication p2 publishes ok: publication p2 "
        "publishes the updates and deletes of ok2 (a partition of ok), which has"
    ), found[2][2]
    assert found[3][2].startswith("ALTER TABLE ok ATTACH PARTITION loose: publication p2 ")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PARTS_1)
        _writes(conn, ["ev3", "ev"], ["ev1", "ev2", "kv", "ok"])
        conn.execute(PARTS_2)
        _writes(conn, ["kv1", "ok2", "loose"], ["kv2", "kv3", "ok1", "ev3"])


def test_plain_lint_reads_the_live_partitions(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A plain `lint` reads the live partitions too (they were left out: the partitioned table
    was judged alone): a keyless one's keyless partition named when its table is published, a
    keyless table whose partitions have their own key not named (a false error), a keyed
    table's partition named once the key is dropped (its copy goes with it)."""
    live = (
        "CREATE TABLE ev (a int NOT NULL, b int) PARTITION BY RANGE (a);"
        "CREATE TABLE ev1 PARTITION OF ev (PRIMARY KEY (a)) FOR VALUES FROM (0) TO (100);"
        "CREATE TABLE ev2 PARTITION OF ev FOR VALUES FROM (100) TO (200);"
        "CREATE TABLE ok (a int NOT NULL, b int) PARTITION BY RANGE (a);"
        "CREATE TABLE ok1 PARTITION OF ok (PRIMARY KEY (a)) FOR VALUES FROM (0) TO (100);"
        "CREATE TABLE kv (a int PRIMARY KEY, b int) PARTITION BY RANGE (a);"
        "CREATE TABLE kv1 PARTITION OF kv FOR VALUES FROM (0) TO (100);"
        "CREATE PUBLICATION rt FOR TABLE kv;"
    )
    pending = "ALTER PUBLICATION rt ADD TABLE ev, ok;\nALTER TABLE kv DROP CONSTRAINT kv_pkey;"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(live)
    mdirs.add("20250101_000100", "pending", pending, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    target = Target("pg", pg_url, mdirs.migrations, mdirs.rollback, tmp_path / "backups")
    backend = open_backend(target, dry_run=True, new_ok=True)
    try:
        report = lint_target(target, mset, ["20250101_000100_pending.sql"], backend,
                             from_live_schema=True)  # fmt: skip
    finally:
        backend.close()
    found = _found(report)
    assert [x[1] for x in found] == [1, 2], found
    assert "deletes of ev2 (a partition of ev), which has no" in found[0][2], found[0][2]
    said = "kv's primary key dropped: publication rt publishes the updates and deletes of kv1"
    assert found[1][2].startswith(f"{said} (a partition of kv), which has"), found[1][2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(pending)
        _writes(conn, ["ev2", "kv1"], ["ev1", "ok1", "ok"])


def test_a_partitioned_table_with_no_partition_yet(pg_url: str, mdirs: MigrationDirs) -> None:
    """A keyless partitioned table with no partition yet, under FOR ALL TABLES and named by a
    FOR TABLE publication, was a false error (its UPDATE and DELETE run: PostgreSQL checks the
    partitions), and stayed one once the next file made its partitions with their own key;
    a keyless partition made under it is named, as it was."""
    first = (
        "CREATE PUBLICATION everything FOR ALL TABLES;\n"
        "CREATE TABLE ev (a int NOT NULL, b int) PARTITION BY RANGE (a);\n"
        "CREATE PUBLICATION rt FOR TABLE ev;"
    )
    second = "CREATE TABLE ev1 PARTITION OF ev (PRIMARY KEY (a)) FOR VALUES FROM (0) TO (100);"
    third = "CREATE TABLE ev2 PARTITION OF ev FOR VALUES FROM (100) TO (200);"
    mdirs.add("20250101_000100", "first", first, "SELECT 1;")
    mdirs.add("20250101_000200", "second", second, "SELECT 1;")
    mdirs.add("20250101_000300", "third", third, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = _found(lint_migrations(mset, dialect="postgresql"))
    assert [x[:2] for x in found] == [("20250101_000300", 1)], found
    assert "ev2 (a partition of ev), which has no primary key" in found[0][2], found[0][2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(first)
        conn.execute("UPDATE ev SET b = 1")
        _writes(conn, [], ["ev"])
        conn.execute(second)
        conn.execute("INSERT INTO ev VALUES (1, 1)")
        _writes(conn, [], ["ev", "ev1"])
        conn.execute(third)
        _writes(conn, ["ev2"], ["ev1"])


def test_a_quoted_name_with_a_dot_is_public_s(pg_url: str, mdirs: MigrationDirs) -> None:
    """A public table whose quoted name holds a dot ("audit.log") was taken for the table log
    of schema audit: a publication of schema audit named it keyless, one of schema public
    passed it clean, and its DROP TABLE was read as audit's (its key dropped since passed)."""
    first = 'CREATE SCHEMA audit;\nCREATE TABLE "audit.log" (msg text);\n'
    first += "CREATE TABLE audit.log (id int PRIMARY KEY);\n"
    first += "CREATE PUBLICATION arsip FOR TABLES IN SCHEMA audit;"
    second = "CREATE PUBLICATION semua FOR TABLES IN SCHEMA public;"
    third = 'DROP TABLE "audit.log";\nCREATE TABLE "audit.log" (id int PRIMARY KEY);\n'
    third += 'ALTER TABLE "audit.log" DROP CONSTRAINT "audit.log_pkey";'
    mdirs.add("20250101_000100", "first", first, "SELECT 1;")
    mdirs.add("20250101_000200", "second", second, "SELECT 1;")
    mdirs.add("20250101_000300", "third", third, "SELECT 1;")
    found = _found(lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                                   dialect="postgresql"))  # fmt: skip
    assert [x[:2] for x in found] == [("20250101_000200", 1), ("20250101_000300", 3)], found
    assert "publication semua publishes the updates and deletes of audit.log, which" in found[0][2]
    assert "audit.log's primary key dropped" in found[1][2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(first)
        _writes(conn, [], ['"audit.log"', "audit.log"])
        conn.execute(second)
        _writes(conn, ['"audit.log"'], ["audit.log"])
        conn.execute(third)
        _writes(conn, ['"audit.log"'], ["audit.log"])
