"""The config file: every key is known (one table in engine/config.py), a typo is exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.config import KNOWN_KEYS, load_settings
from malnu_tui.engine.errors import ConfigError
from tests.fixtures_core import REPO, run_cli

D1 = 'url = "d1://acc/db1"'


def _load(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(text, encoding="utf-8")
    load_settings(config=str(cfg), env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[targets.primary]\nurl = "sqlite:p.db"\ndialekt = "sqlite"\n',
            "[targets.primary] dialekt (did you mean 'dialect'?)",
        ),
        (
            'default_targt = "primary"\n',
            "unknown key default_targt (did you mean 'default_target'?)",
        ),
        ('[backup]\ndirr = "b"\n', "[backup] dirr (did you mean 'dir'?)"),
        ("[monitor]\nslow_migration_secs = 3\n", "did you mean 'slow_migration_seconds'?"),
        (
            '[[alerts.webhooks]]\nkind = "json"\nurll = "x"\n',
            "[alerts.webhooks] urll (did you mean 'url'?)",
        ),
        ('[sync.reporting]\nfrom = "a"\ntoo = "b"\n', "[sync.reporting] too (did you mean 'to'?)"),
        ("[zzz]\n", "unknown key zzz (known: "),
        ('[targets.p]\nurl = "sqlite:p.db"\ndialect = "mysql"\n', "dialect = 'mysql': expected"),
        ('[targets]\nprimary = "x"\n', "[targets.primary] must be a table"),
    ],
)
def test_unknown_key_names_it_and_the_nearest(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert message in str(info.value) and "malnu.toml" in str(info.value)
    assert info.value.exit_code == 2


def test_every_documented_key_is_known(tmp_path: Path) -> None:
    _load(
        tmp_path,
        'default_target = "primary"\n[backup]\ndir = "b"\n[keys]\n"status.rollback" = "R"\n'
        '[targets.primary]\nurl = "sqlite:p.db"\ndialect = "SQLite"\nlint = "enforce"\n'
        "production = true\n"
        '[targets.analytics]\nurl = "postgresql://u@h/db"\nschema = "s"\nlock_timeout = "1s"\n'
        'statement_timeout = "1min"\n'
        '[targets.d1]\nurl = "d1://a/b"\napi_token_env = "T"\nretry_attempts = 2\ntimeout = 3\n'
        "[monitor]\nslow_migration_seconds = 30\nbackup_max_age_hours = 26\n"
        "pending_max_age_days = 7\n"
        '[[alerts.webhooks]]\nkind = "slack"\nurl = "https://x"\ntimeout = 5\nretries = 2\n'
        '[log]\nfile = "malnu.log"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["users"]\n',
    )
    example = (REPO / "malnu.example.toml").read_text(encoding="utf-8")
    _load(tmp_path, example)
    assert "dialect" in KNOWN_KEYS["targets.NAME"]


def test_cli_unknown_key_is_exit_2_with_its_name(tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.primary]\nurl = "sqlite:///{tmp_path}/p.db"\ndialekt = "sqlite"\n')
    res = run_cli("--config", str(cfg), "status")
    assert res.code == 2, res.err
    assert res.err.startswith("error: ") and "dialekt" in res.err and "'dialect'" in res.err
    assert "Traceback" not in res.err


def test_files_dialect_is_one_rule_any_case(tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        '[targets.a]\nurl = "postgresql://u@h/a"\ndialect = "SQLite"\n'
        '[targets.b]\nurl = "postgresql://u@h/b"\ndialect = "Postgres"\n'
        '[targets.c]\nurl = "postgresql://u@h/c"\n[targets.d]\nurl = "sqlite:d.db"\n'
    )
    settings = load_settings(config=str(cfg), env={})
    got = {n: settings.target(n).files_dialect for n in "abcd"}
    assert got == {"a": "sqlite", "b": "postgresql", "c": "postgresql", "d": "sqlite"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('lint = "enforced"', "[targets.p] lint = 'enforced': expected one of: warn, enforce"),
        ('production = "yes"', "[targets.p] production = 'yes': expected true or false"),
        ("production = 1", "[targets.p] production = 1: expected true or false"),
        ('dialect = "postgre"', "[targets.p] dialect = 'postgre': expected one of: "),
    ],
)
def test_cli_bad_enum_or_boolean_is_exit_2_naming_file_key_value(
    tmp_path: Path, body: str, message: str
) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.p]\nurl = "sqlite:///{tmp_path}/p.db"\n{body}\n')
    res = run_cli("--config", str(cfg), "status")
    assert res.code == 2, res.err
    line = res.err.strip()
    assert "\n" not in line and line.startswith(f"error: {cfg}: ") and message in line
    assert "did you mean" in line
    assert not (tmp_path / "p.db").exists()


def test_enums_accept_any_case_as_their_readers_do(tmp_path: Path) -> None:
    _load(
        tmp_path,
        '[targets.p]\nurl = "sqlite:p.db"\nlint = "Enforce"\nproduction = false\n'
        '[[alerts.webhooks]]\nkind = "Slack"\nurl = "https://x"\n',
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sqlite:p.db", "sqlite:///{tmp}/sub/../p.db"),
        ("postgresql://u:pw1@H:5432/db", "postgresql://v@h/db?sslmode=require"),
        ("postgresql://u@h/db?schema=s", 'postgresql://u@h/db"\nschema = "s'),
        ("d1://acc/db1", "d1://acc/db1"),
        # libpq's multi-host form: each host with its port (the default one written or not)
        ("postgresql://u:pw1@H1:5432,h2:5433/db", "postgresql://v@h1,h2:5433/db?sslmode=require"),
    ],
)
def test_cli_two_targets_on_one_database_are_refused(tmp_path: Path, a: str, b: str) -> None:
    cfg = tmp_path / "malnu.toml"
    b = b.replace("{tmp}", str(tmp_path))
    cfg.write_text(f'[targets.one]\nurl = "{a}"\n[targets.two]\nurl = "{b}"\n')
    res = run_cli("--config", str(cfg), "status")
    assert res.code == 2, res.err
    line = res.err.strip()
    assert "\n" not in line and str(cfg) in line
    assert "[targets.one] and [targets.two] name one database" in line
    assert "pw1" not in line


def test_one_postgresql_database_in_two_schemas_is_two_targets(tmp_path: Path) -> None:
    _load(
        tmp_path,
        '[targets.a]\nurl = "postgresql://u@h/db"\nschema = "a"\n'
        '[targets.b]\nurl = "postgresql://u@h/db?schema=b"\n'
        '[targets.c]\nurl = "postgresql://u@h/db"\n',
    )


def test_cli_a_shared_backup_dir_is_a_warning(tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.one]\nurl = "sqlite:///{tmp_path}/1.db"\nbackup_dir = "bk"\n'
        f'[targets.two]\nurl = "sqlite:///{tmp_path}/2.db"\nbackup_dir = "{tmp_path}/bk/"\n'
        f'[targets.three]\nurl = "sqlite:///{tmp_path}/3.db"\n'
    )
    res = run_cli("--config", str(cfg), "status", "--json")
    assert res.code == 0, res.err
    assert (
        f"warning: {cfg}: [targets.one] and [targets.two] share backup_dir {tmp_path / 'bk'}"
        in res.err
    )
    assert "three" not in res.err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[log]\nfile = 5\n", "[log] file = 5: expected a path string"),
        ('[[alerts.webhooks]]\nkind = "slack"\nurl = "ftp://x"\n', "url must be an http(s) URL"),
        ('[[alerts.webhooks]]\nurl = "https://x"\ntimeout = "5s"\n', "#1 timeout: expected"),
        ('[monitor]\nbackup_max_age_hours = "26"\n', "[monitor] backup_max_age_hours: expected"),
        ('[sync.s]\nfrom = "a"\nto = "bb"\n', "[sync.s] to = 'bb': no target of that name"),
        ('[sync.s]\nfrom = "a"\nto = "b"\nchunk_rows = 0\n', "[sync.s]: chunk_rows must be"),
    ],
)
def test_cli_every_section_is_checked_by_every_command(
    tmp_path: Path, section: str, message: str
) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:///{tmp_path}/a.db"\n'
        f'[targets.b]\nurl = "sqlite:///{tmp_path}/b.db"\n{section}'
    )
    res = run_cli("--config", str(cfg), "status")
    assert res.code == 2, res.err
    line = res.err.strip()
    assert "\n" not in line and line.startswith(f"error: {cfg}") and message in line
    assert not (tmp_path / "a.db").exists()
    if "bb" in section:
        assert "did you mean 'b'?" in line
    res = run_cli("--config", str(cfg), "check")  # a monitoring plugin: UNKNOWN, exit 3
    assert res.code == 3 and res.out.startswith(f"MALNU UNKNOWN - {cfg}") and message in res.out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("url = 5", "[targets.p] url = 5: expected a database URL string"),
        ('url = "mysql://u:pw9@h/x"', "[targets.p] url: unsupported database URL"),
        (f'{D1}\ntimeout = "x"', "[targets.p] timeout must be a number from 0.1 to 3600, got 'x'"),
        (f"{D1}\nretry_attempts = 2.5", "[targets.p] retry_attempts must be a whole number"),
        (f"{D1}\napi_base = 5", "[targets.p] api_base must be a non-empty string, got 5"),
    ],
)
def test_cli_target_value_errors_name_the_file_and_key(
    tmp_path: Path, body: str, message: str
) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f"[targets.p]\n{body}\n")
    res = run_cli("--config", str(cfg), "status", env={"CLOUDFLARE_API_TOKEN": "t0ken-xyz"})
    assert res.code == 2, res.err
    assert res.err.startswith(f"error: {cfg}: {message}"), res.err
    assert "pw9" not in res.err and "t0ken-xyz" not in res.err and "Traceback" not in res.err


def test_a_sqlite_url_under_home_is_in_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`url = "sqlite:~/…"` (no shell expands it there) made a directory named `~` beside the
    config file and a new empty database in it; `up` then migrated that one."""
    from tests.inproc import run_inproc

    home, etc = tmp_path / "home", tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setenv("HOME", str(home))
    cfg = etc / "malnu.toml"
    cfg.write_text('[targets.a]\nurl = "sqlite:~/data/a.db"\n[targets.b]\nurl = "sqlite:b.db"\n')
    settings = load_settings(config=str(cfg), env={})
    assert settings.targets["a"].url == f"sqlite://{home}/data/a.db"
    assert settings.targets["b"].url == f"sqlite://{etc}/b.db", "relative: to the config file"
    res = run_inproc("--database", "sqlite:~/x.db", "status")  # the flag: no shell expands it
    assert res.code == 0 and (home / "x.db").is_file(), res.err
    assert run_inproc("--config", str(cfg), "--target", "a", "status").code == 0
    assert (home / "data" / "a.db").is_file() and not (etc / "~").exists()
    assert not (tmp_path / "~").exists() and not list(Path.cwd().glob("~"))


