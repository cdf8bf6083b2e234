"""The README is the operators' contract, which they copy at 2 a.m.: every `malnu-tui …` line
it shows (fenced blocks and inline code, and a command its prose names with an option) is a
command line the CLI accepts, in process and nothing run: by the parser ``main`` builds, options
spelled in full (an abbreviation works until an option is added beside it), and by the
command's own checks of its line (``sync``'s words, ``import``'s FILE or ``--from``, a time's
form); every command and option `--help` offers is named in it; and the JSON fields it (and the
product brief's CLI contract) promise are there, read from the README's own field lists. How a
README line is read (placeholders, ``…``, ``[--x]``, ``A|B``): ``tests/readme_lines.py``."""

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

from malnu_tui.cli import _command_in, build_parser, check_line
from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import LockHolder, MalnuError
from tests.fixtures_core import REPO, MigrationDirs, school_set
from tests.inproc import run_inproc
from tests.readme_lines import (
    Line,
    argv_readings,
    compare,
    documented_fields,
    flat_readme,
    read_readme,
    spec_paths,
)

README = (REPO / "README.md").read_text(encoding="utf-8")


_PARSERS: dict[str | None, argparse.ArgumentParser] = {}


def _parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser ``main`` builds for ``argv`` (the same for each line of a command)."""
    command = _command_in(argv)
    if command not in _PARSERS:
        _PARSERS[command] = build_parser(argv)  # (it takes no abbreviated option)
    return _PARSERS[command]


def _refusal(argv: list[str]) -> str | None:
    """The CLI's first line refusing ``argv`` (None: accepted), as ``main`` reads it."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            args = _parser(argv).parse_args(argv)
            check_line(args)
    except SystemExit as exc:  # argparse: a usage error (2), or --help / --version (0)
        return said.getvalue().partition("\n")[0] if exc.code else None
    except MalnuError as exc:
        return f"error: {exc}"
    if _command_in(argv) and getattr(args, "handler", None) is None:
        return "runs no command"
    return None


# A command named in prose (`backup verify --deep`) may leave its values out (`recover --to`):
# only a word or option the command does not have is a refusal there.
_NOT_ITS_OWN = re.compile(r"^error: (unrecognized (arguments|option)|argument \w+: invalid choice)")


def test_every_command_line_of_the_readme_is_accepted_by_the_cli() -> None:
    readme = read_readme(README)
    assert len(readme.commands) > 100, "the README's command lines were not found"
    refused = [f"README.md:{n}: a code span that does not close" for n in readme.unclosed]
    checked = 0
    for line in readme.commands + readme.prose:
        forms = argv_readings(line)
        if isinstance(forms, str):
            continue  # a PLACEHOLDERS row says why
        for readings in forms:
            checked += 1
            said = [_refusal(argv) for argv in readings]
            if line in readme.prose:
                said = [s if s and _NOT_ITS_OWN.match(s) else None for s in said]
            if all(said):
                refused.append(f"README.md:{line.number}: `{line.text}`: {said[0]}")
    assert checked > 250
    assert not refused, "\n".join(refused)


