"""The catch-alls that say an exception they did not expect (a run's error in the run log, a
doctor check) say a PostgreSQL error as the rest of the tool does: its detail's secret values
masked. psycopg's own text holds the detail whole (``Key (api_token)=(…) already exists``,
"Failing row contains (…)"), and it went into the audit trail and `doctor`'s output as it was.
No import, sync or check lets such an error out unsaid today (each wraps its own through
``error_text``): these are the last line, for the statement nobody expected to fail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.monitor.doctor import _Checks
from malnu_tui.engine.monitor.runlog import history_since, record_run

TOKEN = "tok-LEAK-5f3a0123456789abcdef"


def test_an_unexpected_postgresql_error_is_said_with_its_secrets_masked(
    tmp_path: Path, pg_url: str
) -> None:
    b = open_backend(Target("t", pg_url, tmp_path / "m", tmp_path / "r", tmp_path / "b"))
    try:
        b.ensure_schema()
        pg = b.conn  # type: ignore[attr-defined]
        pg.execute("CREATE TABLE api_clients (id int PRIMARY KEY, api_token text UNIQUE)")
        pg.execute("INSERT INTO api_clients VALUES (1, %s)", (TOKEN,))

        def duplicate() -> str:
            pg.execute("INSERT INTO api_clients VALUES (2, %s)", (TOKEN,))
            return "inserted"

        with pytest.raises(psycopg.errors.UniqueViolation), record_run(b, "import", "c.csv"):
            duplicate()
        (run,) = history_since(b, timedelta(minutes=5)).runs
        assert run.outcome == "failed", run
        assert "Key (api_token)=(sha256:" in run.error and "[SQLSTATE 23505]" in run.error, run
        assert "LEAK" not in run.error, run

        checks = _Checks("t")
        assert not checks.run("create tables", duplicate, "")
        (check,) = checks.out
        assert "Key (api_token)=(sha256:" in check.detail and "LEAK" not in check.detail, check
    finally:
        b.close()


def test_an_unexpected_refused_row_is_left_out_in_any_language(pg_url: str) -> None:
    """A CHECK's refused row ("Failing row contains (…)", German "Fehlgeschlagene Zeile
    enthält (…)") said by a catch-all (the run log, `doctor`, the debug log: they know no
    table, so not whether it holds a secret) went out whole, a password hash among the
    values; left out now, known by its SQLSTATE."""
    from malnu_tui.engine.monitor.debuglog import exception_text
    from tests.fixtures_pg import TRANSLATED

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE akun (id int, pw_hash text, n int CHECK (n > 0))")
        conn.execute("INSERT INTO akun VALUES (1, %s, 1)", (TOKEN,))
        for setting, words in (("SET lc_messages TO 'C'", "Failing row contains"),
                               (TRANSLATED, "Fehlgeschlagene Zeile enthält")):  # fmt: skip
            conn.execute(setting)
            with pytest.raises(psycopg.Error) as info:
                conn.execute("UPDATE akun SET n = -1")
            said = exception_text(info.value)
            assert f"{words} (…): its values not shown" in said, said
            assert "LEAK" not in said and "[SQLSTATE 23514]" in said, said
