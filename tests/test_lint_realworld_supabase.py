"""A Supabase project's set written for this project, ``supabase_dump_like`` (a school's
classes, assignments and submissions; tests/realworld/README.md): a ``supabase db dump``-shaped
baseline with its own BEGIN/COMMIT, ``SET lock_timeout = 0``, enums, 18 policies calling
``auth.uid()``, SECURITY DEFINER functions, a trigger on ``auth.users``, a deferred foreign key;
then 13 migrations as teams write them (grants, a function re-made as ``jsonb``, new tables with
row level security, a backfill and SET NOT NULL, indexes, a CONCURRENTLY index last). Put
through what an operator runs on it: ``lint --all`` with no config (the dialect and Supabase's
rules guessed from its ``supabase/migrations`` folder), ``test`` on a scratch database,
``plan``, ``up`` and ``status`` on a Supabase-shaped PostgreSQL database (its roles, its
``auth`` schema, pgcrypto and uuid-ossp in ``extensions``). Every finding is pinned and was
checked: each is true. Two databases for the module."""

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

SET = Path(__file__).parent / "realworld" / "supabase_dump_like" / "supabase"
FILES = sorted(p.name for p in (SET / "migrations").glob("*.sql"))
BASE = "20250106080000"

# (rule, version, line, severity) of `lint --all`, in its order. Beside them every file has
# its NO-ROLLBACK error: Supabase sets are forward-only, and this tool asks for a rollback.
LINT_ALL = [
    # profile's key to auth.users (SHARE ROW EXCLUSIVE on it: every sign-up waits) after the
    # dump's own `SET lock_timeout = 0`; once per file, so the trigger on auth.users is not.
    ("PG-LOCK-TIMEOUT", BASE, 391, "warning"),
    ("PG-LOCK-TIMEOUT", "20250120143000", 5, "warning"),  # DROP POLICY on class_member
    # DROP FUNCTION class_of_invite(text), CREATE … RETURNS jsonb: it returned a row of
    # school_class, which the deployed join screen reads (the later jsonb → jsonb is fine).
    ("OBJECT-SHAPE-CHANGED", "20250120143000", 9, "warning"),
    ("PG-LOCK-TIMEOUT", "20250203090000", 4, "warning"),  # … REFERENCES school_class
    ("PG-LOCK-TIMEOUT", "20250210110000", 6, "warning"),  # … REFERENCES school_class
    ("PG-RLS-NO-POLICY", "20250210110000", 30, "info"),  # written by a SECURITY DEFINER rpc
    ("PG-LOCK-TIMEOUT", "20250224083000", 9, "warning"),  # … REFERENCES profile
    ("PG-RLS-NO-POLICY", "20250224083000", 9, "info"),  # read by a SECURITY DEFINER rpc only
    ("PG-LOCK-TIMEOUT", "20250303120000", 6, "warning"),  # ADD COLUMN on class_invite
    # SET NOT NULL after `set created_at = coalesce(created_at, now()), expires_at =
    # coalesce(expires_at, now() + interval '30 days') where … is null or … is null`: no row
    # fails, the scan stays (expires_at's was an error: `now() + interval` read as maybe NULL).
    ("SET-NOT-NULL", "20250303120000", 15, "warning"),
    ("SET-NOT-NULL", "20250303120000", 15, "warning"),
    ("PG-LOCK-TIMEOUT", "20250310094500", 4, "warning"),  # ADD COLUMN on submission
    ("PG-INDEX-NOT-CONCURRENT", "20250310094500", 13, "warning"),
    ("PG-LOCK-TIMEOUT", "20250324100000", 5, "warning"),  # DROP POLICY on class_member
    ("PG-LOCK-TIMEOUT", "20250407080000", 3, "warning"),  # DROP POLICY on assignment
    ("PG-LOCK-TIMEOUT", "20250414150000", 4, "warning"),  # … REFERENCES profile
    # `for select to authenticated using (true)` on a table of staff e-mails and phones
    ("SUPABASE-OPEN-POLICY", "20250414150000", 14, "warning"),
]
_LINT_LINE = re.compile(r"^lint: (\d{14})_\S+:(\d+): (\w+) \[([A-Z0-9-]+)\]", re.MULTILINE)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project: supabase/migrations (the set's files) and an empty supabase/rollback."""
    root = tmp_path_factory.mktemp("school")
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
    why = {(f["rule"], f["file"][:14], f["line"]): f["why"] for f in report["findings"]}
    assert why[("PG-LOCK-TIMEOUT", BASE, 391)].startswith(
        "ALTER TABLE profile … REFERENCES auth.users (SHARE ROW EXCLUSIVE"
    )
    assert "the SET at line 5 turns the target's off" in why[("PG-LOCK-TIMEOUT", BASE, 391)]
    fills = [f["why"] for f in report["findings"] if f["rule"] == "SET-NOT-NULL"]
    assert [w.split(":")[0] for w in fills] == [
        "NOT NULL is added to class_invite.created_at",
        "NOT NULL is added to class_invite.expires_at",
    ]
    assert all("the UPDATE at line 10 fills its NULLs first" in w for w in fills)
    shape = why[("OBJECT-SHAPE-CHANGED", "20250120143000", 9)]
    assert "(it returned school_class, now jsonb)" in shape
    assert "rpc('class_of_invite')" in shape
    assert "publish_log" in why[("PG-RLS-NO-POLICY", "20250210110000", 30)]
    assert (
        "whose email, phone then reach anyone who signs up"
        in why[("SUPABASE-OPEN-POLICY", "20250414150000", 14)]
    )


def test_test_plan_up_and_status_on_a_supabase_database(project: Project) -> None:
    base = [*_dirs(project.root), "--database", project.url]
    res = run_cli(*base, "test", "--postgres", project.scratch, "--json", timeout=120)
    assert res.code == 1, res.err  # no stair can roll back; each one applies
    steps = json.loads(res.out)["steps"]
    assert [(s["filename"], s["stage"]) for s in steps] == [(f, "no-rollback") for f in FILES]
    assert steps[0]["message"].startswith("it applies") and steps[0]["ms"] > 0
    # The trigger on auth.users stays, and the tables in public; not the server's extensions,
    # which were there before.
    assert "stays on the server: auth, public (" in res.err, res.err
    assert "extension(s)" not in res.err

    res = run_cli(*base, "plan")
    assert res.code == 0, res.err
    found = [(r, v, int(line), sev) for v, line, sev, r in _LINT_LINE.findall(res.err)]
    # On a PostgreSQL target the tool sets lock_timeout itself: only the baseline's own
    # `SET lock_timeout = 0` leaves a statement waiting without one.
    assert [f for f in found if f[0] != "NO-ROLLBACK"] == [
        f for f in LINT_ALL if f[0] != "PG-LOCK-TIMEOUT" or f[1] == BASE
    ]

    res = run_cli(*base, "up", "--yes", "--no-backup", timeout=120)
    assert res.code == 0, res.err
    assert f"applied {len(FILES)} migration(s)" in res.err
    res = run_cli(*base, "status", "--json")
    assert res.code == 0, res.err
    states = [(m["filename"], m["state"]) for m in json.loads(res.out)["migrations"]]
    assert states == [(f, "applied") for f in FILES]
    teacher = "00000000-0000-0000-0000-00000000000a"
    project.sql(f"INSERT INTO auth.users VALUES ('{teacher}', 't@school')")
    # create_profile_for_new_user(), the trigger on auth.users
    assert project.sql("SELECT email, role::text FROM public.profile") == [("t@school", "student")]
    policies = project.sql("SELECT count(*) FROM pg_policies WHERE schemaname = 'public'")
    assert policies == [(25,)]
    # The plan and its first revision point at each other: the deferred key lets
    # publish_lesson_plan() write both in one transaction, as the teacher signed in.
    cls, plan = "00000000-0000-0000-0000-0000000000c1", "00000000-0000-0000-0000-0000000000b1"
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)",
                     (json.dumps({"sub": teacher}),))  # fmt: skip
        conn.execute("INSERT INTO public.school_class (id, name, school_year, teacher_id) "
                     "VALUES (%s, '7B', 2025, %s)", (cls, teacher))  # fmt: skip
        conn.execute("SELECT public.publish_lesson_plan(%s, %s, 'Fractions', '{}')", (plan, cls))
        rows = conn.execute(
            "SELECT p.topic, r.revision, l.published_by::text FROM public.lesson_plan p"
            " JOIN public.lesson_plan_revision r ON r.id = p.current_revision_id"
            " JOIN public.lesson_plan_publish_log l ON l.revision_id = r.id"
        ).fetchall()
    assert rows == [("Fractions", 1, teacher)]


