"""A sync into a mirror that `up` built from the primary's own SQLite migrations (a reporting
database kept by the school's migrations, not by the sync): its serial/identity columns and
its foreign keys between tables (kelas ← siswa ← nilai)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures_pg import PgCluster
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db

MIGRATIONS = {
    "20260101_000000_kelas.sql": "CREATE TABLE kelas (\n"
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    nama TEXT NOT NULL,\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
    "20260101_000100_siswa.sql": "CREATE TABLE siswa (\n"
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    kelas_id INTEGER NOT NULL REFERENCES kelas(id),\n"
    "    ketua_id INTEGER REFERENCES siswa(id),\n"
    "    nama TEXT NOT NULL,\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
    "20260101_000200_nilai.sql": "CREATE TABLE nilai (\n"
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    siswa_id INTEGER NOT NULL REFERENCES siswa(id) ON DELETE CASCADE,\n"
    "    skor REAL NOT NULL,\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
}
TABLES = ("kelas", "siswa", "nilai")


def school(tmp_path: Path, mirror: Db) -> tuple[Db, list[str]]:
    """The primary (SQLite) and ``mirror``, both built by `up` from the same SQLite-dialect
    migrations (the mirror given the copies' ``synced_at``, as the sync's refusal says): the
    primary and the config's options."""
    for folder, down in (("m", False), ("r", True)):
        (tmp_path / folder).mkdir()
        for name, text in MIGRATIONS.items():
            table = name.split("_")[-1].removesuffix(".sql")
            (tmp_path / folder / name).write_text(f"DROP TABLE {table};\n" if down else text)
    primary = Db("sqlite", f"sqlite:///{tmp_path / 'primary.db'}", path=tmp_path / "primary.db")
    dialect = 'dialect = "sqlite"\n' if mirror.kind == "postgresql" else ""
    config = tmp_path / "malnu.toml"
    config.write_text(
        "".join(
            f'[targets.{name}]\nurl = "{url}"\nmigrations_dir = "{tmp_path / "m"}"\n'
            f'rollback_dir = "{tmp_path / "r"}"\n{extra}\n'
            for name, url, extra in (("primary", primary.url, ""), ("mirror", mirror.url, dialect))
        ),
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    for target in ("primary", "mirror"):
        res = run_inproc(*cfg, "--target", target, "up", "--yes", "--no-backup")
        assert res.code == 0, res.err
    stamp = "timestamp" if mirror.kind == "postgresql" else "DATETIME"
    for t in TABLES:
        mirror.run(f"ALTER TABLE {t} ADD COLUMN synced_at {stamp}")
    return primary, cfg


def sync_cli(cfg: list[str], *more: str) -> tuple[int, str]:
    """``sync --yes`` from the primary into the mirror: its exit code, stderr and stdout."""
    res = run_inproc(*cfg, "sync", "--from", "primary", "--to", "mirror", "--yes", *more)
    return res.code, res.err + res.out


def test_the_sync_moves_a_mirrors_sequences_past_the_ids_it_wrote(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster
) -> None:
    """The mirror's identity columns (`up` translates AUTOINCREMENT so): the sync wrote the
    primary's ids without moving their sequences, and an application inserting there took id
    1 and failed on the key. Moved as the import moves them (one piece serves both): past the
    largest id, never back; a role without UPDATE on a sequence gets the `setval` to run."""
    mirror = Db("postgresql", pg_url)
    primary, cfg = school(tmp_path, mirror)
    primary.run("INSERT INTO kelas (id, nama) VALUES (1, 'X-1'), (2, 'X-2'), (7, 'XII-1')")
    primary.run("INSERT INTO siswa (kelas_id, nama) VALUES (1, 'Ani'), (7, 'Budi')")
    code, err = sync_cli(cfg, "--tables", "kelas,siswa")
    assert code == 0, err
    assert mirror.run("INSERT INTO kelas (nama) VALUES ('app') RETURNING id") == [(8,)]
    assert mirror.run("INSERT INTO siswa (kelas_id, nama) VALUES (1, 'app') RETURNING id") == [(3,)]
    # Never back: a sequence ahead of the ids stays where it is.
    mirror.run("SELECT setval('kelas_id_seq', 100)")
    primary.run("INSERT INTO kelas (id, nama) VALUES (9, 'XII-2')")
    code, err = sync_cli(cfg, "--tables", "kelas")
    assert code == 0, err
    assert mirror.run("SELECT last_value FROM kelas_id_seq") == [(100,)]
    # An identity GENERATED ALWAYS (a Supabase table made by hand): the upsert of the next
    # sync was refused, "cannot insert a non-DEFAULT value into column "id"".
    primary.run("CREATE TABLE guru (id INTEGER PRIMARY KEY, nama TEXT, updated_at DATETIME)")
    primary.run("INSERT INTO guru VALUES (1, 'A', '2025-01-01 00:00:00')")
    mirror.run(
        "CREATE TABLE guru (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, nama text, "
        "updated_at timestamp, synced_at timestamp)"
    )
    code, err = sync_cli(cfg, "--tables", "guru")
    assert code == 0, err
    primary.run("INSERT INTO guru VALUES (5, 'B', '2026-01-01 00:00:00')")
    primary.run("UPDATE guru SET nama = 'A2', updated_at = '2026-01-01 00:00:00' WHERE id = 1")
    code, err = sync_cli(cfg, "--tables", "guru")
    assert code == 0 and "guru   updated_at" in err, err
    assert mirror.run("SELECT id, nama FROM guru ORDER BY id") == [(1, "A2"), (5, "B")]
    assert mirror.run("INSERT INTO guru (nama) VALUES ('app') RETURNING id") == [(6,)]
    # A role that may write the copies but not move their sequences: synced, and told.
    role = f"sync_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        for grant in (
            "SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public",
            "USAGE ON ALL SEQUENCES IN SCHEMA public",
            "CREATE ON SCHEMA public",
        ):
            mirror.run(f"GRANT {grant} TO {role}")
        mirror.run("SELECT setval('kelas_id_seq', 9)")
        primary.run("INSERT INTO kelas (id, nama) VALUES (12, 'XII-3')")
        mine = tmp_path / "role.toml"
        mine.write_text(
            Path(cfg[1]).read_text().replace("://postgres@", f"://{role}@"), encoding="utf-8"
        )
        code, err = sync_cli(["--config", str(mine)], "--tables", "kelas")
        assert code == 0, err
        (warning,) = [line for line in err.splitlines() if line.startswith("warning: kelas:")]
        assert warning.startswith(
            "warning: kelas: the sequence public.kelas_id_seq was not moved past the synced id "
            "values (permission denied for sequence kelas_id_seq)"
        ), warning
        statement = warning.split("; run ", 1)[1]
        assert statement == (
            'SELECT setval(\'public.kelas_id_seq\', (SELECT max("id") FROM "public"."kelas"));'
        )
        mirror.run(statement)  # as it says
        assert mirror.run("INSERT INTO kelas (nama) VALUES ('app') RETURNING id") == [(13,)]
    finally:
        for where in (pg_url, pg_cluster.superuser_url):
            with psycopg.connect(where, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _consistent(mirror: Db) -> None:
    """Every row of the mirror has its parent (PostgreSQL and D1 refuse any other commit)."""
    if mirror.kind == "postgresql":
        orphans = mirror.run(
            "SELECT count(*) FROM siswa s WHERE NOT EXISTS (SELECT FROM kelas k WHERE k.id = "
            "s.kelas_id) UNION ALL SELECT count(*) FROM nilai n WHERE NOT EXISTS (SELECT FROM "
            "siswa s WHERE s.id = n.siswa_id)"
        )
        assert orphans == [(0,), (0,)]
    else:
        assert mirror.run("PRAGMA foreign_key_check") == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_related_tables_sync_parents_first_and_their_deletes_after_the_children(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """A mirror `up` built holds the migrations' foreign keys (kelas ← siswa ← nilai). The
    sync went table by table in the source's order: nilai before siswa stopped on "violates
    foreign key constraint" (or SQLite's "FOREIGN KEY constraint failed") half-way; a class
    deleted (or its key changed) at the source while the copy's students still referred to it
    stopped it too. Now parents go first, and a parent's deletes that a child's copy still
    refers to wait until the children are synced; every commit keeps the copy consistent."""
    mirror = make_db(kind, request, tmp_path, "mirror")
    primary, cfg = school(tmp_path, mirror)
    primary.run("PRAGMA foreign_keys = ON")
    primary.run("INSERT INTO kelas (id, nama) VALUES (1, 'X-1'), (2, 'X-2'), (3, 'X-3')")
    primary.many(
        "INSERT INTO siswa (id, kelas_id, ketua_id, nama) VALUES (?, ?, ?, ?)",
        [(i, 1 + i % 3, 9, f"Siswa {i}") for i in range(1, 10)],
    )
    primary.many(
        "INSERT INTO nilai (siswa_id, skor) VALUES (?, ?)", [(1 + i % 9, 70 + i) for i in range(20)]
    )
    code, err = sync_cli(cfg)
    assert code == 0, err
    assert "siswa: full" in err.split("nilai: full")[0], err  # the plan says the order
    _consistent(mirror)
    # Class 2 becomes 20 (its students move with it), a student leaves with their grades, and
    # a new one comes with a grade: inserts, updates and deletes across the three tables.
    script = (
        "PRAGMA foreign_keys = ON; INSERT INTO kelas (id, nama) VALUES (20, 'X-2'); "
        "UPDATE siswa SET kelas_id = 20, updated_at = '2030-01-01 00:00:00' WHERE kelas_id = 2; "
        "DELETE FROM kelas WHERE id = 2; DELETE FROM nilai WHERE siswa_id = 4; "
        "DELETE FROM siswa WHERE id = 4; INSERT INTO siswa (id, kelas_id, nama) VALUES (30, 20, "
        "'Baru'); INSERT INTO nilai (siswa_id, skor) VALUES (30, 99);"
    )
    assert primary.path is not None
    with sqlite3.connect(primary.path) as conn:
        conn.executescript(script)
    code, err = sync_cli(cfg, "--json")
    assert code == 0, err
    counts = {
        r["table"]: (r["inserted"], r["updated"], r["deleted"])
        for r in json.loads(err[err.index("[{") :])
    }
    # siswa 4's grades went with it at the source and, by the copy's own ON DELETE CASCADE,
    # in the copy: the sync deleted one student (D1 counts as SQLite's total_changes()
    # does, the cascaded grades too).
    siswa_deleted = 3 if kind == "d1" else 1
    assert counts == {"kelas": (1, 0, 1), "siswa": (1, 2, siswa_deleted), "nilai": (1, 0, 0)}
    _consistent(mirror)
    assert mirror.run("SELECT id FROM kelas ORDER BY id") == [(1,), (3,), (20,)]
    assert mirror.run("SELECT count(*) FROM siswa WHERE kelas_id = 20") == [(3,)]
    res = run_inproc(*cfg, "sync", "verify", "--from", "primary", "--to", "mirror")
    assert res.code == 0, res.err
    # A class deleted at the source whose students' copy is not synced in this run: kept (the
    # copy stays consistent), said, not stopped half-way; the next whole sync deletes it.
    with sqlite3.connect(primary.path) as conn:
        conn.executescript(
            "PRAGMA foreign_keys = ON; UPDATE siswa SET kelas_id = 1, updated_at = "
            "'2030-01-02 00:00:00' WHERE kelas_id = 3; DELETE FROM kelas WHERE id = 3;"
        )
    code, err = sync_cli(cfg, "--tables", "kelas")
    assert code == 1, err
    assert "kelas: rows deleted at the source are kept in the copy: other tables' rows" in err
    assert "kelas: extra: id=3" in err, err
    _consistent(mirror)
    code, err = sync_cli(cfg)
    assert code == 0, err
    assert mirror.run("SELECT id FROM kelas ORDER BY id") == [(1,), (20,)]
    _consistent(mirror)
