"""Options are named in full. argparse took any unambiguous prefix of a long option: `sync
--ful` ran a full recopy, `backup restore ID --yes --from-another` passed
`--from-another-database`, and a script's abbreviation would change meaning, silently, the day
an option with the same beginning was added. A prefix is a usage error now (exit 2, one
``error:`` line naming the options it could mean), before anything is opened; short options,
``--opt=value`` and the console's own launch options are as they were."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from malnu_tui.cli import build_parser
from tests.fixtures_core import MigrationDirs, run_cli, school_set


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_abbreviated_option_is_refused_naming_the_full_one(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    base = ["--database", sqlite_url, *d.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    made = run_cli(*base, "backup", "create")
    assert made.code == 0, made.err
    backup_id = made.out.split()[0]
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    before = _digest(db)
    copy = tmp_path / "copy.db"
    cases = [
        (["sync", "--from", sqlite_url, "--to", f"sqlite:///{copy}", "--ful", "--yes"],
         "--ful", "--full"),
        (["backup", "restore", backup_id, "--yes", "--from-another"],
         "--from-another", "--from-another-database"),
        (["rollback", "--step", "2", "--yes", "--no-backup"], "--step", "--steps"),
        (["rollback", "--steps=3", "--y", "--no-backup"], "--y", "--yes"),
        (["status", "--jso"], "--jso", "--json"),
        (["sync", "--t", "x"], "--t", "--tables, --target or --to"),
    ]  # fmt: skip
    for words, typed, meant in cases:
        res = run_cli(*base, *words)
        assert res.code == 2, (words, res.code, res.err)
        said = f"error: unrecognized option {typed}: options are never abbreviated; "
        assert res.err.splitlines()[0] == f"{said}did you mean {meant}?", (words, res.err)
        assert res.out == "", (words, res.out)
        assert _digest(db) == before and not copy.exists(), words
    # A global option before the command word, a prefix of one of the top level's.
    res = run_cli("--data", sqlite_url, *d.args(), "rollback", "--yes", "--no-backup")
    assert res.code == 2 and "did you mean --database?" in res.err, res.err
    assert _digest(db) == before

    # Full names, `--opt=value` and the short -y read as before.
    res = run_cli(f"--database={sqlite_url}", *d.args(), "rollback", "--steps=2", "-y")
    assert res.code == 0, res.err
    res = run_cli(*base, "status", "--json")
    states = [m["state"] for m in json.loads(res.out)["migrations"]]
    assert states == ["applied", "pending", "pending"], res.out

    # The console's launch options: read in full (then refused for want of a terminal).
    res = run_cli(f"--database={sqlite_url}", *d.args(), "--json", "-y")
    assert res.code == 2 and "the console needs a terminal" in res.err, res.err
    res = run_cli("--tar", "school")
    assert res.code == 2 and "did you mean --target?" in res.err, res.err


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    found = [(path, parser)]
    for name, sub in subs[0].choices.items():
        found += _leaves(sub, (*path, name))
    return found


def test_every_parser_refuses_every_prefix_of_its_options() -> None:
    """Every command and sub-command (the tree ``--help`` shows), each long option of its own
    cut by one letter: refused naming it, before the command's own checks (in process, by the
    parser ``main`` builds for the command line: 400 of them in 0.2 s)."""
    tried = 0
    parsers: dict[str, argparse.ArgumentParser] = {}
    for path, parser in _leaves(build_parser()):
        # the parser `main` builds for the command line (its command's module only)
        key = path[0] if path else ""
        top = parsers[key] = parsers.get(key) or build_parser(path)
        options = [o for o in parser._option_string_actions if o.startswith("--")]
        for option in options:
            cut = option[:-1]
            if cut in options or len(cut) < 3:
                continue
            said = io.StringIO()
            with contextlib.redirect_stderr(said), pytest.raises(SystemExit) as stop:
                top.parse_args([*path, cut])
            assert stop.value.code == 2, (path, cut, said.getvalue())
            first = said.getvalue().partition("\n")[0]
            assert first.startswith(f"error: unrecognized option {cut}: "), (path, first)
            assert option in first, (path, cut, first)
            tried += 1
    assert tried > 300, tried


def test_the_global_options_are_taken_after_every_command_word(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """ "Global options go before or after the command" (README): after `backup` they were,
    after `d1` (before its action) they were refused (`d1 --json lint`: unrecognized
    arguments). Every command word of the tree takes them now."""
    for path, parser in _leaves(build_parser()):
        if path:
            for option in ("--database", "--target", "--config", "--json", "--yes", "--debug"):
                assert option in parser._option_string_actions, (path, option)
    d = school_set(mdirs)
    res = run_cli("d1", "--json", "--database", sqlite_url, *d.args(), "lint", "--all")
    assert res.code == 0, res.err
    assert json.loads(res.out) == {"findings": [], "notes": []}, res.out