@pytest.mark.parametrize(
    "folder", ["Kelas #1", "Kelas #2", "unduhan ?x=1", "data 100%20", "Ñ 数据"]
)
def test_a_config_in_a_folder_with_url_characters_names_its_own_database(
    tmp_path: Path, folder: str
) -> None:
    """`sqlite:data.db` beside a config in `Kelas #1/` was read back as `…/Kelas ` (the URL cut
    at '#' or '?'; `%20` read as a space): every such folder shared one database outside it."""
    import json

    from tests.inproc import run_inproc

    etc = tmp_path / folder
    etc.mkdir()
    cfg = etc / "malnu.toml"
    cfg.write_text('[targets.a]\nurl = "sqlite:data.db"\n')
    res = run_inproc("--config", str(cfg), "status", "--json")
    assert res.code == 0, res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder, "home"])
    assert (etc / "data.db").is_file()
    assert run_inproc("--config", str(cfg), "check").code == 2  # no backup: CRITICAL, read
    assert json.loads(res.out)["url"].endswith("/data.db")


def test_a_config_saved_by_windows_notepad(tmp_path: Path) -> None:
    """Notepad's "UTF-8 with BOM" (and CRLF) was refused as `Invalid statement (at line 1,
    column 1)`; its "Unicode" (UTF-16) as a codec error. The first is read; the second named."""
    from tests.inproc import run_inproc

    text = (
        '[targets.a]\nurl = "sqlite:a.db"\n[targets.b]\nurl = "sqlite:b.db"\n'
        "[monitor]\nbackup_max_age_hours = 12\n"
        '[sync.s]\nfrom = "a"\nto = "b"\n'
    ).replace("\n", "\r\n")
    cfg = tmp_path / "malnu.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert run_inproc("--config", str(cfg), "status").code == 0
    res = run_inproc("--config", str(cfg), "check", "--target", "a")
    assert res.code == 2 and "no backup at all" in res.out, res.out  # [monitor] read too
    assert run_inproc("--config", str(cfg), "sync", "--dry-run").code == 0
    cfg.write_bytes(text.encode("utf-16"))
    res = run_inproc("--config", str(cfg), "status")
    said = f'error: {cfg}: cannot read: the file is UTF-16 (Notepad\'s "Unicode"), not UTF-8'
    assert res.code == 2 and res.err.startswith(said) and "save it again as UTF-8" in res.err
    res = run_inproc("--config", str(cfg), "check")
    assert res.code == 3 and res.out.startswith(f"MALNU UNKNOWN - {cfg}: cannot read: the file")