def test_the_readers_of_the_readme_lines() -> None:
    """The pieces the test above stands on, on lines of the README's own shapes."""

    def forms(text: str) -> object:
        return argv_readings(Line(1, text, inline=True))

    assert forms("malnu-tui check [--target NAME …|--all] [--json]") == [
        [["check"]], [["check", "--json"]],
        [["check", "--target", "NAME", "X"], ["check", "--target", "NAME"]],
        [["check", "--target", "NAME", "X", "--json"], ["check", "--target", "NAME", "--json"]],
        [["check", "--all"]], [["check", "--all", "--json"]],
    ]  # fmt: skip
    assert forms("malnu-tui import f.csv --max-errors N|P%") == [
        [["import", "f.csv", "--max-errors", "N"]], [["import", "f.csv", "--max-errors", "P%"]]
    ]  # fmt: skip
    assert forms('malnu-tui recover --to "2026-11-24 01:55"  # a comment') == [
        [["recover", "--to", "2026-11-24 01:55"]]
    ]
    assert forms("malnu-tui backup restore <pre-recover id>; or fix it | and > then") == [
        [["backup", "restore", "X"]]
    ]
    assert forms("malnu-tui …") == "any command (`sudo -u www-data malnu-tui …`)"
    assert _refusal(["backup", "prune", "--kee", "3"]) == (
        "error: unrecognized option --kee: options are never abbreviated; did you mean --keep?"
    )
    assert _refusal(["backup", "prune", "--kept", "3"]) == "error: unrecognized arguments: --kept 3"
    assert _refusal(["sync", "verfy", "reporting"]) == (
        "error: sync: unexpected argument 'reporting' (usage: sync [verify|status] [PAIR])"
    )
    assert _refusal(["recover", "--to", "yesterday"]) == "error: cannot read the time 'yesterday'"
    assert _refusal(["import", "--table", "users"]) == (
        "error: give either FILE or --from TARGET:TABLE (one of them)"
    )
    spec = documented_fields(
        'x: {"status": "OK|WARNING", "problems": [{"target", "since"}], "lock": {"pid"} | null, '
        '"targets": {NAME: {"checks"}}, "n" (a count, "not" a field), "v": true | false}',
        "x:",
    )
    assert spec == {
        "status": None, "problems": {"target": None, "since": None}, "lock": {"pid": None},
        "targets": {"*": {"checks": None}}, "n": None, "v": None,
    }  # fmt: skip
    doc = {"status": "OK", "problems": [{"target": "a"}], "lock": None, "targets": {"a": {}}}
    assert compare(doc, spec) == (
        ["problems.since", "targets.*.checks", "n", "v"],
        {"", "problems", "targets", "targets.*"},
    )


def test_a_time_that_cannot_be_read_is_refused_before_the_database_is_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command's own checks of its line run where the parser's do (``check_line``): a bad
    time was said only after the target was reached (on D1 a request, or no token first)."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    d1 = ["--database", "d1://0123456789abcdef/school", "d1"]
    for words in (["time-travel", "--to", "yesterday", "--dry-run"], ["bookmark", "--at", "-1M"]):
        res = run_inproc(*d1, *words)
        assert res.code == 2, res.err
        assert res.err.startswith("error: cannot read the time"), res.err


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _every_parser() -> Iterator[tuple[str, argparse.ArgumentParser]]:
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


# -- the --json field lists --------------------------------------------------------------------

# The README's words right before a field list (or, for `backup list`, PRODUCT.md's CLI
# contract: "at least id, created_at, size, sha256, reason"), the command that prints it, run
# in this order on the one prepared pair (see below), and whether the list is the whole of it.
JSON_DOCS: list[tuple[str | dict[str, None], list[str], bool]] = [
    ("--json the report on stdout — ", ["up", "--yes"], False),
    ("$ malnu-tui status --json #", ["status"], False),
    ("verify: ", ["verify"], False),
    ("clear-failed: ", ["clear-failed", "20250101_000400_broken.sql", "--yes"], False),
    ("repair: ", ["repair", "--yes"], False),
    ("JSON (--json, on stdout): lint → ", ["lint", "--all"], False),
    ("; test → ", ["test"], False),
    ("; rehearse → ", ["rehearse"], False),
    (dict.fromkeys(("id", "created_at", "size", "sha256", "reason")), ["backup", "list"], False),
    ("--json prints exactly ", ["import", "{csv}", "--table", "users", "--yes"], True),
    ("$ malnu-tui sync verify reporting --json #", ["sync", "reporting", "--yes"], False),
    ("$ malnu-tui sync verify reporting --json #", ["sync", "verify", "reporting"], False),
    ("$ malnu-tui sync status --json #", ["sync", "status"], False),
    ("--json prints {", ["check", "--all"], False),
    ("log: a list of ", ["log"], False),
    ("unlock: ", ["unlock", "--yes"], False),
    ("up/rollback: ", ["rollback", "--yes"], False),
]
# Documented objects this run has none of to look into: a stairway step's differences (a
# rollback that does not undo its migration).
UNSEEN = {("; test → ", "steps.differences")}


