"""A PostgreSQL destination table that the sync did not create (an operator's) whose primary
key is DEFERRABLE: PostgreSQL's upsert (``INSERT … ON CONFLICT``), which the sync writes by,
cannot use it as its arbiter. The plan said all was well and the first chunk of changed rows
failed ("ON CONFLICT does not support deferrable unique constraints", exit 1, no way out);
refused up front now, dry run too (exit 2, the constraint named, how to make it usable)."""

from __future__ import annotations

from pathlib import Path

from tests.inproc import run_inproc
from tests.test_sync_cli import school


def test_a_copy_keyed_by_a_deferrable_primary_key_is_refused_in_the_plan(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst, cfg = school(tmp_path, pg_url)
    src.create_users(5)
    assert run_inproc("sync", "reporting", "--yes", *cfg).code == 0
    dst.run(
        "ALTER TABLE users DROP CONSTRAINT users_pkey, "
        'ADD CONSTRAINT "kunci users" PRIMARY KEY (id) DEFERRABLE INITIALLY IMMEDIATE'
    )
    src.run("UPDATE users SET name = 'baru', updated_at = '2025-11-25 09:00:00' WHERE id = 2")
    before = dst.run("SELECT * FROM users ORDER BY id")
    for how in (["--dry-run"], ["--yes"]):
        res = run_inproc("sync", "reporting", *how, *cfg)
        assert res.code == 2, res.err
        assert "Traceback" not in res.err, res.err
        assert 'primary key "kunci users" of users' in res.err, res.err
        assert "is DEFERRABLE" in res.err, res.err
        assert 'DROP CONSTRAINT "kunci users", ADD CONSTRAINT "kunci users" PRIMARY KEY' in (
            res.err
        ), res.err
    assert dst.run("SELECT * FROM users ORDER BY id") == before
    dst.run(
        'ALTER TABLE users DROP CONSTRAINT "kunci users", '
        'ADD CONSTRAINT "kunci users" PRIMARY KEY (id)'
    )
    res = run_inproc("sync", "reporting", "--yes", *cfg)
    assert res.code == 0, res.err
    assert dst.run("SELECT name FROM users WHERE id = 2") == [("baru",)]