def test_a_nul_character_anywhere_in_the_config_is_refused_at_load(tmp_path: Path) -> None:
    """A NUL (``\\u0000``, a file saved by a broken editor) in a path, a URL or a target's name
    was a traceback from every command (ValueError: embedded null byte) where it was first
    used: refused at load, naming the file, the key and the line, exit 2 (`check` UNKNOWN, 3).
    A raw NUL byte TOML refuses itself, by line and column."""
    from tests.inproc import run_inproc

    db = f'url = "sqlite:///{tmp_path}/s.db"\n'
    nul = "\\u0000"
    cases = [
        (f'[backup]\ndir = "{tmp_path}/b{nul}x"\n[targets.s]\n{db}', "[backup] dir", 2),
        (f'[targets."sek{nul}olah"]\n{db}', "[targets.sek\\u0000olah]", 1),
        (f'[targets.s]\nurl = "sqlite:///{tmp_path}/s{nul}.db"\n', "[targets.s] url", 2),
        (f'[targets.s]\n{db}migrations_dir = "m{nul}"\n', "[targets.s] migrations_dir", 3),
        (f"[targets.s]\n{db}\n{HOOK.replace('/x', '/x' + nul)}", "[[alerts.webhooks]] #1 url", 6),
        (
            f'[targets.s]\n{db}[sync.s]\nfrom = "s"\nto = "s"\ntables = ["a{nul}"]\n',
            "[sync.s] tables",
            6,
        ),
    ]
    cfg = tmp_path / "malnu.toml"
    for text, key, line in cases:
        cfg.write_text(text)
        said = f"error: {cfg}: {key} holds a NUL character (\\u0000) (line {line})\n"
        for command in ("status", "backup list"):
            res = run_inproc("--config", str(cfg), *command.split())
            assert (res.code, res.err.split("hint:")[0]) == (2, said), (command, res.err)
    res = run_inproc("--config", str(cfg), "check")
    assert res.code == 3 and res.out.startswith(
        f"MALNU UNKNOWN - {cfg}: [sync.s] tables holds a NUL"
    )
    cfg.write_bytes(f"[targets.s]\n{db}".replace("s.db", "s\0.db").encode())
    res = run_inproc("--config", str(cfg), "status")
    assert res.code == 2 and "Illegal character '\\x00' (at line 2, column" in res.err, res.err
    assert not list(tmp_path.glob("b*")) and not (tmp_path / "s.db").exists()


