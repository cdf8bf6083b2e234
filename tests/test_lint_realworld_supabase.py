"""A real Supabase project's migration set, StudyU's (tests/realworld/README.md: a pg_dump-style
baseline with its own BEGIN/COMMIT; 25 policies in the end, most calling ``auth.uid()``;
SECURITY DEFINER functions, a trigger on ``auth.users``, enums, a deferred foreign key, a
CONCURRENTLY index), put through what an operator runs on it: ``lint --all`` with no config
(the dialect and Supabase's rules guessed from its ``supabase/migrations`` folder), ``test``
on a scratch database, ``plan``, ``up`` and ``status`` on a Supabase-shaped PostgreSQL database
(its roles, its ``auth`` schema, pgcrypto and uuid-ossp in ``extensions``). Every finding is
pinned: each is true, or a documented, deliberate one. Two databases for the module."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from malnu_tui.engine.lint.supabase import Supabase
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster, create_database, drop_database
from tests.test_supabase_backup import SUPABASE_PLATFORM, supabase_platform

SET = Path(__file__).parent / "realworld" / "studyu_supabase" / "supabase"
FILES = sorted(p.name for p in (SET / "migrations").glob("*.sql"))

# (rule, version, line, severity) of `lint --all`, in its order. Beside them every file has
# its NO-ROLLBACK error: Supabase sets are forward-only, and this tool asks for a rollback.
LINT_ALL = [
    # The trigger on auth.users after pg_dump's `SET lock_timeout = 0`. (Its `ALTER TABLE
    # study_progress_export OWNER TO` of the view the file creates was named instead.)
    ("PG-LOCK-TIMEOUT", "00000000000001", 823, "warning"),
    ("PG-LOCK-TIMEOUT", "20260706074059", 26, "warning"),  # DROP POLICY on study_subject
    # DROP FUNCTION get_study_record_from_invite(text), CREATE … RETURNS jsonb: it returned a
    # row of study, which the deployed app reads (its later jsonb → jsonb one is the same shape)
    ("OBJECT-SHAPE-CHANGED", "20260706074059", 34, "warning"),
    ("PG-LOCK-TIMEOUT", "20260707100000", 3, "warning"),  # … REFERENCES study_subject
    ("PG-RLS-NO-POLICY", "20260707100000", 34, "info"),  # written by a SECURITY DEFINER rpc
    ("PG-LOCK-TIMEOUT", "20260709120000", 11, "warning"),
    ("PG-RLS-NO-POLICY", "20260709120000", 11, "info"),  # read by SECURITY DEFINER rpcs only
    ("PG-LOCK-TIMEOUT", "20260713130500", 15, "warning"),
    # SET NOT NULL after `SET created_at = COALESCE(created_at, NOW()), updated_at = … WHERE
    # created_at IS NULL OR updated_at IS NULL`: no row fails, the scan stays (it was an error).
    ("SET-NOT-NULL", "20260713130500", 27, "warning"),
    ("SET-NOT-NULL", "20260713130500", 27, "warning"),
    ("PG-INDEX-NOT-CONCURRENT", "20260713142000", 14, "warning"),
    ("PG-LOCK-TIMEOUT", "20260713142000", 14, "warning"),
    # IF NOT EXISTS of the index the migration before made: nothing builds, but PostgreSQL
    # takes SHARE on study_subject before it looks (measured), so writes wait all the same.
    ("PG-INDEX-NOT-CONCURRENT", "20260714113000", 3, "warning"),
    ("PG-LOCK-TIMEOUT", "20260714113000", 3, "warning"),
    ("PG-LOCK-TIMEOUT", "20260803113000", 3, "warning"),
    ("PG-LOCK-TIMEOUT", "20260826063632", 9, "warning"),
    ("PG-LOCK-TIMEOUT", "20260831140518", 3, "warning"),
]
_LINT_LINE = re.compile(r"^lint: (\d{14})_\S+:(\d+): (\w+) \[([A-Z0-9-]+)\]", re.MULTILINE)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project: supabase/migrations (StudyU's files) and an empty supabase/rollback."""
    root = tmp_path_factory.mktemp("studyu")
    shutil.copytree(SET, root / "supabase")
    (root / "supabase" / "rollback").mkdir()
    return root


