"""Generated bad input for the CLI (issue 10): versions, times, numbers, URLs, paths and config
values, from a fixed seed. Whatever the value, the answer is exit 2 and exactly one ``error:``
line (never a traceback), and nothing changes. In process for speed, plus a few real processes.

A failure prints the seed and the argv, so it replays exactly."""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from malnu_tui.engine.files import normalise_version
from tests.fixtures_core import CliResult, MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc

SEED = 20261124
CASES = 40  # per generator
JUNK = (
    string.ascii_letters + string.digits + " _-.:/@%?#&=+*~'\"\\;,()[]{}<>|!$^`\t" + "éß漢😀\u200b"
)
SECRET = "pw-S3CRET-fuzz"


def junk(r: random.Random, low: int = 0, high: int = 30) -> str:
    return "".join(r.choice(JUNK) for _ in range(r.randint(low, high)))


def contract(argv: list[str], res: CliResult, code: int = 2) -> None:
    """Exit ``code``, exactly one ``error:`` line, no traceback, no data on stdout."""
    where = f"seed {SEED}: malnu-tui {argv!r}\n{res.err}"
    assert "Traceback" not in res.err, where
    assert res.code == code, where
    assert sum(line.startswith("error: ") for line in res.err.splitlines()) == 1, where
    assert res.out == "", where
    assert SECRET not in res.err, where


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- generators: each yields argv tails that must be refused ------------------------------------


def bad_versions(r: random.Random) -> Iterator[str]:
    forms: list[Callable[[], str]] = [
        lambda: junk(r, 1),
        lambda: "2025" + junk(r, 1, 6),
        lambda: "20251124_" + junk(r, 1, 6),
        lambda: "../" + junk(r),
        lambda: "9" * r.randint(15, 400),
        lambda: f"{r.randint(10**7, 10**8 - 1)}_{r.randint(10**5, 10**6 - 1)}",  # no such one
        lambda: "20250101_000100" + r.choice([".sql.sql", "x", "_", " 2"]),
    ]
    while True:
        value = r.choice(forms)()
        if value.strip() and not value.startswith("-"):
            yield value


def version_commands(r: random.Random) -> Iterator[list[str]]:
    values = bad_versions(r)
    while True:
        v = next(values)
        yield r.choice(
            [
                ["up", "--to", v, "--dry-run"],
                ["up", f"--to={v}", "--yes"],
                ["rollback", "--to", v, "--yes", "--no-backup"],
                ["clear-failed", v, "--yes"],
                ["backup", "verify", v],
                ["backup", "restore", v, "--yes"],
                ["backup", "delete", v, "--yes"],
            ]
        )


def bad_time(r: random.Random) -> str:
    n = r.choice(["1", "30", "9" * r.randint(12, 40), "1.5", ""])
    return r.choice(
        [
            f"-{n}{r.choice(['y', 'x', 'ms', 'min', 'hh', ''])}" if n else "-",
            f"-{'9' * r.randint(12, 40)}{r.choice('smhdw')}",
            f"{'9' * r.randint(12, 40)}{r.choice('smhdw')} ago",
            f"{r.randint(1, 9999):04d}-{r.randint(13, 99)}-01",
            f"2026-02-{r.randint(30, 99)}T00:00",
            f"2026-11-24T{r.randint(25, 99)}:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "next " + junk(r, 1, 8),
            junk(r, 1).replace("-", "") or "x",
            "now " + junk(r, 1, 4),
        ]
    )


def good_time(r: random.Random) -> str:
    """A documented relative form within D1's 30 days of Time Travel."""
    unit = r.choice("smhd")
    n = r.randint(1, 29) if unit == "d" else r.randint(1, 500)
    return r.choice([f"-{n}{unit}", f"{n}{unit} ago", f"-{n}h{r.randint(1, 59)}m"])


def _days_allowed(text: str) -> bool:
    try:
        return 0 <= float(text) <= 100_000
    except ValueError:
        return False


def number_commands(r: random.Random) -> Iterator[list[str]]:
    while True:
        n = r.choice(
            [
                str(r.randint(-(10**20), 0)),
                str(r.randint(10**10, 10**30)),
                junk(r, 1, 6),
                "1e3",
                "nan",
                "inf",
                "-inf",
                "1e308",
                "-1",
                "0x10",
            ]
        )
        option, command = r.choice(
            [
                ("--steps", ["rollback", "--yes", "--no-backup"]),
                ("--keep", ["backup", "prune", "--yes"]),
                ("--older-than", ["backup", "prune", "--yes"]),
                ("--limit", ["log"]),
            ]
        )
        if option == "--older-than" and _days_allowed(n):
            continue
        if option == "--steps" and n.isdigit():
            continue  # a large count is item 9's business (refused with the count)
        if option == "--limit" and n.isdigit() and int(n) <= 10**9:
            continue
        # `--opt=-5` and `--opt -5` both: a value starting with "-" and a digit is a value.
        yield [*command, f"{option}={n}"] if r.random() < 0.5 else [*command, option, n]