HOOK = '[[alerts.webhooks]]\nkind = "json"\nurl = "https://alerts.example.org/x"\n'


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (f"{HOOK}retries = inf", "retries: expected a whole number from 0 to 20, got inf"),
        (f"{HOOK}retries = nan", "retries: expected a whole number from 0 to 20, got nan"),
        (f"{HOOK}retries = 2.5", "retries: expected a whole number from 0 to 20, got 2.5"),
        (f"{HOOK}retries = 1e9", "retries: expected a whole number from 0 to 20, got 1000000000"),
        (f"{HOOK}timeout = nan", "timeout: expected a number from 0.1 to 3600, got nan"),
        (f"{HOOK}timeout = inf", "timeout: expected a number from 0.1 to 3600, got inf"),
        ("[monitor]\nbackup_max_age_hours = nan", "backup_max_age_hours: expected a number >= 0"),
        ("[monitor]\nslow_migration_seconds = inf", "slow_migration_seconds: expected a number"),
        (
            "[monitor]\npending_max_age_days = 1000000",
            "pending_max_age_days: expected a number from 0 to 36500, got 1000000",
        ),
        (
            "[monitor]\ncheck_timeout_seconds = 1e10",
            "check_timeout_seconds: expected a number from 0 to 86400, got 10000000000.0",
        ),
        ("[log]\nbackups = inf", "[log] backups: expected a whole number from 0 to 1000"),
        ("[log]\nmax_bytes = 1.5", "[log] max_bytes: expected a whole number >= 0, got 1.5"),
    ],
)
def test_monitoring_numbers_out_of_range_are_named_never_a_traceback(
    tmp_path: Path, section: str, message: str
) -> None:
    """`retries = inf` was an OverflowError traceback from every command; `nan` thresholds made
    a check that could never fire (every comparison with NaN is false); a "never" meant by
    `pending_max_age_days = 1000000` or `check_timeout_seconds = 1e10` was an OverflowError
    traceback from every `check` (exit 1: WARNING)."""
    from tests.inproc import run_inproc

    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.a]\nurl = "sqlite:a.db"\n{section}\n')
    res = run_inproc("--config", str(cfg), "status")
    assert res.code == 2 and "Traceback" not in res.err, res.err
    assert res.err.startswith(f"error: {cfg}: ") and message in res.err, res.err
    res = run_inproc("--config", str(cfg), "check")
    assert res.code == 3 and message in res.out, res.out