def test_set_not_null_after_an_update_that_fills_the_nulls(mdirs: MigrationDirs) -> None:
    # A Supabase file backfills two new columns in one UPDATE (`SET c = COALESCE(c, NOW()),
    # d = … WHERE c IS NULL OR d IS NULL`), then SET NOT NULL: no row can fail it, yet it was
    # an error; only `SET c = <constant> WHERE c IS NULL` was read as a fill. So was a sum of
    # such values, `now() + interval '30 days'` (the set's join-code expiry): read as maybe
    # NULL, an error. An UPDATE that can leave a NULL behind keeps the error.
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
        (
            "UPDATE t SET b = coalesce(b, now() + interval '30 days'), a = (2 - -1) + 1"
            " WHERE b IS NULL OR a IS NULL",
            "warning",
            "warning",
        ),
        ("UPDATE t SET b = (CURRENT_DATE - 7) + TIME '08:00' WHERE b IS NULL", "error", "warning"),
        # A sum with a column in it is NULL where the column is; `->` is no minus.
        ("UPDATE t SET a = a + 1, b = now() - b WHERE a IS NULL OR b IS NULL", "error", "error"),
        ("UPDATE t SET a = '{}'::jsonb->'n' WHERE a IS NULL", "error", "error"),
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


def test_a_cast_followed_by_an_operator_is_no_fill_of_the_nulls(mdirs: MigrationDirs) -> None:
    # A constant's cast took every word after `::` for its type: `TRUE::boolean AND dulu`
    # and `now()::timestamp AT TIME ZONE zona` (NULL where dulu or zona is) were read as
    # never NULL, so the SET NOT NULL after them passed as a warning and failed at the
    # deploy. A type of its own words, `(10, 2)` or `[]` is still a cast of a constant.
    mdirs.add("20250101_000100", "base",
              "CREATE TABLE t (id int, a boolean, b timestamp, dulu boolean, zona text);",
              "DROP TABLE t;")  # fmt: skip
    cases = [
        ("UPDATE t SET a = TRUE::boolean AND dulu, b = now()::timestamp AT TIME ZONE zona "
         "WHERE a IS NULL OR b IS NULL", "error", "error"),
        ("UPDATE t SET a = 'true'::bool, b = now()::timestamp(3) without time zone "
         "WHERE a IS NULL OR b IS NULL", "warning", "warning"),
    ]  # fmt: skip
    for n, (update, a, b) in enumerate(cases):
        sql = f"SET lock_timeout = '5s';\n{update};\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"
        sql += "\nALTER TABLE t ALTER COLUMN b SET NOT NULL;"
        name = f"20250101_0002{n:02d}_fill.sql"
        mdirs.add(name[:15], "fill", sql, "SELECT 1;")
        mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
        found = lint_migrations(mset, [name], dialect="postgresql").findings
        assert [f.severity for f in found if f.rule == "SET-NOT-NULL"] == [a, b], update
        (mdirs.migrations / name).unlink()


