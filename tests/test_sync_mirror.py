"""A sync into a mirror that `up` built from the primary's own SQLite migrations (a reporting
database kept by the school's migrations, not by the sync): its serial/identity columns and
its foreign keys between tables (kelas ← siswa ← nilai)."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from tests.fixtures_pg import PgCluster
from tests.inproc import run_inproc
from tests.sync_support import Db

MIGRATIONS = {
    "20260101_000000_kelas.sql": "CREATE TABLE kelas (\n"
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    nama TEXT NOT NULL,\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
    "20260101_000100_siswa.sql": "CREATE TABLE siswa (\n"
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    kelas_id INTEGER NOT NULL REFERENCES kelas(id),\n"
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
    res = run_inproc(*cfg, "sync", "--from", "primary", "--to", "mirror", "--yes", *more)
    return res.code, res.err


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
