"""A cache of lint reports in the user cache dir, keyed by everything a report is made of.

The key is a sha256 over: the engine's code (the source of every ``engine/**/*.py``: a list of
the modules the lint reads through went stale as they grew — the SQLite replay's templates and
literals, a large file's block reader — and a report made by older code was read), the package
version, the
Python and SQLite versions; the options (dialect, D1, the session lock_timeout, the notes
handed in); the starting schema (the live database's CREATE statements); the directories; and,
per migration in order, its filename and sha256, whether it is linted, and its rollback file's
name and sha256. Any edit of a file, of the rules or of the live schema is therefore a new
key: a stale report cannot be read.

Reports that ask the live database row by row (D1's RESTRICT check, PostgreSQL's table sizes)
are never cached. ``MALNU_LINT_CACHE=0`` turns the cache off; deleting the directory
(:func:`cache_dir`) clears it. Reading or writing it never fails a lint: a broken entry is
recomputed, an unwritable directory is skipped.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.lint.model import Finding, LintReport
from malnu_tui.engine.private import make_dirs, write_private

if TYPE_CHECKING:
    from malnu_tui.engine.files import MigrationSet

__all__ = ["cache_dir", "cached_report", "enabled"]

FORMAT = "malnu-lint-cache 1"
KEEP = 32  # entries kept (newest first); one entry per distinct set of inputs


def enabled() -> bool:
    from malnu_tui.engine.switches import switch

    return switch("MALNU_LINT_CACHE")


def cache_dir() -> Path:
    """``lint/`` in the platformdirs user cache dir (``~/.cache/malnu-tui/lint`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("malnu-tui")) / "lint"


def _code_files() -> list[Path]:
    """The sources the key covers: every module of the engine."""
    return sorted(Path(__file__).resolve().parent.parent.rglob("*.py"))


@functools.cache
def _code_version() -> str | None:
    """sha256 of the engine's code (None: no sources here)."""
    from malnu_tui import __version__

    engine = Path(__file__).resolve().parent.parent
    files = _code_files()
    runtime = f"{sys.version_info[:2]}\0{sqlite3.sqlite_version}"  # the replay asks SQLite
    h = hashlib.sha256(f"{FORMAT}\0{__version__}\0{runtime}".encode())
    try:
        for f in files:
            h.update(str(f.relative_to(engine)).encode() + b"\0" + f.read_bytes() + b"\0")
    except OSError:
        return None
    return h.hexdigest()


def _key(
    mset: MigrationSet,
    wanted: set[str] | None,
    options: Sequence[object],
    base_schema: Sequence[str],
) -> str | None:
    code = _code_version()
    if code is None:
        return None
    h = hashlib.sha256(code.encode())
    for part in (*map(str, options), str(mset.migrations_dir), str(mset.rollback_dir)):
        h.update(part.encode() + b"\0")
    h.update(b"schema\0")
    for sql in base_schema:
        h.update(sql.encode() + b"\0")
    h.update(b"migrations\0")
    for m in mset.migrations:
        selected = wanted is None or m.filename in wanted
        h.update(f"{m.filename}\0{m.checksum}\0{int(selected)}\0".encode())
        if selected and m.rollback is not None:
            h.update(f"{m.rollback.filename}\0{m.rollback.checksum}\0".encode())
    return h.hexdigest()


def _load(path: Path) -> LintReport | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LintReport(
            dialect=data["dialect"],
            checked=tuple(data["checked"]),
            findings=tuple(Finding(**f) for f in data["findings"]),
            notes=tuple(data["notes"]),
            rule_sets=tuple(data["rule_sets"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _store(path: Path, report: LintReport) -> None:
    data = {
        "dialect": report.dialect,
        "checked": list(report.checked),
        "findings": [f.__dict__ for f in report.findings],
        "notes": list(report.notes),
        "rule_sets": list(report.rule_sets),
    }
    with contextlib.suppress(OSError):
        make_dirs(path.parent)
        # Owner only, as everything the tool leaves: the findings quote the live database
        # (its tables, row counts) and the migrations' SQL.
        write_private(path, json.dumps(data, ensure_ascii=False), durable=False)
        entries = sorted(path.parent.glob("*.json"), key=_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def cached_report(
    mset: MigrationSet,
    only: Iterable[str] | None,
    options: Sequence[object],
    base_schema: Sequence[str],
    compute: Callable[[], LintReport],
) -> LintReport:
    """The report ``compute()`` gives for these inputs, from the cache when it was made
    before. ``options`` are every other input of the lint (dialect, rule sets, notes…)."""
    if not enabled():
        return compute()
    wanted = set(only) if only is not None else None
    try:
        key = _key(mset, wanted, options, base_schema)
    except MalnuError:  # an unreadable rollback file: the lint itself reports it
        key = None
    if key is None:
        return compute()
    path = cache_dir() / f"{key}.json"
    report = _load(path) if path.exists() else None
    if report is None:
        report = compute()
        _store(path, report)
    return report
