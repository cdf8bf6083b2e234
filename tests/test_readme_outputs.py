"""What the README shows an operator is what the tool prints: its sample outputs that are stable
(no times, paths or random ids in them, or only in a part said here), run as the README runs
them on real databases and compared line by line. tests/test_readme_contract.py checks that the
README's command lines parse; this file checks what they answer."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from tests.fixtures_core import CLI, REPO, run_cli

README = (REPO / "README.md").read_text(encoding="utf-8").splitlines()


def block_after(anchor: str, nth: int = 1) -> list[str]:
    """The lines of the ``nth`` fenced block after the README line holding ``anchor``, its
    indent (a list item's) taken off."""
    start = next(n for n, line in enumerate(README) if anchor in line)
    for _ in range(2 * (nth - 1)):  # past the fences of the blocks before it
        start = next(n for n in range(start, len(README)) if README[n].lstrip().startswith("```"))
        start += 1
    opened = next(n for n in range(start, len(README)) if README[n].lstrip().startswith("```"))
    indent = len(README[opened]) - len(README[opened].lstrip())
    body: list[str] = []
    for line in README[opened + 1 :]:
        if line.lstrip().startswith("```"):
            return body
        body.append(line[indent:])
    raise AssertionError(f"README: the block after {anchor!r} is never closed")


def cli_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``malnu-tui ARGS`` run in ``folder`` (the README's relative paths), no terminal."""
    return subprocess.run(
        [*CLI, *args],
        cwd=folder,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def in_order(shown: list[str], printed: list[str]) -> None:
    """Every line the README shows is printed, in its order (`…` stands for lines left out)."""
    at = 0
    for line in shown:
        if line.strip() == "…":
            continue
        try:
            at = printed.index(line, at) + 1
        except ValueError:
            raise AssertionError(
                f"README shows {line!r}; printed:\n" + "\n".join(printed)
            ) from None


def _bundled_copy(root: Path) -> tuple[Path, Path]:
    bundled = REPO / "malnu_tui" / "bundled" / "primary"
    shutil.copytree(bundled / "migrations", root / "migrations")
    shutil.copytree(bundled / "rollback", root / "rollback")
    return root / "migrations", root / "rollback"


def test_the_check_sample_is_what_check_prints(tmp_path: Path) -> None:
    """README "Monitoring": `malnu-tui check` of a primary whose add_user_roles failed at line
    3 (no such table: roles), its three lines and exit 2; the textfile sample below it too."""
    migrations, rollback = _bundled_copy(tmp_path)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n[targets.primary]\n'
        f'url = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'migrations_dir = "{migrations}"\nrollback_dir = "{rollback}"\n'
    )
    base = ("--config", str(cfg))
    assert run_cli(*base, "up", "--to", "20251124_121500").code == 0
    assert run_cli(*base, "backup", "create").code == 0
    (migrations / "20251124_122000_add_user_roles.sql").write_text(
        "-- Description: roles\n\nINSERT INTO roles VALUES (1);\n"
    )
    assert run_cli(*base, "up").code == 1

    shown = block_after("then every check of every target:")
    assert shown[0] == "$ malnu-tui check" and shown[-2:] == ["$ echo $?", "2"], shown
    prom = tmp_path / "malnu.prom"
    res = run_cli(*base, "check", "--prometheus", str(prom))
    assert res.code == int(shown[-1]), res.err
    timing = re.compile(r"\(\d+\.\d+ s\)$")
    printed = [timing.sub("(… s)", line) for line in res.out.splitlines()]
    assert printed == [timing.sub("(… s)", line) for line in shown[1:-2]]

    gauges = block_after("is removed where it can be: it would go on showing its values")
    in_order(gauges, prom.read_text().splitlines())


def test_the_legacy_users_rejects_sample_is_the_rejects_file(tmp_path: Path) -> None:
    """README "Data import": the rejects file of legacy_users.csv (lines 7 and 8, the record on
    line 8 spanning two lines), byte for byte as the README shows it."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    db = f"sqlite:///{tmp_path / 'school.db'}"
    assert run_cli("--database", db, "up").code == 0
    res = cli_in(
        tmp_path,
        *("--database", db, "import", "examples/import/legacy_users.csv", "--table", "users"),
        *("--map", "examples/import/legacy_users.toml", "--max-errors", "2", "--yes"),
    )
    assert res.returncode == 0, res.stderr
    rejects = tmp_path / "examples" / "import" / "legacy_users.rejects.csv"
    written = rejects.read_text(encoding="utf-8").replace("\r\n", "\n").splitlines()
    assert written == block_after("rows as they were (students' and parents' data)")


def test_the_guardians_import_sample_is_what_import_prints(tmp_path: Path) -> None:
    """README "Data import": the guardian sheet's import (Excel's `sep=;`, a number that lost
    its leading zero rejected, two empty rows), every line the sample shows."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((REPO / "examples" / "import" / "guardians.sql").read_text())
    conn.close()
    shown = block_after("The number on line 6 lost its leading zero", nth=2)  # after the mapping
    command = " ".join(line.strip().rstrip("\\") for line in shown[:2])
    argv = command.removeprefix("$ malnu-tui ").split()
    res = cli_in(tmp_path, "--database", f"sqlite:///{db}", *argv, "--yes")
    assert res.returncode == 0, res.stderr
    in_order(shown[2:], res.stderr.splitlines())


def test_rollback_json_with_nothing_applied_is_the_readme_document(tmp_path: Path) -> None:
    """README "The CLI": `rollback --json` with nothing applied."""
    text = "\n".join(README)
    m = re.search(r"\(`rollback --json` with nothing applied: `(\{[^`]*\})`\)", text)
    assert m, "README: the rollback --json sample was not found"
    db = ("--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert run_cli(*db, "status").code == 0  # a database, nothing applied
    res = run_cli(*db, "rollback", "--json", "--yes")
    assert res.code == 0, res.err
    assert json.loads(res.out) == json.loads(m.group(1).replace("\n", " "))


def test_the_incremental_sync_sample_is_what_sync_prints(tmp_path: Path) -> None:
    """README "Sync between the databases": an incremental `sync reporting --yes` after a
    full one (1,200 rows; 2 updated, 1 deleted, 5 added), its plan line, table and last line,
    then `sync verify reporting` naming the row changed in the copy. SQLite to SQLite: the
    lines are the same into PostgreSQL."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'[targets.analytics]\nurl = "sqlite:///{tmp_path / "copy.db"}"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["users"]\n'
        'overlap = "5min"\n'
    )
    with sqlite3.connect(tmp_path / "primary.db") as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)")
        stamps = ["2025-11-24 07:00:00"] * 1199 + ["2025-11-24 08:00:00"]  # the watermark
        conn.executemany(
            "INSERT INTO users VALUES (?, ?, ?)",
            [(n, f"siswa {n}", stamp) for n, stamp in enumerate(stamps, 1)],
        )
    conn.close()
    base = ("--config", str(cfg))
    assert run_cli(*base, "sync", "reporting", "--yes").code == 0
    with sqlite3.connect(tmp_path / "primary.db") as conn:
        new = "2025-11-25 09:00:00"
        conn.execute("UPDATE users SET name = 'x', updated_at = ? WHERE id IN (5, 6)", (new,))
        conn.execute("DELETE FROM users WHERE id = 1200")
        conn.executemany(
            "INSERT INTO users VALUES (?, 'baru', ?)", [(n, new) for n in range(1201, 1206)]
        )
    conn.close()

    shown = [line.split("  #")[0].rstrip() for line in block_after("lives in `malnu.toml`:", 2)]
    res = run_cli(*base, "sync", "reporting", "--yes")
    assert res.code == 0, res.err
    at = shown.index("$ malnu-tui sync reporting --yes")
    in_order([shown[at + 2], shown[at + 7]], res.err.splitlines())  # messages
    in_order(shown[at + 5 : at + 7], [line.rstrip() for line in res.out.splitlines()])  # data

    with sqlite3.connect(tmp_path / "copy.db") as conn:
        conn.execute("UPDATE users SET name = 'changed' WHERE id = 137")
    conn.close()
    res = run_cli(*base, "sync", "verify", "reporting")
    assert res.code == 1, res.err
    at = shown.index("$ malnu-tui sync verify reporting")
    in_order([shown[at + 1]], res.out.splitlines())


def test_the_doctor_config_permissions_line_is_what_doctor_prints(tmp_path: Path) -> None:
    """README "Monitoring" (`doctor`): a config holding a password, mode 644."""
    text = " ".join(README)
    m = re.search(r"`(FAIL config permissions: /etc/malnu/malnu\.toml .*?\)\))`", text)
    assert m, "README: the doctor sample line was not found"
    cfg = tmp_path / "malnu.toml"
    cfg.write_text('[targets.analytics]\nurl = "postgresql://malnu:rahasia@127.0.0.1:1/postgres"\n')
    cfg.chmod(0o644)
    res = run_cli("--config", str(cfg), "doctor")
    assert res.code == 1 and "rahasia" not in res.out + res.err, res.out
    assert m.group(1).replace("/etc/malnu/malnu.toml", str(cfg)) in res.out.splitlines(), res.out
