"""The ``--json`` contract when a command is refused or fails (README "The CLI"): nothing on
stdout and one ``error:`` line on stderr (exit 1, 2 or 3), except what the failure left durable,
which is still the command's one document (``up``'s ``failed``, an ``up`` whose lock was lost
between files, a recover stopped half-way); a report whose exit 1 means it found something is
its document with its summary on stderr; ``check`` always prints its report (exit 3 UNKNOWN
when it cannot check), its ``error:`` line on stderr too. Every command, one case or more, on
one prepared set of SQLite files (each case refused, or on files of its own)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_core import CliResult, MigrationDirs, run_cli, school_set

BAD_CONFIG = "[targets.school\nurl ="
LOCK_KEYS = {"owner", "host", "pid", "acquired_at", "expires_at", "note"}  # unlock --json's


@dataclass
class Prepared:
    """The files every case runs on (each refused, so each finds them as prepared)."""

    root: Path
    env: dict[str, str]
    _recover_args: list[str] | None = None

    def run(self, *args: str, **env: str) -> CliResult:
        return run_cli(*args, "--json", env={**self.env, **env}, timeout=120)

    def lock_lost_args(self) -> list[str]:
        """An `up` whose lock row goes while it runs, after its first file is in (as another
        session's `unlock` takes it: here the second file deletes it, and the check before
        its COMMIT finds it gone)."""
        d = MigrationDirs(self.root / "lost")
        d.add("20250101_000100", "a", "CREATE TABLE a (x INTEGER);", "DROP TABLE a;")
        d.add("20250101_000200", "b", "CREATE TABLE b (x INTEGER);\nDELETE FROM malnu_lock;",
              "DROP TABLE b;")  # fmt: skip
        return ["--database", f"sqlite:///{self.root / 'lost.db'}", *d.args(), "up", "--no-backup"]

    def recover_args(self) -> list[str]:
        """A recover whose re-applied migration fails on the backup's data (made on first
        use: only its case needs it): `recover --to TIME` stops half-way."""
        if self._recover_args is None:
            d = MigrationDirs(self.root / "rv")
            gate = "CREATE TABLE gate (n INTEGER);\nINSERT INTO gate VALUES (0);\n"
            d.add("20250101_000100", "gate", gate + "CREATE TABLE t (x INTEGER NOT NULL);",
                  "DROP TABLE t;\nDROP TABLE gate;")  # fmt: skip
            fill = "INSERT INTO t VALUES (CASE WHEN (SELECT n FROM gate) = 0 THEN NULL ELSE 1 END);"
            d.add("20250101_000200", "fill", fill, "DELETE FROM t;")
            db = self.root / "rv.db"
            base = ["--database", f"sqlite:///{db}", *d.args()]
            for step in (["up", "--to", "20250101_000100", "--no-backup"], ["backup", "create"]):
                assert run_cli(*base, *step, env=self.env).code == 0
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE gate SET n = 1")  # the backup's gate is 0: its re-run fails
            conn.close()
            assert run_cli(*base, "up", "--no-backup", env=self.env).code == 0
            when = datetime.now(UTC).isoformat()  # (the audit's seconds: lo <= at <= hi)
            self._recover_args = [*base, "recover", "--to", when, "--yes"]
        return self._recover_args


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("json-refused")
    homes = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
    env = {k: str(root / "home" / k.lower()) for k in homes}  # (the module's own user dirs)
    d = school_set(MigrationDirs(root / "project"))
    strict = school_set(MigrationDirs(root / "strict"))  # its DROP TABLE posts: a lint error
    strict.add("20250101_000400", "drop_posts", "DROP TABLE posts;", "SELECT 1;")
    cfg = root / "malnu.toml"
    dirs = {
        n: f'migrations_dir = "{m.migrations}"\nrollback_dir = "{m.rollback}"\n'
        for n, m in (("d", d), ("strict", strict))
    }
    cfg.write_text(
        f'[backup]\ndir = "{root / "backups"}"\n'
        f'[targets.school]\nurl = "sqlite:///{root / "school.db"}"\n{dirs["d"]}'
        f'[targets.strict]\nurl = "sqlite:///{root / "strict.db"}"\nlint = "enforce"\n'
        f"{dirs['strict']}"
        f'[targets.locked]\nurl = "sqlite:///{root / "locked.db"}"\n{dirs["d"]}'
        f'[sync.copy]\nfrom = "school"\nto = "sqlite:///{root / "copy.db"}"\ntables = ["users"]\n',
        encoding="utf-8",
    )
    (root / "bad.toml").write_text(BAD_CONFIG, encoding="utf-8")
    (root / "users.csv").write_text("id,email\n7,siti@malnu.sch.id\n", encoding="utf-8")
    p = Prepared(root, env)
    for target in ("school", "locked"):
        made = run_cli("--config", str(cfg), "--target", target, "up", "--no-backup", env=env)
        assert made.code == 0, made.err
    assert (
        run_cli("--config", str(cfg), "--target", "school", "backup", "create", env=env).code == 0
    )
    with sqlite3.connect(root / "locked.db") as conn:  # another host's live lock
        conn.execute(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
            "VALUES (1, 'ops@box-b', 'box-b', 4242, datetime('now'), "
            "datetime('now', '+1 day'), 'up')"
        )
    conn.close()
    return p


# id: (arguments ({root}: the prepared files' folder, {backup}: school's backup; "RECOVER": the
# half-way recover's), exit code, stdout (None: nothing; else the keys its one document has),
# what stderr says). The config is {root}/malnu.toml unless a case names another or a URL.
NOTHING = None
CASES: dict[str, tuple[str, int, set[str] | None, str]] = {
    "status, lock held: its lease as unlock says it": (
        "--target locked status", 0, {"lock", "migrations"}, ""),
    "up refused by lint = enforce": (
        "--target strict up --yes", 1, NOTHING, 'error: target strict has lint = "enforce"'),
    "up, lock held": ("--target locked up", 3, NOTHING, "error: another operator holds"),
    "rollback without --yes or a terminal": ("rollback", 2, NOTHING, "no terminal"),
    "verify, bad config": ("--config {root}/bad.toml verify", 2, NOTHING, "error: "),
    "repair, lock held": ("--target locked repair 20250101_000100 --yes", 3, NOTHING,
                          "error: another operator holds"),
    "clear-failed of a row that did not fail": (
        "clear-failed 20250101_000100 --yes", 2, NOTHING, "only failed rows can be cleared"),
    "unlock without --yes": ("--target locked unlock", 2, NOTHING, "no terminal"),
    "log of a file that is not there": (
        "--database sqlite:///{root}/none.db log", 2, NOTHING, "does not exist"),
    "plan of an unknown version": ("plan 20990101_000000", 2, NOTHING, "error: 20990101_000000"),
    "diff of an unknown version": ("diff 20990101_000000", 2, NOTHING, "error: 20990101_000000"),
    "parity without PostgreSQL": ("parity", 2, NOTHING, "error: parity needs a PostgreSQL"),
    "backup create, unreachable": (
        "--database postgresql://nobody@127.0.0.1:1/none backup create", 1, NOTHING,
        "error: cannot connect"),
    "backup list, bad config": ("--config {root}/bad.toml backup list", 2, NOTHING, "error: "),
    "backup verify of an unknown id": (
        "backup verify 20990101T000000000000Z-ffffff", 2, NOTHING, "error: no backup"),
    "backup restore without --yes": ("--target school backup restore {backup}", 2, NOTHING,
                                     "no terminal"),
    "backup delete of an unknown id": (
        "backup delete 20990101T000000000000Z-ffffff --yes", 2, NOTHING, "error: no backup"),
    "backup prune without a rule": ("backup prune --yes", 2, NOTHING, "error: prune needs"),
    "up stopped between files (its lock lost): what it applied": (
        "LOCK LOST", 3, {"applied", "skipped", "backup_id"}, "error: the migration lock of"),
    "recover stopped half-way: what is durable": (
        "RECOVER", 1, {"restored", "pre_recover_backup", "reapplied", "rolled_back", "failed"},
        "error: migration 20250101_000200_fill.sql failed"),
    "adopt --through with no other history": (
        "adopt --through 20250101_000100 --yes", 2, NOTHING, "error: --through"),
    "d1 time-travel of a SQLite file": (
        "d1 time-travel --to -1h --yes", 2, NOTHING, "is not a D1 database"),
    "check, bad config: UNKNOWN, said on stderr too": (
        "--config {root}/bad.toml check", 3, {"status", "problems", "error"}, "error: "),
    "doctor, bad config: its report, its summary on stderr": (
        "--config {root}/bad.toml doctor", 1, {"ok", "checks"}, "doctor: 1 of 1 checks failed"),
    "history of a bad time": ("history --since whenever", 2, NOTHING, "error: cannot read"),
    "lint of an unknown version": ("lint 20990101_000000", 2, NOTHING, "error: 20990101_000000"),
    "test of a PostgreSQL set without a server": (
        "test --dialect postgresql", 2, NOTHING, "needs a PostgreSQL server"),
    "rehearse of an unknown backup": ("rehearse --backup nope", 2, NOTHING, "error: no backup"),
    "import of a file that is not there": (
        "import {root}/none.csv --table users --yes", 2, NOTHING, "no such file"),
    "import, lock held": ("--target locked import {root}/users.csv --table users --yes", 3,
                          NOTHING, "error: another operator holds"),
    "sync without --yes": ("sync copy", 2, NOTHING, "no terminal"),
    "sync verify of an unknown pair": (
        "sync verify nopair", 2, NOTHING, "error: no sync pair named 'nopair'"),
    "sync status of an unknown target": (
        "sync status --to nowhere", 2, NOTHING, "error: no target named 'nowhere'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_or_failed_command_with_json(prepared: Prepared, case: str) -> None:
    words, code, keys, said = CASES[case]
    root = prepared.root
    env: dict[str, str] = {}
    if words == "RECOVER":
        args = prepared.recover_args()
    elif words == "LOCK LOST":
        args = prepared.lock_lost_args()
        env["MALNU_UP_GROUP_MS"] = "0"  # each file its own COMMIT: the first one is in
    else:
        backup = next((root / "backups" / "school").glob("*.json")).stem
        text = words.format(root=root, backup=backup)
        given = "--config" in text or "--database" in text
        args = [*([] if given else ["--config", str(root / "malnu.toml")]), *text.split()]
    res = prepared.run(*args, **env)
    assert res.code == code, (case, res.code, res.out, res.err)
    assert "Traceback" not in res.err, res.err
    assert said in res.err, (case, res.err)
    if code and keys != {"ok", "checks"}:  # (doctor: its report says why, and its summary)
        errors = [line for line in res.err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, (case, res.err)  # the one-line reason
    if keys is None:
        assert res.out == "", (case, res.out)
        return
    doc: Any = json.loads(res.out)  # the whole of stdout: one document and nothing else
    assert isinstance(doc, dict) and keys <= set(doc), (case, doc)
    if "lock" in keys:  # status --json's lock: unlock --json's fields, the lease with them
        assert set(doc["lock"]) >= LOCK_KEYS and doc["lock"]["expires_at"], doc["lock"]
    if "failed" in keys:
        assert doc["failed"]["filename"] == "20250101_000200_fill.sql", doc
        assert doc["reapplied"] == [] and doc["pre_recover_backup"] in res.err, doc
    if "applied" in keys:
        assert [a["filename"] for a in doc["applied"]] == ["20250101_000100_a.sql"], doc
