"""The README is the operators' contract: every `malnu-tui …` line its examples show is a
command line the CLI accepts, every command and option `--help` offers is named in it, and the
JSON fields it (and the product brief's CLI contract) promise are there, with those names."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_core import REPO, MigrationDirs, run_cli, school_set

README = (REPO / "README.md").read_text(encoding="utf-8")

# A `malnu-tui` that starts a command: at a line's start (after a `$ ` prompt), after a CI
# step's `run:`, or as an installed path's last part (systemd's ExecStart, a crontab line).
_COMMAND = re.compile(r"(?:^\s*(?:\$\s+)?|run:\s+|/bin/)malnu-tui(?=\s|$)(.*)")


def readme_examples() -> Iterator[tuple[int, list[str]]]:
    """(README line, argv) of every `malnu-tui` command in the README's code blocks."""
    in_block = False
    lines = README.splitlines()
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block or (number > 1 and lines[number - 2].endswith("\\")):
            continue
        follow = number
        while line.endswith("\\") and follow < len(lines):  # a shell line continued
            line = line[:-1] + " " + lines[follow].strip()
            follow += 1
        for piece in re.split(r"\s(?:&&|\|\||\|)\s", line):
            m = _COMMAND.search(piece)
            if m:
                yield number, _words(m.group(1))


def _words(text: str) -> list[str]:
    """A shell line's words, up to a redirection (`> lint.json`, `>/dev/null`, `2>&1`)."""
    return shlex.split(re.split(r"\s\d?>", text)[0], comments=True)


def _parse(argv: list[str]) -> tuple[int | str | None, argparse.Namespace | None, str]:
    from malnu_tui.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return None, build_parser(argv).parse_args(argv), ""
        except SystemExit as exc:
            return exc.code, None, err.getvalue()


def test_every_command_line_the_readme_shows_is_one_the_cli_accepts() -> None:
    examples = list(readme_examples())
    assert len(examples) > 60, "the README's examples were not found"
    wrong = []
    for number, argv in examples:
        code, args, err = _parse(argv)
        if code is not None:
            wrong.append(f"README.md:{number}: malnu-tui {shlex.join(argv)}: {err.strip()}")
        elif argv and getattr(args, "handler", None) is None:
            wrong.append(f"README.md:{number}: malnu-tui {shlex.join(argv)}: runs no command")
    assert not wrong, "\n".join(wrong)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _every_parser() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    from malnu_tui.cli import build_parser

    stack = [("", build_parser())]
    while stack:
        path, parser = stack.pop()
        yield path, parser
        for name, sub in _subcommands(parser).items():
            stack.append((f"{path} {name}".strip(), sub))


def test_every_command_and_option_of_help_is_named_in_the_readme() -> None:
    missing = []
    for path, parser in _every_parser():
        if path and not re.search(rf"`(?:malnu-tui )?(?:[^`]* )?{re.escape(path)}\b", README):
            missing.append(f"command `{path}`")
        for action in parser._actions:
            for option in action.option_strings:
                named = re.search(re.escape(option) + r"(?![\w-])", README)
                if option.startswith("--") and option != "--help" and not named:
                    missing.append(f"`{path} {option}`")
    assert not missing, "not in the README: " + ", ".join(sorted(set(missing)))