def test_the_json_field_lists_of_the_readme_are_what_the_commands_print(tmp_path: Path) -> None:
    """One SQLite database (a migration that fails, without a rollback file, after three that
    apply; a CSV file) and a sync copy beside it; each documented command run once, in
    process, in an order that leaves each its case (a failed row to clear, a backup to
    rehearse on, a changed row for sync verify to name, a lock to release)."""
    d = school_set(MigrationDirs(tmp_path))
    d.add("20250101_000400", "broken", "INSERT INTO nowhere VALUES (1);")  # (no rollback file)
    (tmp_path / "users.csv").write_text("id,email\n7,siti@malnu.sch.id\n", encoding="utf-8")
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'default_target = "primary"\n[backup]\ndir = "{tmp_path / "backups"}"\n'
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'[targets.copy]\nurl = "sqlite:///{tmp_path / "copy.db"}"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n',
        encoding="utf-8",
    )
    sqlite3.connect(tmp_path / "copy.db").close()
    common = ["--config", str(config), *d.args(), "--json"]

    def run(*words: str) -> object:
        res = run_inproc(*common, *words)
        assert "Traceback" not in res.err, res.err
        return _strict(res.out)

    flat = flat_readme(README)
    wrong, documented, reached = [], set(), set()
    for anchor, words, exact in JSON_DOCS:
        spec = anchor if isinstance(anchor, dict) else documented_fields(flat, anchor)
        if words[0] == "rehearse":
            assert run_inproc(*common, "backup", "create").code == 0
        if words[:2] == ["sync", "reporting"]:  # before the first copy: said so, not a diff
            (first,) = run("sync", "verify", "reporting")  # type: ignore[misc]
            assert first["verified"] is False and "no table users at" in first["note"], first
        if words[:2] == ["sync", "verify"]:  # a row changed since the copy
            with sqlite3.connect(tmp_path / "primary.db") as conn:
                conn.execute("UPDATE users SET email = 'siti@malnu.id' WHERE id = 7")
            conn.close()
        if words[0] == "unlock":
            url = f"sqlite:///{tmp_path / 'primary.db'}"
            target = Target("primary", url, d.migrations, d.rollback, tmp_path / "backups")
            holder = open_backend(target)
            holder.acquire_lock(LockHolder("ops@box-b", "box-b", 4242, utc_now(), note="up"))
        doc = run(*[w.format(csv=tmp_path / "users.csv") for w in words])
        if words[0] == "unlock":
            holder.close()
        missing, seen = compare(doc, spec)
        if exact and isinstance(doc, dict) and set(doc) != set(spec):
            missing = [f"exactly {sorted(spec)}, printed {sorted(doc)}"]
        if missing:
            wrong.append(f"{' '.join(words)} --json (README after {anchor!r}): {missing}")
        documented |= {(str(anchor), p) for p in spec_paths(spec)}
        reached |= {(str(anchor), p) for p in seen}
    assert not wrong, "\n".join(wrong)
    assert documented - reached == UNSEEN, "no such object was printed to look into"


def test_the_backup_line_of_help_names_every_backup_action() -> None:
    """`malnu-tui --help` said `backup: create, list, verify, restore backups`; the README's
    `backup create | list | verify | restore | delete | prune` are all there."""
    from malnu_tui.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    line = next(str(c.help) for c in commands._choices_actions if c.dest == "backup")
    assert "backup create | list | verify | restore | delete | prune" in README
    for action in _subcommands(commands.choices["backup"]):
        assert action in line, (action, line)


def test_the_adopt_line_of_help_names_every_runner_it_adopts() -> None:
    """`malnu-tui --help` said `adopt: record migrations wrangler (or, on PostgreSQL, the
    Supabase CLI) applied`, while `up` refuses (and the README sends the operator to `adopt`)
    for Prisma's, Drizzle's, dbmate's, Rails', golang-migrate's, Flyway's and Alembic's
    histories too: read at 2 a.m., adopt looked like no way out for them."""
    from malnu_tui.engine.backends.other_runners import RUNNERS

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    line = " ".join(
        next(str(c.help) for c in commands._choices_actions if c.dest == "adopt").split()
    )
    for tool in sorted({r.tool for r in RUNNERS} | {"wrangler", "Supabase CLI", "Rails"}):
        assert tool in line, (tool, line)
        assert tool in README, tool


def test_the_config_option_of_help_names_where_the_config_is_looked_for() -> None:
    """`--config PATH  config file (default ./malnu.toml)`: without one there, the tool reads
    $MALNU_CONFIG or ~/.config/malnu-tui/malnu.toml (the README's Configuration), and an
    operator who read the help took the embedded database for the one in use."""
    option = next(a for a in build_parser()._actions if "--config" in a.option_strings)
    text = " ".join(str(option.help).split())
    for place in ("$MALNU_CONFIG", "./malnu.toml", "~/.config/malnu-tui/malnu.toml"):
        assert place in text, (place, text)
        assert place in README, place


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
    assert _refusal(shlex.split(form)) is None


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


