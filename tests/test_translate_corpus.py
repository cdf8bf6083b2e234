"""The translation corpus: SQLite statements with the PostgreSQL that must come out (and run on
a real server, with the same results as SQLite where a check query is given), or the finding that
must be raised instead.

Corpus files (``tests/translation_corpus/*.sql``) hold cases::

    -- case: name
    -- setup:          SQLite statements run first on both sides (translated for PostgreSQL)
    -- sqlite:         the statements under test
    -- postgres:       exactly the PostgreSQL expected (whitespace-insensitive)
    -- finding: TEXT   an error finding whose construct contains TEXT (nothing emitted)
    -- note: TEXT      a note whose text contains TEXT
    -- warning: TEXT   a warning (emitted without a part PostgreSQL would reject) containing TEXT
    -- check:          a query run on both databases afterwards; rows must be equal
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.parity.scratch import run_each, scratch_schema
from malnu_tui.engine.translate import Finding, SchemaState, translate_script
from tests.fixtures_pg import PgCluster, create_database, drop_database

CORPUS = Path(__file__).parent / "translation_corpus"
_SECTION = re.compile(r"^--\s*(case|setup|sqlite|postgres|finding|note|warning|check)\s*:\s*(.*)$")


@dataclass
class Case:
    name: str
    file: str
    setup: str = ""
    sqlite: str = ""
    postgres: str | None = None
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    check: str = ""


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CORPUS.glob("*.sql")):
        current: Case | None = None
        section = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _SECTION.match(line.strip())
            if m:
                key, value = m[1], m[2].strip()
                if key == "case":
                    current = Case(value, path.name)
                    cases.append(current)
                    section = ""
                elif current is None:
                    raise ValueError(f"{path}: {key} before the first case")
                elif key == "finding":
                    current.findings.append(value)
                elif key == "note":
                    current.notes.append(value)
                elif key == "warning":
                    current.warnings.append(value)
                else:
                    section = key
                    if key == "postgres":
                        current.postgres = ""
                continue
            if current is None or not section:
                continue
            text = getattr(current, section) or ""
            setattr(current, section, text + line + "\n")
    return cases


CASES = load_cases()


def norm(sql: str) -> str:
    sql = " ".join(sql.split())
    return re.sub(r"\s*([(),;])\s*", r"\1", sql).strip().rstrip(";")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    assert sum(1 for c in CASES if c.findings) >= 12
    assert sum(1 for c in CASES if c.postgres is not None) >= 35


@pytest.fixture(scope="module")
def corpus_db(pg_cluster: PgCluster) -> Iterator[psycopg.Connection[Any]]:
    name = create_database(pg_cluster, "corpus")
    conn = psycopg.connect(pg_cluster.url(name), autocommit=True)
    conn.execute("SET TimeZone = 'UTC'")
    try:
        yield conn
    finally:
        conn.close()
        drop_database(pg_cluster, name)


def _value(v: object) -> object:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, bytes | memoryview):
        return bytes(v)
    return v


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Case, corpus_db: psycopg.Connection[Any]) -> None:
    state = SchemaState()
    setup = translate_script(case.setup, f"{case.file}:setup", state) if case.setup else None
    if setup is not None:
        assert setup.ok, [f.describe() for f in setup.errors]
    result = translate_script(case.sqlite, case.file, state)
    errors = [f.construct for f in result.errors]
    notes = [f"{f.construct}: {f.why}" for f in result.findings if f.severity == "note"]
    for expected in case.findings:
        assert any(expected.lower() in e.lower() for e in errors), (expected, errors)
    for expected in case.notes:
        assert any(expected.lower() in n.lower() for n in notes), (expected, notes)
    warnings = [f"{f.construct}: {f.why}" for f in result.findings if f.severity == "warning"]
    for expected in case.warnings:
        assert any(expected.lower() in w.lower() for w in warnings), (expected, warnings)
    if case.findings:
        # a withheld statement is never emitted
        assert all(st.output == () for st in result.statements if st.withheld)
    if case.postgres is None:
        assert case.findings, "a case needs either postgres or finding"
        return
    assert not errors, [f.describe() for f in result.errors]
    got = " ".join(s + ";" for s in result.postgres_statements)
    assert norm(got) == norm(case.postgres), got

    # It runs on the real server (and means the same where a check query is given).
    with corpus_db.transaction(force_rollback=True):
        corpus_db.execute("CREATE SCHEMA corpus_case")
        corpus_db.execute("SET LOCAL search_path = corpus_case")
        for stmt in (*(setup.postgres_statements if setup else ()), *result.postgres_statements):
            try:
                corpus_db.execute(stmt)
            except psycopg.Error as exc:
                pytest.fail(f"PostgreSQL rejected:\n{stmt}\n{exc}")
        if case.check:
            pg_rows = [tuple(_value(v) for v in r) for r in corpus_db.execute(case.check)]
            lite = sqlite3.connect(":memory:")
            lite.executescript(case.setup + "\n" + case.sqlite)
            sq_rows = [tuple(_value(v) for v in r) for r in lite.execute(case.check)]
            lite.close()
            assert pg_rows == sq_rows


def test_no_emitted_statement_is_rejected_by_postgresql(
    corpus_db: psycopg.Connection[Any],
) -> None:
    """What `plan --check` does, over the whole corpus: every statement the translation emits
    (finding cases included) runs on the real server; none may be rejected."""
    rejected: list[str] = []
    ran = 0
    for case in CASES:
        state = SchemaState()
        files = [("setup", case.setup), ("sqlite", case.sqlite)]
        fts = [translate_script(sql, f"{case.name}:{part}", state) for part, sql in files if sql]
        findings: list[Finding] = []
        with scratch_schema(corpus_db):
            for ft in fts:
                pairs = [(st.line, text) for st in ft.statements for text in st.output]
                ran += run_each(corpus_db, ft.file, pairs, findings)
        rejected.extend(f.describe() for f in findings)
        state.close()
    assert ran > 150
    assert rejected == []
