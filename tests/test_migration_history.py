"""A migration set as teams keep it for months, on every backend of the matrix: files renamed
after they ran, template files that touch the tracking table themselves. Each test checks the
real database, the tracking rows and the audit rows."""

from __future__ import annotations

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.errors import ChecksumDrift
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import (
    MigrationState,
    apply_plan,
    plan_rollback,
    plan_up,
    repair,
    status,
    verify,
)
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget


def _up(b: Backend, d: MigrationDirs) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(b, mset, plan_up(b, mset)).done]


def _down(b: Backend, d: MigrationDirs, steps: int = 1) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(b, mset, plan_rollback(b, mset, steps=steps)).done]


def _seed_set(d: MigrationDirs) -> None:
    d.add(
        "20250101_000100",
        "create_kelas",
        "CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL);",
        "DROP TABLE kelas;",
    )
    # Seed data: run twice, it is two of every row (no key to stop it).
    d.add(
        "20250101_000200",
        "seed_kelas",
        "INSERT INTO kelas (id, nama) SELECT count(*) + 1, 'X-A' FROM kelas;",
        "DELETE FROM kelas WHERE nama = 'X-A';",
    )


def test_a_file_renamed_after_it_ran_is_drift_not_run_again(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    d = mdirs
    _seed_set(d)
    b = db_target.open(d)
    assert len(_up(b, d)) == 2
    old = d.migrations / "20250101_000200_seed_kelas.sql"
    new = old.with_name("20250101_000200_seed_data_kelas.sql")  # a name fixed in review
    old.rename(new)

    report = status(b, discover(d.migrations, d.rollback))
    rows = {m.filename: m for m in report.migrations}
    assert set(rows) == {"20250101_000100_create_kelas.sql", new.name}  # not missing + pending
    assert rows[new.name].state is MigrationState.DRIFTED
    assert rows[new.name].recorded_filename == old.name
    assert any("renamed since it ran" in w for w in report.warnings)
    assert verify(b, discover(d.migrations, d.rollback)).drifted[0].filename == new.name
    with pytest.raises(ChecksumDrift, match=r"recorded as 20250101_000200_seed_kelas\.sql"):
        _up(b, d)
    assert b.row_count("kelas") == 1  # it ran once, and only once

    assert repair(b, discover(d.migrations, d.rollback)) == [new.name]
    recs = {r.filename: r for r in b.fetch_records()}
    assert set(recs) == {"20250101_000100_create_kelas.sql", new.name}
    assert recs[new.name].success
    audit = b.read_audit(action="repair")[0]
    assert audit.object == new.name and f"renamed {old.name} → {new.name}" in audit.detail
    assert verify(b, discover(d.migrations, d.rollback)).ok
    assert _up(b, d) == []
    assert _down(b, d) == [new.name]  # the row under its new name is the one removed
    assert b.row_count("kelas") == 0
    assert {r.filename for r in b.fetch_records()} == {"20250101_000100_create_kelas.sql"}
    b.close()