def test_the_example_config_loads_uncommented_and_its_keys_are_in_the_readme(
    tmp_path: Path,
) -> None:
    """malnu.example.toml's commented sections (`# [[alerts.webhooks]]`, `# [log]`) are what an
    operator uncomments: they load too, and every key the file shows is one the README's
    Configuration, Monitoring or PostgreSQL sections explain."""
    import tomllib

    from malnu_tui.engine.config import load_settings

    text = (REPO / "malnu.example.toml").read_text(encoding="utf-8")
    opened = re.sub(r"(?m)^# (?=\[\[?[a-z.]+\]\]?$|[a-z_]+ += )", "", text)
    assert "\n[[alerts.webhooks]]\n" in opened and "\n[log]\n" in opened, opened
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(opened, encoding="utf-8")
    load_settings(config=str(cfg), env={})

    def keys(table: dict[str, object]) -> Iterator[str]:  # the leaves: tables are sections
        for key, value in table.items():
            inner = value if isinstance(value, list) else [value]
            tables = [t for t in inner if isinstance(t, dict)]
            if not tables:
                yield key
            for t in tables:
                yield from keys(t)

    names = set(keys(tomllib.loads(opened)))
    assert {"statement_timeout", "retries", "file"} <= names, names
    unexplained = [k for k in sorted(names) if not re.search(rf"`(?:\[[^`]*\] )?{k}\b", README)]
    assert not unexplained, unexplained


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


def test_the_import_json_fields_beyond_the_exact_list_are_named_beside_it() -> None:
    """`import --json` adds "warnings" when there are any (rows a trigger dropped): the
    README's "prints exactly" list said nothing of it, and a script that checked for exactly
    those keys met one more."""
    from malnu_tui.engine.data.report import ImportReport

    flat = flat_readme(README)
    anchor = "--json prints exactly "
    spec = documented_fields(flat, anchor)
    at = flat.index(anchor)
    beside = flat[at : flat.index("}", at) + 200]
    report = ImportReport("t", 1, 0, 0, 1, 0, True, None, 0, 0, "ab", warnings=("w",))
    extra = set(report.as_json()) - set(spec)
    assert extra == {"warnings"} and all(f'"{k}"' in beside for k in extra), beside


def test_the_d1_rules_are_listed_in_their_order() -> None:
    """README "Cloudflare D1": `malnu-tui d1 lint` shows D1's rules "in the order below"; the
    list is the rule set's own order (a rule added is named there, in its place)."""
    from malnu_tui.engine.lint.d1 import D1_RULES

    flat = flat_readme(README)
    at = flat.index("in the order below, ")
    listed = re.findall(r"D1-[A-Z-]+[A-Z]", flat[at : flat.index(")", at)])
    assert listed == [r.id for r in D1_RULES]


def test_the_readme_s_parity_live_lines_name_a_mirror() -> None:
    """`parity --live` reads the live tables in the schema of the target it names (`--postgres
    T`, else `--target T`): a README line naming one its own configs do not declare a mirror
    of the primary's tables (`dialect = "sqlite"`), without `--schema`, compares them where
    they are not. `parity --postgres analytics --live` was such a line: five `no such table`,
    exit 1, copied as shown."""
    import tomllib

    mirrors: set[str] = set()
    for _number, text in _toml_blocks():
        for name, target in tomllib.loads(text).get("targets", {}).items():
            if str(target.get("dialect", "")).lower() == "sqlite":
                mirrors.add(name)
    assert "reporting" in mirrors
    lines = [x for x in read_readme(README).commands if re.search(r"\bparity\b.*--live", x.text)]
    assert lines, "no `malnu-tui parity … --live` line left to check"
    for line in lines:
        words = shlex.split(line.text, comments=True)
        if "--schema" in words:
            continue
        flag = "--postgres" if "--postgres" in words else "--target"
        named = words[words.index(flag) + 1] if flag in words else None
        if named is not None and "://" in named:
            continue  # a URL: its schema is the one the line's --schema (or public) says
        assert named in mirrors, f"README.md:{line.number}: {line.text} reads {named}'s schema"
