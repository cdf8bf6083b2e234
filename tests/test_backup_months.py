"""The backup store over months of real use: the CLI as a real process on real SQLite files
and a real PostgreSQL cluster (a store reached by several spellings of one database, manifests
by the hundred, processes killed or out of disk half way)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from tests.fixtures_core import run_cli
from tests.fixtures_pg import PgCluster


def test_a_password_in_the_url_neither_names_the_store_nor_parts_its_backups(
    tmp_path: Path, pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # One database, its password given three ways (cron's PGPASSWORD, a pasted `user:pw@`,
    # `?password=`): `?password=` named its store `…_password`, and a backup made with the
    # password in the URL was listed, under PGPASSWORD, as "of other databases".
    role, password = pg_password_role
    where = f"{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    bare = f"postgresql://{role}@{where}"
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    spellings = [
        (f"{bare}?password={quote(password, safe='')}", env),
        (f"postgresql://{role}:{quote(password, safe='')}@{where}", env),
        (bare, {**env, "PGPASSWORD": password}),
    ]
    for url, how in spellings:
        made = run_cli("--database", url, "backup", "create", env=how)
        assert made.code == 0, made.err
    stores = [p.name for p in (tmp_path / "backups").iterdir()]
    assert len(stores) == 1 and "password" not in stores[0], stores
    for url, how in spellings:
        listed = run_cli("--database", url, "--json", "backup", "list", env=how)
        assert listed.code == 0 and "other databases" not in listed.err, listed.err
        assert len(json.loads(listed.out)) == 3, listed.out
    assert password not in json.dumps(stores) + listed.out + listed.err
