"""A real wrangler D1 migration set, Cloudflare's Wildebeest (tests/realworld/README.md: 13
files as wrangler numbers them, two pairs sharing a number; an FTS5 index kept by triggers
that read ``json_extract``, ``DEFAULT (json_object())`` on the core tables, a table dropped and
made again, ``ADD`` without ``COLUMN``, table constraints with no comma between them,
``json_insert`` backfills, a ``hex(randomblob(42))`` secret), put through what an operator
switching from wrangler runs: wrangler's own ``migrations apply``, the rename the bad-name
hint asks for, ``adopt``, ``lint --all``, ``parity`` on PostgreSQL, ``up``/``test``/``rollback``
and ``status`` on the D1 stand-in, and a ``sync`` of what it holds into PostgreSQL. Every
finding is pinned: each is true, or a documented, deliberate one."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from malnu_tui.engine.translate import translate_script
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_wrangler import run_wrangler, wrangler  # noqa: F401 (the session fixture)

SET = Path(__file__).parent / "realworld" / "wildebeest_d1" / "migrations"
WRANGLER_NAMES = sorted(p.name for p in SET.glob("*.sql"))


def _renamed(i: int, name: str) -> str:
    """The rename the bad-name hint asks for: a timestamp keeping wrangler's order, the name
    kept (``0008_add_relays.sql`` → ``20230101_000008_add_relays.sql``)."""
    return f"20230101_{i:06d}_{name.split('_', 1)[1]}"


RENAMED = [_renamed(i, n) for i, n in enumerate(WRANGLER_NAMES)]


def _renamed_set(d: MigrationDirs) -> None:
    d.migrations.mkdir(parents=True, exist_ok=True)
    d.rollback.mkdir(parents=True, exist_ok=True)
    for old, new in zip(WRANGLER_NAMES, RENAMED, strict=True):
        shutil.copyfile(SET / old, d.migrations / new)


def test_empty_json_object_and_array_are_constant_text() -> None:
    """``DEFAULT (json_object())`` on Wildebeest's actors and objects: withheld as "SQLite
    writes JSON text minified, keys in their order", with every table that points at them
    (25 statements of the first file and most of the set). Of no arguments both give the
    same text, ``{}`` / ``[]``; one of pairs is still withheld."""
    sql = (
        "CREATE TABLE t (p TEXT NOT NULL DEFAULT (json_object()), a TEXT DEFAULT (json_array()));"
        "\n"
        "UPDATE t SET p = json_object() WHERE p IS NULL;\n"
        "UPDATE t SET p = json_object('k', 1);\n"
    )
    got = translate_script(sql)
    made, emptied, pairs = got.statements
    assert "DEFAULT (\n    '{}'\n  )" in made.output[0] and "'[]'" in made.output[0], made.output
    assert [f.construct for f in made.findings + emptied.findings] == []
    assert emptied.output == ("UPDATE t SET p = '{}' WHERE p IS NULL",)
    assert [f.construct for f in pairs.findings] == ["json_object()"] and not pairs.output


def test_wrangler_history_is_adopted_and_wrangler_has_nothing_left(
    wrangler: Path,  # noqa: F811
    mdirs: MigrationDirs,
) -> None:
    """wrangler applied the set locally; the operator renames the files as the hint says and
    adopts. wrangler's table kept only its old names, so `wrangler d1 migrations apply` on
    the renamed directory listed all 13 as still to apply and would have run the history
    again (0007 drops `subscriptions` with its rows). Now each adopted file's new name is
    written there too, in the adopt's own unit."""
    project = mdirs.root
    (project / "wrangler.toml").write_text(
        'name = "wildebeest"\ncompatibility_date = "2023-03-01"\n[[d1_databases]]\n'
        'binding = "DATABASE"\ndatabase_name = "wildebeest"\n'
        'database_id = "5b6c1f0e-0000-4000-8000-0123456789ab"\n'
    )
    shutil.copytree(SET, mdirs.migrations, dirs_exist_ok=True)
    mdirs.rollback.mkdir(exist_ok=True)
    wr = run_wrangler(wrangler, project, "d1", "migrations", "apply", "wildebeest", "--local")
    assert wr.returncode == 0, wr.stdout + wr.stderr
    state = next((project / ".wrangler").rglob("*.sqlite"))
    base = ["--database", f"sqlite:///{state}", *mdirs.args()]
    res = run_cli(*base, "status", cwd=project)
    assert res.code == 2 and "this is another runner's numbering" in res.err, res.err
    assert "e.g. 20240101_000001_initial.sql" in res.err
    for old, new in zip(WRANGLER_NAMES, RENAMED, strict=True):
        (mdirs.migrations / old).rename(mdirs.migrations / new)
    res = run_cli(*base, "adopt", "--wrangler-state", str(project), "--json", cwd=project)
    assert res.code == 0, res.err
    assert json.loads(res.out)["adopted"] == RENAMED
    assert "as wrangler's 0008_add_server-settings.sql" in res.err  # its own 0008, kept apart
    mdirs.add("20230102_000000", "add_bio", "ALTER TABLE actors ADD COLUMN bio TEXT;",
              "ALTER TABLE actors DROP COLUMN bio;")  # fmt: skip
    res = run_cli(*base, "up", "--no-backup", cwd=project)
    assert res.code == 0, res.err
    conn = sqlite3.connect(state)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM d1_migrations")}
    finally:
        conn.close()
    # What wrangler compares: every file of its migrations_dir by name.
    here = sorted(p.name for p in mdirs.migrations.glob("*.sql"))
    assert [n for n in here if n not in names] == []
    assert set(WRANGLER_NAMES) <= names  # wrangler's own rows are kept
    res = run_cli(*base, "adopt", "--wrangler-state", str(project), cwd=project)
    assert res.code == 0 and "nothing to adopt" in res.err
    tracked = res.err.split("already tracked: ", 1)[1].splitlines()[0].split(", ")
    assert tracked == [*RENAMED, "20230102_000000_add_bio.sql"]  # each once