BAD_PORTS = [-1, 65536, 99999, "abc", "x1"]


def bad_urls(r: random.Random, tmp: Path) -> Iterator[str]:
    regular = tmp / "regular-file"
    regular.write_text("not a directory")
    while True:
        yield r.choice(
            [
                f"postgresql://malnu:{SECRET}@[{junk(r, 0, 8).replace(']', '')}/db",
                f"postgresql://malnu:{SECRET}@127.0.0.1:{r.choice(BAD_PORTS)}/db",
                f"postgres://[::1{junk(r, 0, 6).replace(']', '')}",
                f"postgresql://malnu:{SECRET}%zz@127.0.0.1:1/db",
                f"postgresql://127.0.0.1:1/db?x{r.randint(0, 999)}=1",
                f"d1://{junk(r, 1, 10).replace('/', '')}/{junk(r, 1, 10)}",
                f"d1://{'a' * 32}/not-a-database-id-{r.randint(0, 99)}",
                f"{r.choice(['mysql', 'http', 'sqlserver', 'x'])}://{junk(r, 0, 10)}",
                f"sqlite:///{regular}/{junk(r, 1, 8).replace('/', '')}.db",
                f"sqlite://[{junk(r, 0, 8)}",
                f"sqlite:///{tmp}",
                junk(r, 1, 12).replace(":", "").replace(".db", "") + ".txt",
            ]
        )


TOML_VALUES = ['""', "123", "-1", "1e999", "nan", "inf", "true", "[]", '[1, "a"]', "{a = 1}"]
D1_OPTIONS = ["retry_attempts", "retry_base_delay", "retry_max_delay", "timeout"]
D1_VALUES = ["nan", "inf", "-1", "1e9", "true", "[]", '"x"']