# Policies named as Supabase's dashboard and most Supabase files name them, quoted, capitals
# and spaces (written for this project: grade-change requests any signed-in account may file).
OPEN_REQUESTS = """
drop policy if exists "Teachers file grade changes" on public.grade_change;
create policy "Anyone signed in files a grade change"
  on public.grade_change
  for insert
  to authenticated
  with check (true);  -- the office reads every request before it counts
create policy "Anyone signed in edits a grade change"
  on public.grade_change
  for update
  to authenticated
  using (true)
  with check (true);  -- the office reads every request before it counts
"""


def test_a_quoted_policy_is_named_as_postgresql_knows_it(mdirs: MigrationDirs) -> None:
    # Findings named a policy folded (`policy anyone signed in files a grade change (INSERT)
    # lets …`, `does not drop policy anyone signed in edits a grade change on grade_change`):
    # no policy has that name, and `drop policy anyone signed in …` is a syntax error. They
    # quote it as written now.
    mdirs.add("20250131000001", "requests", "create table public.grade_change (id uuid, "
              "points numeric);\nalter table public.grade_change enable row level security;",
              "drop table public.grade_change;")  # fmt: skip
    mdirs.add("20250131000005", "open", OPEN_REQUESTS, 'drop policy "Anyone signed in files a '
              'grade change" on public.grade_change;')  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, [m.filename for m in mset.migrations], dialect="postgresql",
                             session_lock_timeout=True, supabase=Supabase("test"))  # fmt: skip
    found = [(f.rule, f.line, f.why) for f in report.findings if f.file[:14] == "20250131000005"]
    assert [x[:2] for x in found] == [
        ("SUPABASE-OPEN-WRITE", 2),
        ("ROLLBACK-LEAVES-OBJECTS", 7),
        ("SUPABASE-OPEN-WRITE", 7),
    ], found
    assert found[0][2].startswith(
        'policy "Anyone signed in files a grade change" (INSERT) lets authenticated'
    )
    assert (
        'does not drop policy "Anyone signed in edits a grade change" on grade_change'
        in (found[1][2])
    )
    assert found[2][2].startswith(
        'policy "Anyone signed in edits a grade change" (UPDATE) lets authenticated'
    )
