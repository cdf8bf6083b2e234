"""A large seed in a SQLite-dialect set translated for PostgreSQL (`plan`, `diff`, `up` on a
PostgreSQL target): a migration not asked for is translated as it is read from the file, for
the schema it leaves; one whose translation is shown or run is refused over
TRANSLATE_WHOLE_BYTES, naming the file (the translation holds it: 18-24 times the file)."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import pytest

from malnu_tui import cli
from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.files import MigrationSet, discover
from malnu_tui.engine.plan_diff import translate_plan, translate_rollback
from malnu_tui.engine.translate import core, postgres_units
from tests.fixtures_core import MigrationDirs

_LATER = "20250103_000000_kelas.sql"


def _set(mdirs: MigrationDirs, rows: int) -> tuple[MigrationSet, int]:
    mdirs.add(
        "20250101_000000",
        "siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, aktif BOOLEAN DEFAULT 1);",
        "DROP TABLE siswa;",
    )
    note = "catatan; O''Brien " * 100  # (rows with long values: the test's time is per row)
    seed = "".join(
        f"INSERT INTO siswa (id, nama, aktif) VALUES ({i}, 'Siswa {i} {note}', {i % 2});\n"
        for i in range(1, rows + 1)
    )
    path = mdirs.add("20250102_000000", "seed", seed, "DELETE FROM siswa;")
    mdirs.add(
        "20250103_000000",
        "kelas",
        """
        ALTER TABLE siswa ADD COLUMN kelas TEXT DEFAULT 'X';
        CREATE INDEX siswa_aktif ON siswa (aktif) WHERE aktif = 1;
        CREATE TRIGGER siswa_end AFTER UPDATE OF aktif ON siswa BEGIN
          UPDATE siswa SET kelas = CASE WHEN NEW.aktif THEN 'X' ELSE NULL END WHERE id = NEW.id;
        END;
        """,
        "DROP TRIGGER siswa_end; DROP INDEX siswa_aktif; ALTER TABLE siswa DROP COLUMN kelas;",
    )
    return discover(mdirs.migrations, mdirs.rollback), path.stat().st_size


def _peak(call: object) -> int:
    tracemalloc.start()
    try:
        call()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_translations_after_a_large_seed_do_not_hold_it(mdirs: MigrationDirs) -> None:
    """`plan`/`diff` of the migration after an applied 1.9 MB seed, `rollback` of it on a
    PostgreSQL target, and `up` of it there: the seed was translated whole each time, its
    text, statements and PostgreSQL held (18-24 times the file for short rows); now a statement
    at a time, the results the same as when every file is kept."""
    mset, size = _set(mdirs, 1_000)
    whole_plan = translate_plan(mset.migrations)[2]
    whole_units = postgres_units(mset)
    whole_rollback = translate_rollback(mset.migrations, _LATER)
    got: dict[str, object] = {}

    def plan() -> None:
        got["plan"] = translate_plan(mset.migrations, [_LATER])

    def units() -> None:
        got["units"] = postgres_units(mset, [_LATER])

    def rollback() -> None:
        got["rollback"] = translate_rollback(mset.migrations, _LATER)

    translate_plan(mset.migrations, [_LATER])  # (what the first translation caches is not it)
    for call in (plan, units, rollback):
        assert _peak(call) < 2 * size, call.__name__  # (3.7 times the file before)
    assert got["plan"] == [whole_plan]
    assert got["rollback"] == whole_rollback
    kept = got["units"]
    assert isinstance(kept, type(whole_units))
    assert kept.migrations[_LATER] == whole_units.migrations[_LATER]
    assert kept.rollbacks == whole_units.rollbacks
    assert kept.findings[_LATER] == whole_units.findings[_LATER]


def test_a_file_too_large_to_translate_is_refused_naming_it(
    mdirs: MigrationDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Over the limit (lowered here to 300 KB), `plan --all` and `diff` showing the seed, and
    a PostgreSQL target's `up` of it, are refused with one line naming the file and what to
    do, exit 2; `plan` of the migration after it still works."""
    mset, size = _set(mdirs, 200)
    assert size > 300_000
    monkeypatch.setattr(core, "TRANSLATE_WHOLE_BYTES", 300_000)
    seed = str(mdirs.migrations / "20250102_000000_seed.sql")
    with pytest.raises(MigrationFileError) as err:
        postgres_units(mset, ["20250102_000000_seed.sql"])
    assert str(err.value).startswith(f"{seed}: 0.4 MB is too large to translate to PostgreSQL")
    postgres_units(mset, [_LATER])  # (the seed only for the schema it leaves)
    common = ["--database", f"sqlite:///{tmp_path / 'p.db'}", *mdirs.args()]
    monkeypatch.setattr(sys, "argv", ["malnu-tui"])
    capsys.readouterr()
    for command in (["plan", "--all"], ["diff", "20250102_000000"]):
        assert cli.main([*common, *command]) == 2, command
        err_lines = capsys.readouterr().err.splitlines()
        assert err_lines == [
            f"error: {seed}: 0.4 MB is too large to translate to PostgreSQL here (the "
            "translation is held whole, about 20 times the file in memory; at most 0 MB): "
            "name the migrations to show instead of --all (`plan VERSION`), or split it into "
            "migrations of at most 0 MB each"
        ]
    assert cli.main([*common, "plan", "20250103_000000"]) == 0
    assert "ALTER TABLE siswa ADD COLUMN kelas" in capsys.readouterr().out


def test_a_postgresql_target_runs_a_sqlite_set_after_a_large_seed(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A PostgreSQL target of the school's SQLite files (dialect = "sqlite"): `up` of a seed
    over the limit is refused before anything runs, naming it (exit 2); once it is applied,
    `up` of the migration after it translates the seed only for the schema it leaves."""
    import psycopg

    _set(mdirs, 200)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.reporting]\nurl = "{pg_url}"\nmigrations_dir = "{mdirs.migrations}"\n'
        f'rollback_dir = "{mdirs.rollback}"\ndialect = "sqlite"\n'
    )
    seed = str(mdirs.migrations / "20250102_000000_seed.sql")
    monkeypatch.setattr(sys, "argv", ["malnu-tui"])
    limit = core.TRANSLATE_WHOLE_BYTES
    monkeypatch.setattr(core, "TRANSLATE_WHOLE_BYTES", 300_000)
    capsys.readouterr()
    assert cli.main(["--config", str(cfg), "up", "--yes", "--no-backup"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {seed}: 0.4 MB is too large to translate to PostgreSQL here (the translation "
        "is held whole, about 20 times the file in memory; at most 0 MB): split it into "
        "migrations of at most 0 MB each"
    ]
    monkeypatch.setattr(core, "TRANSLATE_WHOLE_BYTES", limit)
    args = ["--config", str(cfg), "up", "--yes", "--no-backup"]
    assert cli.main([*args, "--to", "20250102_000000"]) == 0
    monkeypatch.setattr(core, "TRANSLATE_WHOLE_BYTES", 300_000)
    assert cli.main(args) == 0, capsys.readouterr().err
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*), min(kelas) FROM siswa").fetchone()
    assert row == (200, "X")
