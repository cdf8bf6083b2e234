"""What a PostgreSQL restore needs of its server (backup/pg_needs.py), read from a real dump:
the roles its grants and policies name that the server lacks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.backup import pg_tools
from malnu_tui.engine.backup.pg_needs import missing_roles
from malnu_tui.engine.backup.pg_toc import toc
from malnu_tui.engine.backup.pg_tools import find_pg_tools, server_major
from malnu_tui.engine.backup.store import BackupError


def test_the_roles_named_in_a_schema_whose_name_has_a_space_are_found(
    pg_url: str, tmp_path: Path
) -> None:
    """pg_restore writes a schema's name unquoted in each entry's header (`Schema: Data
    Sekolah;`): the entries of such a schema went unread, so a role its grants and policies
    name that the server lacks was neither refused before the restore nor said by `backup
    verify --deep`; the restore then stopped at the first, one role per try. A table whose
    name holds a space too is named whole (`policy wali baca on Data Sekolah.Data Siswa`, was
    `policy Siswa wali baca on Data Sekolah.Data`)."""
    role = "review1_wali_kelas"  # (roles are the cluster's: this test's own name)
    dump = tmp_path / "d.dump"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
        for sql in (
            'CREATE SCHEMA "Data Sekolah"',
            'CREATE TABLE "Data Sekolah"."Data Siswa" (id int)',
            f'GRANT SELECT ON "Data Sekolah"."Data Siswa" TO {role}',
            'ALTER TABLE "Data Sekolah"."Data Siswa" ENABLE ROW LEVEL SECURITY',
            f'CREATE POLICY "wali baca" ON "Data Sekolah"."Data Siswa" FOR SELECT TO {role} '
            "USING (true)",
        ):
            conn.execute(sql)
        tools = find_pg_tools(server_major(conn))
        subprocess.run([tools.pg_dump, "-Fc", f"--file={dump}", pg_url], check=True)
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
        missing = missing_roles(conn, tools, dump, toc(tools, dump)[1])
    assert {r: sorted(by) for r, by in missing.named_by.items()} == {
        role: [
            "a grant on table Data Sekolah.Data Siswa",
            "policy wali baca on Data Sekolah.Data Siswa",
        ]
    }, missing
    assert [ln.split(" ", 3)[3] for ln in missing.policies] == [
        f"POLICY Data Sekolah Data Siswa wali baca {_owner(pg_url)}"
    ], missing.policies


def test_a_pg_restore_that_fails_or_hangs_reading_the_grants_is_one_line(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_restore failing as it reads a dump's grants and policies (the file gone or changed
    since its list was read) was read as if whole (no role missing: the restore went on to
    fail at the grant); one that hung (the file on a mount that stopped answering: here a
    FIFO no one writes) escaped as a TimeoutExpired traceback, from `--list` too. Each is now
    one line with pg_restore's exit code or the time waited."""
    dump = tmp_path / "d.dump"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS needs_hang; CREATE TABLE needs_hang (id int)")
        conn.execute("GRANT SELECT ON needs_hang TO PUBLIC")
        tools = find_pg_tools(server_major(conn))
        subprocess.run(
            [tools.pg_dump, "-Fc", "-t", "needs_hang", f"--file={dump}", pg_url], check=True
        )
        conn.execute("DROP TABLE needs_hang")
        listed = toc(tools, dump)[1]
        assert any(" ACL " in ln for ln in listed), listed
        assert missing_roles(conn, tools, dump, listed).named_by == {}
        gone = tmp_path / "gone.dump"
        with pytest.raises(BackupError) as failed:
            missing_roles(conn, tools, gone, listed)
        said = str(failed.value)
        assert said.startswith("pg_restore could not read the grants and policies of gone.dump"), (
            said
        )
        assert "(exit 1): " in said and "could not open input file" in said and "\n" not in said
        hung = tmp_path / "hung.dump"
        os.mkfifo(hung)
        monkeypatch.setattr(pg_tools, "READ_TIMEOUT", 1)
        assert toc(tools, hung) == (-1, [], "pg_restore had not finished after 1 s and was stopped")
        with pytest.raises(BackupError, match=r"of hung.dump \(exit -1\): pg_restore had not "):
            missing_roles(conn, tools, hung, listed)


def _owner(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
