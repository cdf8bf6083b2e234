"""What a run makes for itself and removes on the way out (a scratch database of ``backup
verify --deep`` or ``rehearse``, the scratch schema of ``test`` on a scratch server, the temp
folder of a SQLite / D1 ``rehearse`` or ``test``) names its process and host (a hash of its
name), so that one a run killed outright left (SIGKILL, the OOM killer, systemd's SIGKILL after
its stop timeout), on the server or in /tmp for ever, is found and removed by the next run from
that host, which says so. Another host's are never touched (its process cannot be seen from
here), nor a name of another form."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from malnu_tui.engine.backends.lease import pid_alive

__all__ = [
    "HOST",
    "KINDS",
    "drop_schemas_left",
    "earlier_scratch",
    "left_by_the_dead",
    "owner_gone",
    "said_dropped",
    "said_dropped_earlier",
    "scratch_name",
    "temp_dir",
]

KINDS = ("verify", "rehearse", "stairway")
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_NAME = re.compile(r"^malnu_(verify|rehearse|stairway)_(\d+)_([0-9a-f]{6})_[0-9a-f]{6}$")
# What versions before session 12 (verify) and 13 (rehearse) named a scratch database: ten hex
# digits, neither process nor host. One such a run left when killed stays on the server for
# ever, a whole copy of the school's data that any role could open (those versions left
# PUBLIC's CONNECT on it), unless the upgrade drops it (see pg_tools.drop_left_behind).
_EARLIER = re.compile(r"^malnu_(verify|rehearse)_[0-9a-f]{10}$")
_FOLDER = re.compile(r"^malnu-(rehearse|stairway)-(\d+)-h([0-9a-f]{6})-")


def scratch_name(kind: str) -> str:
    """``malnu_<kind>_<pid>_<host hash>_<random>``, a database's or a schema's name."""
    assert kind in KINDS, kind
    return f"malnu_{kind}_{os.getpid()}_{HOST}_{uuid.uuid4().hex[:6]}"


def owner_gone(pid: int, host: str) -> bool:
    """Whether the run that named a scratch ``pid`` and ``host`` (:data:`HOST`) was of this
    host and is gone (killed outright); another host's is never taken for gone."""
    return host == HOST and pid != os.getpid() and not pid_alive(pid)


def left_by_the_dead(names: Iterable[str]) -> list[tuple[str, str]]:
    """Of ``names`` (databases, schemas), those :func:`scratch_name` gave a run of this host
    that is gone: (name, its kind)."""
    out: list[tuple[str, str]] = []
    for name in names:
        m = _NAME.match(name)
        if m and owner_gone(int(m[2]), m[3]):
            out.append((name, m[1]))
    return out


def temp_dir(kind: str) -> tuple[Path, list[str]]:
    """A new temp folder ``malnu-<kind>-<pid>-h<host hash>-…``, once those of ``kind`` that
    a run of this host killed outright left are removed: (the folder, a message per folder
    removed)."""
    assert kind in KINDS, kind
    said: list[str] = []
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for left in sorted(root.glob(f"malnu-{kind}-*")):
            m = _FOLDER.match(left.name)
            if m and m[1] == kind and left.is_dir() and owner_gone(int(m[2]), m[3]):
                shutil.rmtree(left, ignore_errors=True)
                said.append(f"removed {left}, left by a {_WHO[kind]} killed")
    return Path(tempfile.mkdtemp(prefix=f"malnu-{kind}-{os.getpid()}-h{HOST}-")), said


# How a message names the run that left a thing: the command the operator typed.
_WHO = {"verify": "verify", "rehearse": "rehearse", "stairway": "test"}


def said_dropped(name: str, kind: str) -> str:
    return f"dropped {name}, left by a {_WHO[kind]} killed"


def earlier_scratch(names: Iterable[str]) -> list[tuple[str, str]]:
    """Of ``names`` (databases), those an earlier version named a scratch database by
    (:data:`_EARLIER`): (name, its kind)."""
    return [(n, m[1]) for n in names if (m := _EARLIER.match(n))]


def said_dropped_earlier(name: str, kind: str) -> str:
    return f"dropped {name}, left by an earlier version's {_WHO[kind]} (no session on it)"


def drop_schemas_left(conn: Any) -> list[str]:
    """On a scratch server (psycopg connection ``conn``, autocommit), drop the stairway's
    scratch schemas that runs of this host left when killed outright: a message per schema."""
    from psycopg import sql

    said: list[str] = []
    rows: list[tuple[str]] = []
    with contextlib.suppress(Exception):
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname ~ '^malnu_stairway_'"
        ).fetchall()
    for name, kind in left_by_the_dead(r[0] for r in rows):
        # A short lock wait: the killed run's last statement may still hold a lock there until
        # its server session notices; the schema is then left to the next run.
        with contextlib.suppress(Exception), conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            said.append(said_dropped(name, kind))
    return said