def _strict(text: str) -> object:
    def refuse(value: str) -> float:
        raise AssertionError(f"{value} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _has(where: str, obj: object, keys: set[str]) -> None:
    assert isinstance(obj, dict), (where, obj)
    assert keys <= set(obj), f"{where}: missing {sorted(keys - set(obj))}; has {sorted(obj)}"


@pytest.fixture
def school(tmp_path: Path, mdirs: MigrationDirs) -> Iterator[list[str]]:
    d = school_set(mdirs)
    yield ["--database", f"sqlite:///{tmp_path / 'school.db'}", *d.args()]


def test_the_json_fields_the_readme_names_are_there(
    school: list[str], mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """README "The CLI" (`With --json a command prints…`), "Migration safety" (`JSON (--json,
    on stdout): lint → …`) and PRODUCT.md's CLI contract, field by field."""

    def run_json(*args: str, code: int = 0) -> object:
        res = run_cli(*school, *args, "--json")
        assert res.code == code and "Traceback" not in res.err, (args, res.err)
        return _strict(res.out)

    up = run_json("up")
    _has("up", up, {"applied", "skipped", "backup_id"})
    _has("up applied[]", up["applied"][0], {"filename", "execution_time_ms"})  # type: ignore[index]
    status = run_json("status")
    _has("status", status, {"migrations"})
    _has(
        "status migrations[]",
        status["migrations"][0],  # type: ignore[index]
        {"version", "filename", "state", "checksum", "executed_at", "execution_time_ms"}
        | {"rollback_file"},
    )
    verify = run_json("verify")
    _has("verify", verify, {"ok", "checked", "drifted", "missing", "failed", "rollback_edited"})
    assert verify["ok"] is True and verify["checked"] == 3  # type: ignore[index]

    mdirs.add(
        "20250101_000400", "bad", "CREATE TABLE bad (id INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    failed = run_json("up", code=1)
    _has("up (failed)", failed, {"applied", "skipped", "backup_id", "failed"})
    _has("up failed", failed["failed"], {"filename", "line", "error"})  # type: ignore[index]
    _has(
        "clear-failed",
        run_json("clear-failed", "20250101_000400", "--yes"),
        {"cleared", "error_message"},
    )
    (mdirs.migrations / "20250101_000400_bad.sql").unlink()

    rolled = run_json("rollback", "--yes")
    _has("rollback", rolled, {"rolled_back", "skipped", "backup_id"})
    _has("rollback rolled_back[]", rolled["rolled_back"][0], {"filename", "execution_time_ms"})  # type: ignore[index]
    _has("repair", run_json("repair", "--yes"), {"repaired"})

    with sqlite3.connect(tmp_path / "school.db") as conn:
        conn.execute(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
            "VALUES (1, 'ops@box-a', 'box-a', 4772, '2026-12-06 03:12:09', '2999-01-01 00:00:00', "
            "'up of 1 migration(s)')"
        )
    conn.close()
    unlock = run_json("unlock", "--yes")
    _has("unlock", unlock, {"released", "lock"})
    _has(
        "unlock lock",
        unlock["lock"],  # type: ignore[index]
        {"owner", "host", "pid", "acquired_at", "expires_at", "note"},
    )
    log = run_json("log")
    assert isinstance(log, list) and log
    for entry in log:
        _has("log[]", entry, {"at", "actor", "action", "object", "outcome", "detail", "id"})

    backups = run_json("backup", "list")
    assert isinstance(backups, list) and backups
    _has("backup list[]", backups[0], {"id", "created_at", "size", "sha256", "reason"})

    mdirs.add("20250101_000500", "drop_posts", "DROP TABLE posts;")
    lint = run_json("lint", code=1)
    _has(
        "lint",
        lint,
        {"ok", "dialect", "rule_sets", "checked", "errors", "warnings", "infos", "ignored"}
        | {"notes", "findings"},
    )
    _has(
        "lint findings[]",
        lint["findings"][0],  # type: ignore[index]
        {"rule", "severity", "file", "line", "why", "instead", "ignored", "reason"},
    )
    (mdirs.migrations / "20250101_000500_drop_posts.sql").unlink()

    stairway = run_json("test")
    _has("test", stairway, {"ok", "where", "seconds", "notes", "steps"})
    _has(
        "test steps[]",
        stairway["steps"][0],  # type: ignore[index]
        {"filename", "ok", "stage", "message", "file", "line", "statement", "differences", "ms"},
    )
    assert run_cli(*school, "backup", "create").code == 0  # newest: one migration pending
    rehearse = run_json("rehearse")
    _has(
        "rehearse",
        rehearse,
        {"ok", "target", "backup", "scratch", "restore_seconds", "notes", "migrations"},
    )
    _has("rehearse backup", rehearse["backup"], {"id", "created_at", "age_seconds"})  # type: ignore[index]
    _has(
        "rehearse migrations[]",
        rehearse["migrations"][0],  # type: ignore[index]
        {"filename", "ran", "ok", "ms", "rows", "error", "line", "statement", "findings"},
    )

    check = run_cli(*school, "check", "--json")
    report = _strict(check.out)
    _has("check", report, {"status", "problems", "checked_at", "targets"})
    assert check.code == 0 and report["status"] == "OK", check.out  # type: ignore[index]
    target = next(iter(report["targets"].values()))  # type: ignore[index]
    _has("check targets{}", target, {"status", "checks", "metrics"})


def test_the_sync_json_fields_the_readme_names_are_there(tmp_path: Path) -> None:
    """README "Sync between the databases": `sync verify --json` (and `sync --json`) and
    `sync status --json`, field by field, on a SQLite → SQLite pair (any target to any other)."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'[targets.copy]\nurl = "sqlite:///{tmp_path / "copy.db"}"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n'
    )
    base = ["--config", str(cfg)]
    assert run_cli(*base, "--target", "primary", "up", "--yes").code == 0
    assert run_cli(*base, "--target", "copy", "status").code == 0

    res = run_cli(*base, "sync", "verify", "reporting", "--json")
    assert res.code == 1, res.err
    (before,) = _strict(res.out)  # type: ignore[misc]
    assert before["verified"] is False and "no table users at" in before["note"], before

    fields = {"table", "mode", "read", "inserted", "updated", "deleted", "source_count"}
    fields |= {"dest_count", "verified", "differences", "verified_scope"}
    for args in (("sync", "reporting", "--yes"), ("sync", "verify", "reporting")):
        res = run_cli(*base, *args, "--json")
        assert res.code == 0, res.err
        (table,) = _strict(res.out)  # type: ignore[misc]
        _has(" ".join(args), table, fields)
        assert table["verified_scope"] in ("full", "changed"), table

    res = run_cli(*base, "sync", "status", "--json")
    assert res.code == 0, res.err
    (row,) = _strict(res.out)  # type: ignore[misc]
    _has(
        "sync status",
        row,
        {"destination", "table", "source", "mode", "status", "finished_at", "lag_seconds"}
        | {"watermark", "read", "inserted", "updated", "deleted", "source_count", "dest_count"}
        | {"verified", "differences", "source_has_table", "source_note", "live"},
    )
    assert (row["destination"], row["source"], row["live"]) == ("copy", "primary", False)


def test_the_backup_line_of_help_names_every_backup_action() -> None:
    """`malnu-tui --help` said `backup: create, list, verify, restore backups`; the README's
    `backup create | list | verify | restore | delete | prune` are all there."""
    from malnu_tui.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    line = next(str(c.help) for c in commands._choices_actions if c.dest == "backup")
    assert "backup create | list | verify | restore | delete | prune" in README
    for action in _subcommands(commands.choices["backup"]):
        assert action in line, (action, line)


# The CLI contract of the product brief (docs/PRODUCT.md, "The CLI", "Data", "Sync",
# "Monitoring"), which scripts outside the project rely on: each form, as it writes it.
PRODUCT_FORMS = (
    "status --json",
    "create add_user_profiles",
    "up --to 20251124_122000 --dry-run",
    "rollback --steps 2 --dry-run --yes",
    "rollback --to 20251124_122000 --dry-run --yes",
    "verify",
    "repair",
    "clear-failed 20251124_122000_add_user_roles.sql",
    "unlock",
    "plan",
    "diff",
    "parity",
    "backup create",
    "backup list --json",
    "backup verify ID",
    "backup restore ID",
    "recover --to 2026-11-24T09:30:00Z",
    "log",
    "check --json --prometheus malnu.prom",
    "check --alert",
    "lint --all --json",
    "test",
    "rehearse",
    "import FILE.csv --table users --map mapping.toml --dry-run --rejects r.csv"
    " --max-errors 5% --key nis --encoding cp1252 --on-conflict skip --no-backup --yes",
    "import --from legacy:users --table users",
    "sync --from primary --to analytics --tables users,academic_records --full --dry-run --yes",
    "sync verify",
    "--debug status",
    "--database sqlite:///x.db --target t --config c.toml --migrations-dir m --rollback-dir r"
    " --json --yes status",
)


@pytest.mark.parametrize("form", PRODUCT_FORMS)
def test_every_form_of_the_product_contract_is_accepted(form: str) -> None:
    code, args, err = _parse(shlex.split(form))
    assert code is None, err
    assert getattr(args, "handler", None) is not None


def _toml_blocks() -> Iterator[tuple[int, str]]:
    """(line, text) of every ```toml block of the README, its list indent taken off."""
    lines = README.splitlines()
    start: int | None = None
    for number, line in enumerate(lines, 1):
        fence = line.strip().startswith("```")
        if fence and start is None and line.strip().startswith("```toml"):
            start = number
        elif fence and start is not None:
            body = lines[start : number - 1]
            indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
            yield start, "\n".join(b[indent:] for b in body)
            start = None


def test_every_toml_example_of_the_readme_loads(tmp_path: Path) -> None:
    """A config block loads as a config (every key known, every value in range), a mapping
    block as a mapping file: an example an operator copies is never refused by the tool."""
    from malnu_tui.engine.config import load_settings
    from malnu_tui.engine.data.mapping import parse_mapping

    # The sync pair's snippet names the targets the configuration section defines.
    targets = (
        '[targets.primary]\nurl = "sqlite:p.db"\n[targets.analytics]\nurl = "postgresql://u@h/a"\n'
    )
    blocks = list(_toml_blocks())
    assert len(blocks) >= 8
    for number, text in blocks:
        where = f"README.md:{number}"
        if "[columns." in text:
            parse_mapping(text, tmp_path / "mapping.toml")
            continue
        if "[sync." in text and "[targets." not in text:
            text = targets + text
        cfg = tmp_path / "malnu.toml"
        cfg.write_text(text, encoding="utf-8")
        try:
            load_settings(config=str(cfg), env={})
        except Exception as exc:
            raise AssertionError(f"{where}: {exc}") from exc
    # The example file the README (and doctor's fix for a config that does not load) points at.
    load_settings(config=str(REPO / "malnu.example.toml"), env={})


def test_the_readme_mappings_are_the_files_in_examples() -> None:
    """README "Data import" shows each mapping that ships in examples/import/: an operator
    copies the README's and runs the file's (or the reverse), so they are one mapping."""
    import tomllib

    files = {
        p.name: tomllib.loads(p.read_text()) for p in (REPO / "examples/import").glob("*.toml")
    }
    shown = [(n, tomllib.loads(t)) for n, t in _toml_blocks() if "[columns." in t]
    assert len(shown) == 3
    for number, mapping in shown:
        assert mapping in files.values(), f"README.md:{number}: in no examples/import/*.toml"
