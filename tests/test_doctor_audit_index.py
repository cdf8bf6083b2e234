"""`doctor` says an audit index left empty (D1 stopping its build at 30 s, PostgreSQL's
statement_timeout: ``WHERE 0`` / ``WHERE false``) or missing, as a warning with the statements
that build it, in text and ``--json``, on real SQLite, PostgreSQL and the local D1 server. The
command that left it so said it once; nothing said it again while `check`'s lookups of the
sync pairs that never completed walked the whole trail."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.urls import sqlite_path
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import BACKENDS, DbTarget
from tests.inproc import run_inproc

EMPTY = "malnu_audit_action_object_id"
MISSING = "malnu_audit_action_object_outcome_id"


def _run(t: DbTarget, d: MigrationDirs, stmts: list[str]) -> None:
    """Run ``stmts`` on the target as its owner would by hand (psql, sqlite3, D1's console)."""
    if t.kind == "sqlite":
        conn = sqlite3.connect(sqlite_path(t.url), isolation_level=None)
        for s in stmts:
            conn.execute(s)
        conn.close()
    elif t.kind == "postgresql":
        with psycopg.connect(t.url, autocommit=True) as pg:
            for s in stmts:
                pg.execute(s)  # type: ignore[arg-type]
    else:
        backend = t.open(d)
        try:
            for s in stmts:
                backend.api.batch([s], lambda: True)  # type: ignore[attr-defined]
        finally:
            backend.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_doctor_warns_of_an_empty_or_missing_audit_index_with_its_statements(
    kind: str,
    fresh_db: Callable[[str], DbTarget],
    mdirs: MigrationDirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALNU_BACKUP_DIR", str(tmp_path / "backups"))
    t = fresh_db(kind)
    t.open(mdirs).close()  # the tool's tables and their three audit indexes
    where = "false" if kind == "postgresql" else "0"
    cols = "(action, object, id)"
    _run(t, mdirs, [f"DROP INDEX {EMPTY}", f"DROP INDEX {MISSING}",
                    f"CREATE INDEX {EMPTY} ON malnu_audit {cols} WHERE {where}"])  # fmt: skip
    args = ("--database", t.url, *mdirs.args(), "doctor")

    res = run_inproc(*args, "--json")
    assert res.code == 0, res.out + res.err  # a warning: it only slows `check` down
    assert "1 with a warning" in res.err
    checks = json.loads(res.out)["checks"]
    (c,) = [c for c in checks if c["check"] == "audit index"]
    assert c["ok"] is True and c["warning"] is True, c
    assert set(c) == {"target", "check", "ok", "detail", "fix", "warning"}
    assert f"{EMPTY} made empty" in c["detail"] and f"{MISSING} missing" in c["detail"]
    assert "malnu_audit_action_id" not in c["detail"]  # the one in place is not named
    assert f"DROP INDEX {'public.' if kind == 'postgresql' else ''}{EMPTY};" in c["fix"]
    assert not re.search(rf"DROP INDEX \S*{MISSING}", c["fix"])
    assert all(c["warning"] is False for c in checks if c["check"] != "audit index")

    res = run_inproc(*args)
    line = next(ln for ln in res.out.splitlines() if " audit index: " in ln)
    assert re.match(r"WARN \S+ audit index: ", line) and "(fix: " in line, line
    assert res.code == 0, res.out + res.err

    # Its statements, run as written, build them: the next doctor says them in place.
    fix = c["fix"].split(": ", 1)[-1] if kind == "postgresql" else c["fix"]
    fix = re.sub(r" \(D1 stops .*\)$", "", fix)
    _run(t, mdirs, [s.strip() for s in fix.split(";") if s.strip()])
    res = run_inproc(*args)
    assert re.search(
        r"^OK   \S+ audit index: the 3 indexes of malnu_audit are in place$", res.out, re.M
    ), res.out
    assert "WARN" not in res.out and res.code == 0, res.out + res.err
