"""What the secrets tests share: a role of the shared cluster that logs in with its password
only, a database of its own for it, and the search for a secret's markers in text and files."""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from tests.fixtures_core import MigrationDirs
from tests.fixtures_pg import PgCluster


def marker_leaks(text: str, markers: Sequence[str]) -> list[str]:
    """The ``markers`` (pieces of a secret) found in ``text``."""
    return [m for m in markers if m in text]


def files_leaking(root: Path, markers: Sequence[str], skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under ``root`` (but ``skip``) that holds a marker, with its beginning."""
    out = []
    for f in root.rglob("*"):
        if f.is_file() and f not in skip:
            text = f.read_bytes().decode("utf-8", "replace")
            if marker_leaks(text, markers):
                out.append(f"{f}: {text[:300]!r}")
    return out


@contextmanager
def password_only_database(
    cluster: PgCluster, role: str, prefix: str, password: str | None = None
) -> Iterator[str]:
    """A database of its own, owned by ``role`` (made if missing), which logs in over TCP with
    its password only (scram; the cluster's other roles keep trust auth). ``password`` set
    when given. Yields the database's name; drops it after. pg_hba.conf is edited under a
    lock on it: two test processes adding their rules at once lost one of them."""
    hba = cluster.data_dir / "pg_hba.conf"
    rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    with hba.open("r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        text = fh.read()
        if rule not in text:
            fh.seek(0)
            fh.write(rule + text)
            fh.truncate()
    db = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.superuser_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(role)))
        if password is not None:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role))
        )
    try:
        yield db
    finally:
        with psycopg.connect(cluster.superuser_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


def d1_config(
    path: Path, account: str, database_id: str, d: MigrationDirs, extra: str = ""
) -> Path:
    """A config at ``path`` whose target ``production`` is that D1 database with the set of
    ``d``, retried briefly (the tests inject failures), ``extra`` appended."""
    path.write_text(
        f'[targets.production]\nurl = "d1://{account}/{database_id}"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n'
        "retry_attempts = 2\nretry_base_delay = 0.01\nretry_max_delay = 0.01\n" + extra
    )
    return path
