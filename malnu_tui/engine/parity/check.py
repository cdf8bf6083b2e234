"""The two parity entry points: :func:`check_parity` (the translation applied to a scratch
schema and compared with SQLite's) and :func:`compare_live` (a live schema compared, read only)."""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.files import Migration
from malnu_tui.engine.parity.introspect import postgres_shape, sqlite_schema, sqlite_shape
from malnu_tui.engine.parity.scratch import connect, run_each, scratch_schema
from malnu_tui.engine.parity.shapes import ParityReport, SchemaShape, compare
from malnu_tui.engine.translate import (
    FileTranslation,
    Finding,
    SchemaState,
    postgres_units,
    translate_migrations,
)

__all__ = ["check_parity", "compare_live"]


def _expected_shape(
    migrations: Sequence[Migration], *, with_rollbacks: bool = False
) -> tuple[SchemaShape, SchemaShape | None, list[Finding]]:
    """SQLite's schema after the migrations and, with ``with_rollbacks``, after every rollback
    file has then run newest first."""
    with tempfile.TemporaryDirectory(prefix="malnu-parity-") as tmp:
        path = Path(tmp) / "expected.db"
        findings = sqlite_schema(migrations, path)
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            shape = sqlite_shape(conn)
            if not with_rollbacks:
                return shape, None, findings
            for m in reversed(migrations):
                if m.rollback is None:
                    continue
                for st in m.rollback.parts().statements:
                    try:
                        conn.execute(st.text)
                    except sqlite3.Error as exc:
                        findings.append(
                            Finding(
                                m.rollback.filename, st.line, "SQLite rejected", str(exc),
                                "fix the rollback file: it fails on the primary too",
                            )
                        )  # fmt: skip
            return shape, sqlite_shape(conn), findings
        finally:
            conn.close()


def check_parity(
    migrations: Sequence[Migration],
    postgres_url: str,
    *,
    translations: Sequence[FileTranslation] | None = None,
    check_rollbacks: bool = True,
) -> ParityReport:
    """Translate ``migrations``, apply them to a scratch schema of the PostgreSQL server at
    ``postgres_url`` (in a transaction that is rolled back), and compare with SQLite's schema.

    With ``check_rollbacks`` (and a rollback file for every migration) the translated rollback
    files then run newest first on both sides and the schemas are compared again: differences
    found there have an aspect starting with ``after rollback:``.
    """
    rollbacks = check_rollbacks and bool(migrations) and all(m.rollback for m in migrations)
    expected, expected_after, findings = _expected_shape(migrations, with_rollbacks=rollbacks)
    if translations is None:
        translations = translate_migrations(migrations, SchemaState())
    for ft in translations:
        findings.extend(ft.findings)
    units = postgres_units(migrations) if rollbacks else None
    if units is not None:
        for m in migrations:
            findings.extend(f for f in units.findings[m.filename] if f.file != m.filename)
    actual_after: SchemaShape | None = None
    conn = connect(postgres_url)
    try:
        with scratch_schema(conn) as scratch:
            failed: dict[str, tuple[str, int]] = {}
            for ft in translations:
                pairs = [(st.line, text) for st in ft.statements for text in st.output]
                run_each(conn, ft.file, pairs, findings, failed)
            actual = postgres_shape(conn, scratch)
            if units is not None:
                for m in reversed(migrations):
                    assert m.rollback is not None
                    pairs = [(st.line, st.text) for st in units.rollbacks[m.filename]]
                    run_each(conn, m.rollback.filename, pairs, findings, failed)
                actual_after = postgres_shape(conn, scratch)
    except psycopg.Error as exc:
        raise BackendError(f"parity: PostgreSQL error: {exc}") from None
    finally:
        conn.close()
    diffs = compare(expected, actual)
    if expected_after is not None and actual_after is not None:
        diffs.extend(
            dataclasses.replace(d, aspect=f"after rollback: {d.aspect}")
            for d in compare(expected_after, actual_after)
        )
    return ParityReport(
        tuple(m.filename for m in migrations),
        tuple(diffs),
        tuple(sorted(findings, key=lambda f: (f.file, f.line))),
        expected,
        actual,
        "scratch",
        rollbacks_checked=actual_after is not None,
    )


def compare_live(
    migrations: Sequence[Migration], postgres_url: str, *, schema: str = "public"
) -> ParityReport:
    """Compare the tables the migrations create with the same tables in a live PostgreSQL
    schema (read only). Tables that only exist in PostgreSQL are not reported."""
    expected, _after, findings = _expected_shape(migrations)
    conn = connect(postgres_url)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            actual = postgres_shape(conn, schema, [t.name for t in expected.tables])
            actual = _without_sync_column(actual, _synced_tables(conn, schema))
    except psycopg.Error as exc:
        raise BackendError(f"parity: PostgreSQL error: {exc}") from None
    finally:
        conn.close()
    diffs = compare(expected, actual)
    return ParityReport(
        tuple(m.filename for m in migrations),
        tuple(diffs),
        tuple(findings),
        expected,
        actual,
        "live",
    )


def _synced_tables(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    """The tables of ``schema`` a sync keeps copies in (its state table's rows there)."""
    from psycopg import sql

    there = "SELECT to_regclass(format('%%I.malnu_sync', %s::text))"
    if conn.execute(there, (schema,)).fetchone() == (None,):
        return set()
    query = sql.SQL("SELECT table_name FROM {}.malnu_sync").format(sql.Identifier(schema))
    return {str(r[0]).lower() for r in conn.execute(query)}


def _without_sync_column(shape: SchemaShape, synced: set[str]) -> SchemaShape:
    """A mirror that ``up`` built and a sync fills carries the sync's ``synced_at`` (the sync's
    refusal hint adds it): the sync's column, not the migrations' drift."""
    return SchemaShape(
        tuple(
            dataclasses.replace(t, columns=tuple(c for c in t.columns if c.name != "synced_at"))
            if t.name in synced
            else t
            for t in shape.tables
        )
    )