def _dirs(root: Path) -> list[str]:
    where = root / "supabase"
    return ["--migrations-dir", str(where / "migrations"), "--rollback-dir",
            str(where / "rollback")]  # fmt: skip


@dataclass(frozen=True)
class Project:
    root: Path
    url: str  # the target: Supabase's platform, no migration applied yet
    scratch: str  # another such database, for `test --postgres`

    def sql(self, query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def project(pg_cluster: PgCluster, root: Path) -> Iterator[Project]:
    names = [create_database(pg_cluster), create_database(pg_cluster)]
    for name in names:
        with psycopg.connect(pg_cluster.url(name), autocommit=True) as conn:
            supabase_platform(conn, SUPABASE_PLATFORM)
    try:
        yield Project(root, pg_cluster.url(names[0]), pg_cluster.url(names[1]))
    finally:
        for name in names:
            drop_database(pg_cluster, name)


def test_lint_all_with_no_config_pins_every_finding(root: Path) -> None:
    res = run_cli(*_dirs(root), "lint", "--all", "--json", cwd=root)
    assert res.code == 1, res.err  # the NO-ROLLBACK errors
    report = json.loads(res.out)
    assert report["dialect"] == "postgresql" and "supabase/migrations" in report["dialect_from"]
    assert "supabase" in report["rule_sets"]
    found = [(f["rule"], f["file"][:14], f["line"], f["severity"]) for f in report["findings"]]
    assert [f for f in found if f[0] != "NO-ROLLBACK"] == LINT_ALL
    assert sorted(f[1] for f in found if f[0] == "NO-ROLLBACK") == [n[:14] for n in FILES]
    why = {(f["rule"], f["line"]): f["why"] for f in report["findings"]}
    assert why[("PG-LOCK-TIMEOUT", 823)].startswith("CREATE TRIGGER on auth.users")
    assert "the UPDATE at line 21 fills its NULLs first" in why[("SET-NOT-NULL", 27)]
    assert "(it returned study, now jsonb)" in why[("OBJECT-SHAPE-CHANGED", 34)]


def test_test_plan_up_and_status_on_a_supabase_database(project: Project) -> None:
    base = [*_dirs(project.root), "--database", project.url]
    res = run_cli(*base, "test", "--postgres", project.scratch, "--json", timeout=120)
    assert res.code == 1, res.err  # no stair can roll back; each one applies
    steps = json.loads(res.out)["steps"]
    assert [(s["filename"], s["stage"]) for s in steps] == [(f, "no-rollback") for f in FILES]
    assert steps[0]["message"].startswith("it applies") and steps[0]["ms"] > 0
    # The trigger on auth.users stays, and the tables in public; not the server's extensions,
    # which were there before (it named pgcrypto and uuid-ossp as the set's).
    assert "stays on the server: auth, public (" in res.err, res.err
    assert "extension(s)" not in res.err

    res = run_cli(*base, "plan")
    assert res.code == 0, res.err
    found = [(r, v, int(line), sev) for v, line, sev, r in _LINT_LINE.findall(res.err)]
    # On a PostgreSQL target the tool sets lock_timeout itself: only the baseline's own
    # `SET lock_timeout = 0` leaves a statement waiting without one.
    assert [f for f in found if f[0] != "NO-ROLLBACK"] == [
        f for f in LINT_ALL if f[0] != "PG-LOCK-TIMEOUT" or f[1] == "00000000000001"
    ]

    res = run_cli(*base, "up", "--yes", "--no-backup", timeout=120)
    assert res.code == 0, res.err
    assert f"applied {len(FILES)} migration(s)" in res.err
    res = run_cli(*base, "status", "--json")
    assert res.code == 0, res.err
    states = [(m["filename"], m["state"]) for m in json.loads(res.out)["migrations"]]
    assert states == [(f, "applied") for f in FILES]
    project.sql("INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-00000000000a', 'a@x')")
    assert project.sql('SELECT email FROM public."user"') == [("a@x",)]  # handle_new_user()
    policies = project.sql("SELECT count(*) FROM pg_policies WHERE schemaname = 'public'")
    assert policies == [(25,)]


def test_set_not_null_after_an_update_that_fills_the_nulls(mdirs: MigrationDirs) -> None:
    # StudyU backfills two new columns in one UPDATE (`SET c = COALESCE(c, NOW()), d = …
    # WHERE c IS NULL OR d IS NULL`), then SET NOT NULL: no row can fail it, yet it was an
    # error; only `SET c = <constant> WHERE c IS NULL` was read as a fill. An UPDATE that
    # can leave a NULL behind keeps the error.
    mdirs.add("20250101_000100", "base", "CREATE TABLE t (id int, a int, b timestamptz);",
              "DROP TABLE t;")  # fmt: skip
    cases = [
        (
            "UPDATE t SET a = COALESCE(a, 0), b = coalesce(b, now()) WHERE a IS NULL OR b IS NULL",
            "warning",
            "warning",
        ),
        ("UPDATE public.t SET b = CURRENT_TIMESTAMP, a = 1::int", "warning", "warning"),
        ("UPDATE t SET a = 1 WHERE (a IS NULL)", "warning", "error"),
        ("UPDATE t SET a = COALESCE(a, 0) WHERE b IS NULL", "error", "error"),
        (
            "UPDATE t SET a = COALESCE(a, NULL), b = now() WHERE a IS NULL AND b IS NULL",
            "error",
            "error",
        ),
        ("UPDATE t SET a = id WHERE a IS NULL OR b IS NULL", "error", "error"),
        # A COALESCE that is not the whole value (its NULLIF may give NULL): was a fill.
        ("UPDATE t SET a = COALESCE(a, 0) * NULLIF(id, 0) WHERE a IS NULL", "error", "error"),
    ]
    for n, (update, a, b) in enumerate(cases):
        sql = f"SET lock_timeout = '5s';\n{update};\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"
        sql += "\nALTER TABLE t ALTER COLUMN b SET NOT NULL;"
        name = f"20250101_0002{n:02d}_fill.sql"
        mdirs.add(name[:15], "fill", sql, "SELECT 1;")
        mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
        found = lint_migrations(mset, [name], dialect="postgresql").findings
        got = [f.severity for f in found if f.rule == "SET-NOT-NULL"]
        assert got == [a, b], update
        (mdirs.migrations / name).unlink()


# Supabase's own example (supabase/supabase, examples/supa-builder, Apache-2.0), its
# 20260131000005_fix_rls_recursion.sql in part: policies named as Supabase's dashboard and
# most Supabase files name them, quoted, capitals and spaces.
OPEN_ROLES = """
drop policy if exists "Admins can assign roles" on public.user_roles;
create policy "Allow role assignments"
  on public.user_roles
  for insert
  to authenticated
  with check (true);  -- Will be validated by application logic
create policy "Allow role updates"
  on public.user_roles
  for update
  to authenticated
  using (true)
  with check (true);  -- Will be validated by application logic
"""


def test_a_quoted_policy_is_named_as_postgresql_knows_it(mdirs: MigrationDirs) -> None:
    # Findings named a policy folded (`policy allow role assignments (INSERT) lets …`, `does
    # not drop policy allow role updates on user_roles`): no policy has that name, and
    # `drop policy allow role updates` is a syntax error. They quote it as written now.
    mdirs.add("20260131000001", "roles", "create table public.user_roles (id uuid, role text);"
              "\nalter table public.user_roles enable row level security;",
              "drop table public.user_roles;")  # fmt: skip
    mdirs.add("20260131000005", "open", OPEN_ROLES, 'drop policy "Allow role assignments" '
              "on public.user_roles;")  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, [m.filename for m in mset.migrations], dialect="postgresql",
                             session_lock_timeout=True, supabase=Supabase("test"))  # fmt: skip
    found = [(f.rule, f.line, f.why) for f in report.findings if f.file[:14] == "20260131000005"]
    assert [x[:2] for x in found] == [
        ("SUPABASE-OPEN-WRITE", 2),
        ("ROLLBACK-LEAVES-OBJECTS", 7),
        ("SUPABASE-OPEN-WRITE", 7),
    ], found
    assert found[0][2].startswith('policy "Allow role assignments" (INSERT) lets authenticated')
    assert 'does not drop policy "Allow role updates" on user_roles' in found[1][2]
    assert found[2][2].startswith('policy "Allow role updates" (UPDATE) lets authenticated')