def test_a_config_path_that_is_a_directory_is_said_so(tmp_path: Path) -> None:
    """`--config /etc/malnu` (the folder) said "config file not found: /etc/malnu"."""
    from tests.inproc import run_inproc

    res = run_inproc("--config", str(tmp_path), "status")
    assert res.code == 2 and res.err.startswith(f"error: config file {tmp_path} is a directory")
    assert f"hint: give the file: {tmp_path / 'malnu.toml'}" in res.err
    res = run_inproc("--config", str(tmp_path), "check")
    assert res.code == 3 and res.out.startswith(f"MALNU UNKNOWN - config file {tmp_path} is a")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working folder, no MALNU_* variable from the outside."""
    import os

    for name in [k for k in os.environ if k.startswith("MALNU_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MALNU_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_school_guides_tree_keeps_rollback_inside_migrations(here: Path) -> None:
    """The school's guide ("Migration File Naming") keeps `rollback/` inside `migrations/`.
    Run from such a folder, every migration read `rollback NO` and `rollback` said "no rollback
    file … write rollback/<version>_<name>.sql" beside the file it wanted. Without a
    ./rollback, ./migrations/rollback is the pair; a ./rollback still comes first."""
    import json
    import shutil

    from tests.inproc import run_inproc

    (here / "migrations" / "rollback").mkdir(parents=True)
    for version, up, down in (
        ("20251124_120500", "create_users_table", "drop_users_table"),
        ("20251124_121000", "add_indexes_to_users", "remove_indexes_from_users"),
    ):
        shutil.copy(REPO / "migrations" / f"{version}_{up}.sql", here / "migrations")
        shutil.copy(REPO / "rollback" / f"{version}_{down}.sql", here / "migrations/rollback")
    db = ("--database", f"sqlite:///{here / 'school.db'}")
    assert run_inproc(*db, "up").code == 0
    status = json.loads(run_inproc(*db, "status", "--json").out)
    rollbacks = [m["rollback_file"] for m in status["migrations"]]
    downs = [
        "20251124_120500_drop_users_table.sql",
        "20251124_121000_remove_indexes_from_users.sql",
    ]
    assert rollbacks == downs, rollbacks
    res = run_inproc(*db, "rollback", "--yes", "--json")
    assert res.code == 0, res.err
    assert [s["filename"] for s in json.loads(res.out)["rolled_back"]] == [
        "20251124_121000_add_indexes_to_users.sql"
    ]
    (here / "rollback").mkdir()  # ./rollback, when there, is still the one read
    assert load_settings(env={}).targets["local"].rollback_dir == here / "rollback"


def test_a_dangling_migrations_symlink_is_never_the_bundled_set(here: Path) -> None:
    """A ./migrations symlink whose target is gone (a release folder removed, a checkout
    copied without what its link points at) was taken for "no ./migrations here": `up` ran
    the set bundled in the package on the database. It is this folder's set, said missing."""
    from tests.inproc import run_inproc

    (here / "migrations").symlink_to(here / "release-41" / "migrations")
    res = run_inproc("--database", f"sqlite:///{here / 'school.db'}", "up", "--dry-run")
    assert res.code == 2 and "users" not in res.out, res.out
    assert f"{here / 'migrations'}: migrations directory does not exist" in res.err
