"""Every command of the tree with ``--json`` on a fresh SQLite target (a file just made,
nothing applied, no backup): stdout is one JSON document, or nothing beside an ``error:`` line
on stderr, never a message; the exit code one the contract has. The commands are read from the
parser, so a new one must be given a line here. In process (43 runs; as real processes it took
four times as long): the same on a prepared database, as real processes and on every backend,
is tests/test_cli_contract_every_command.py."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.cli import build_parser
from tests.fixtures_core import MigrationDirs, school_set, zoneless_times
from tests.inproc import run_inproc

# Each command in the order run, with what it needs ({csv}, {url}, {copy}); one on a fresh
# database first, then again after `up` where that is what makes it do something.
RUNS: list[tuple[str, ...]] = [
    ("status",), ("verify",), ("log",), ("history",), ("plan", "--all"), ("diff",),
    ("lint", "--all"), ("check",), ("doctor",), ("backup", "list"), ("unlock",),
    ("repair",), ("rollback",), ("rollback", "--dry-run"), ("up", "--dry-run"),
    ("adopt", "--dry-run"), ("d1", "lint"), ("d1", "wrangler-status"), ("d1", "adopt"),
    ("d1", "bookmark"), ("d1", "time-travel", "--to", "-1h"), ("d1", "export"),
    ("d1", "import", "{csv}"), ("parity",), ("rehearse",), ("recover", "--to", "-1s"),
    ("backup", "prune", "--keep", "1"), ("clear-failed", "20250101_000100"),
    ("import", "{csv}", "--table", "users", "--dry-run"),
    ("create", "add_profiles"),
    ("up", "--no-backup"),
    ("import", "{csv}", "--table", "users", "--no-backup"),
    ("test",), ("backup", "create"), ("backup", "verify", "{backup}"),
    ("sync", "--from", "{url}", "--to", "{copy}"), ("sync", "verify", "--from", "{url}", "--to",
    "{copy}"), ("sync", "status", "--to", "{copy}"), ("rehearse",),
    ("rollback", "--steps", "2"), ("recover", "--to", "-1s", "--dry-run"),
    ("backup", "restore", "{backup}"), ("backup", "delete", "{backup}"),
    ("status",), ("log",), ("history",),
]  # fmt: skip


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(path)}
    return set().union(*(_commands(sub, (*path, n)) for n, sub in subs[0].choices.items()))


def test_every_command_with_json_prints_one_document_or_nothing(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    sqlite3.connect(db).close()  # the fresh target: an empty database file
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\n7,siti@malnu.sch.id\n")
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    run = {" ".join(w[: 2 if w[0] in ("backup", "d1") else 1]) for w in RUNS}
    assert _commands(build_parser()) <= run, "a command with no line in RUNS"
    strict = lambda text: json.loads(  # noqa: E731
        text, parse_constant=lambda word: pytest.fail(f"not JSON: {word}")
    )
    backup = "none-yet"
    codes: dict[str, int] = {}
    for words in RUNS:
        args = [w.format(csv=csv, url=sqlite_url, copy=copy, backup=backup) for w in words]
        res = run_inproc("--database", sqlite_url, *d.args(), *args, "--json", "--yes")
        said = f"{' '.join(args)}: exit {res.code}\n{res.out}\n{res.err}"
        assert "Traceback" not in res.err, said
        codes[" ".join(words)] = res.code
        assert res.code in ((0, 1, 2, 3) if words[0] == "check" else (0, 1, 2)), said
        if res.out == "":  # refused, or failed: said on stderr, and nothing else
            assert res.code and any(x.startswith("error: ") for x in res.err.splitlines()), said
            continue
        try:
            doc: Any = strict(res.out)  # the whole of stdout: one document
        except json.JSONDecodeError as exc:
            pytest.fail(f"{exc}: {said}")
        assert zoneless_times(doc) == [], said  # every time with its offset (README)
        if words == ("backup", "create"):
            backup = doc["id"]
    # What a fresh database is: nothing to do is success, reading a trail that is empty too.
    for ok in ("status", "verify", "log", "plan --all", "rollback", "repair", "unlock"):
        assert codes[ok] == 0, (ok, codes)
    for done in ("up --no-backup", "backup create", "sync --from {url} --to {copy}"):
        assert codes[done] == 0, (done, codes)