def bad_configs(r: random.Random, db: Path) -> Iterator[str]:
    """Config files with one bad value each."""
    d1 = f'url = "d1://{"0" * 32}/{"1" * 32}"\napi_base = "http://127.0.0.1:1/"'
    pg = f'url = "postgresql://u:{SECRET}@127.0.0.1:1/x"'
    sqlite = f'url = "sqlite:///{db}"'
    while True:
        value = r.choice(TOML_VALUES)
        timeout = r.choice(["abc", "-1", "10 parsecs", "1e9ms", ""])
        pg_key = r.choice(["lock_timeout", "statement_timeout"])
        token_env = r.choice(["[]", "1", '""'])
        yield r.choice(
            [
                f"[targets.p]\nurl = {value}\n",
                f"[targets.p]\n{sqlite}\nmigrations_dir = {value}\n",
                f"[targets.p]\n{sqlite}\nbackup_dir = {value}\n",
                f"[backup]\ndir = {value}\n[targets.p]\n{sqlite}\n",
                f'default_target = "{junk(r, 1, 6)}"\n[targets.p]\n{sqlite}\n',
                f"[targets.p]\n{sqlite}\nx{r.randint(0, 999)} = 1\n",
                f"[targets.p]\n{d1}\n{r.choice(D1_OPTIONS)} = {r.choice(D1_VALUES)}\n",
                f"[targets.p]\n{d1}\napi_token_env = {token_env}\n",
                f'[targets.p]\n{pg}\n{pg_key} = "{timeout}"\n',
                junk(r, 5, 40) + "\n[[[",
            ]
        )


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture
def school(tmp_path: Path, mdirs: MigrationDirs) -> tuple[list[str], Path]:
    d = school_set(mdirs)
    db = tmp_path / "primary.db"
    base = ["--database", f"sqlite:///{db}", *d.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    return base, db


def test_generated_versions_and_numbers(school: tuple[list[str], Path]) -> None:
    base, db = school
    before = digest(db)
    r = random.Random(SEED)
    commands = version_commands(r)
    numbers = number_commands(r)
    for _ in range(CASES):
        argv = next(commands)
        contract(argv, run_inproc(*base, *argv))
        argv = next(numbers)
        contract(argv, run_inproc(*base, *argv))
    assert digest(db) == before


def test_generated_times(school: tuple[list[str], Path]) -> None:
    base, db = school
    before = digest(db)
    r = random.Random(SEED + 1)
    for _ in range(CASES):
        value = bad_time(r)
        if r.random() < 0.5:
            argv = ["recover", f"--to={value}", "--dry-run"]
        else:
            argv = ["recover", "--to", value, "--dry-run"]
        contract(argv, run_inproc(*base, *argv))
        # Every documented form is read (no backup is old enough: exit 1, not a usage error).
        good = good_time(r)
        argv = ["recover", "--to", good, "--dry-run"]
        contract(argv, run_inproc(*base, *argv), code=1)
    assert digest(db) == before


def test_generated_urls_and_paths(tmp_path: Path, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    r = random.Random(SEED + 2)
    urls = bad_urls(r, tmp_path)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for _ in range(CASES):
        url = next(urls)
        argv = ["--database", url, *d.args(), r.choice(["status", "up", "verify", "log"])]
        contract(argv, run_inproc(*argv))
        path = r.choice(
            [
                str(tmp_path / junk(r, 1, 10).replace("/", "")),
                str(tmp_path / "regular-file"),
                str(loop),
                "~no-such-user-" + junk(r, 1, 6).replace("/", "") + "/x",
            ]
        )
        option = r.choice(["--migrations-dir", "--config"])
        argv = ["--database", f"sqlite:///{tmp_path / 'p.db'}", option, path, "status"]
        contract(argv, run_inproc(*argv))
    assert list(tmp_path.rglob("malnu.db")) == [], "never the embedded default database"


def test_generated_config_values(tmp_path: Path, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    db = tmp_path / "primary.db"
    r = random.Random(SEED + 3)
    configs = bad_configs(r, db)
    for i in range(CASES):
        text = next(configs)
        cfg = tmp_path / f"c{i}.toml"
        cfg.write_text(text, encoding="utf-8")
        argv = ["--config", str(cfg), *d.args(), r.choice(["status", "up", "verify"])]
        contract(argv, run_inproc(*argv))
    assert not db.exists(), "no bad config reached the database"


def test_generated_d1_times(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]
    r = random.Random(SEED + 4)
    for _ in range(CASES // 4):
        value = bad_time(r)
        argv = r.choice(
            [
                ["d1", "bookmark", "--at", value],
                ["d1", "time-travel", "--to", value, "--dry-run"],
            ]
        )
        contract(argv, run_inproc(*base, *argv))
        good = good_time(r)
        argv = r.choice(
            [["d1", "bookmark", "--at", good], ["d1", "time-travel", "--to", good, "--dry-run"]]
        )
        res = run_inproc(*base, *argv)
        assert res.code == 1 and "No bookmark exists at or before" in res.err, (argv, res.err)


def test_a_few_as_real_processes(school: tuple[list[str], Path], tmp_path: Path) -> None:
    """The same contract from a real process (what a script sees)."""
    base, _db = school
    r = random.Random(SEED + 5)
    urls = bad_urls(r, tmp_path)
    for argv in (
        [*base, *next(version_commands(r))],
        [*base, "recover", "--to", bad_time(r), "--dry-run"],
        ["--database", next(urls), "status"],
        [*base, *next(number_commands(r))],
    ):
        contract(argv, run_cli(*argv))


def test_versions_generator_only_makes_bad_versions() -> None:
    r = random.Random(SEED)
    values = bad_versions(r)
    for _ in range(200):
        v = next(values)
        try:
            normalised = normalise_version(v)
        except ValueError:
            continue
        assert normalised not in {"20250101_000100", "20250101_000200", "20250101_000300"}, v


def test_every_d1_option_with_every_bad_value(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not left to chance: NaN, infinity, negatives, booleans, lists and text for each retry
    option are refused before any request (the API base is a closed port)."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-used-" + "0" * 20)
    d = school_set(mdirs)
    for key in D1_OPTIONS:
        for value in D1_VALUES:
            cfg = tmp_path / "d1.toml"
            cfg.write_text(
                f'[targets.p]\nurl = "d1://{"0" * 32}/{"1" * 32}"\n'
                f'api_base = "http://127.0.0.1:1/"\n{key} = {value}\n'
            )
            argv = ["--config", str(cfg), *d.args(), "status"]
            res = run_inproc(*argv)
            contract(argv, res)
            assert key in res.err


def test_generated_values_of_other_commands(school: tuple[list[str], Path], tmp_path: Path) -> None:
    """import, sync, rehearse, test and log with generated option values: whatever they
    decide, never a traceback, and a refusal is one ``error:`` line."""
    base, db = school
    before = digest(db)
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\n7,guru@malnu.sch.id\n", encoding="utf-8")
    r = random.Random(SEED + 6)
    for _ in range(CASES):
        j = junk(r, 1, 16).lstrip("-") or "x"
        argv = r.choice(
            [
                ["import", str(csv), "--table", r.choice(["users", j]), "--dry-run"],
                ["import", str(csv), "--table", "users", "--max-errors", j, "--dry-run"],
                ["import", str(csv), "--table", "users", "--encoding", j, "--dry-run"],
                ["import", str(csv), "--table", "users", "--delimiter", j, "--dry-run"],
                ["import", str(tmp_path / j.replace("/", "")), "--table", "users", "--dry-run"],
                ["import", str(csv), "--table", "users", "--map", str(tmp_path), "--dry-run"],
                ["import", "--from", f"{j}:{j}", "--table", "users", "--dry-run"],
                ["sync", "--from", j, "--to", j[::-1], "--dry-run"],
                ["rehearse", "--backup", j],
                ["test", "--seed", str(tmp_path / j.replace("/", ""))],
                ["log", "--action", j],
            ]
        )
        res = run_inproc(*base, *argv)
        where = f"seed {SEED + 6}: malnu-tui {argv!r}\n{res.err}"
        assert "Traceback" not in res.err and res.code in (0, 1, 2), where
        if res.code:
            assert sum(line.startswith("error: ") for line in res.err.splitlines()) == 1, where
    assert digest(db) == before
