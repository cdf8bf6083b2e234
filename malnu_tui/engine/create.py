"""A new migration and its rollback skeleton (`create`): named with the current UTC time, or
one second after the newest version already there, in the set's own naming style. Split from
:mod:`malnu_tui.engine.migrate` (which re-exports it): writing files needs no backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from malnu_tui.engine.backends.base import actor
from malnu_tui.engine.errors import ConfigError

__all__ = ["create_migration", "newest_version"]


def create_migration(
    mset_dirs: tuple[Path, Path], name: str, *, now: datetime | None = None, author: str = ""
) -> tuple[Path, Path]:
    """Write a new migration and its rollback skeleton named with the current UTC time, or
    one second after the newest version in the directories when that is not earlier (as
    Rails does): the new file always sorts last, so it is never applied out of order. A
    second `create` in the same second was refused ("wait a second"), and a set whose
    newest file was named by a clock ahead of UTC (WIB, UTC+7, typed by hand) got a new file
    sorting before it."""
    from datetime import timedelta

    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise ConfigError(f"migration name {name!r} has no letters or digits")
    mig_dir, rb_dir = mset_dirs
    at = (now or datetime.now(UTC)).replace(microsecond=0, tzinfo=None)
    newest = newest_version(mig_dir, rb_dir)
    if newest is not None:
        try:
            after = datetime.strptime(newest, "%Y%m%d_%H%M%S") + timedelta(seconds=1)
        except ValueError:  # (20251399_…: a version no clock gives; sorts last anyway)
            after = at
        at = max(at, after)
    stamp = at.strftime("%Y%m%d%H%M%S" if _supabase_style(mig_dir) else "%Y%m%d_%H%M%S")
    mig = mig_dir / f"{stamp}_{slug}.sql"
    rb = rb_dir / f"{stamp}_undo_{slug}.sql"
    if len(rb.name.encode()) > 255:  # (a traceback: "File name too long")
        raise ConfigError(
            f"migration name {name[:40]!r}… makes a file name of {len(rb.name.encode())} bytes; "
            "file systems allow 255: shorten it"
        )
    for p in (mig, rb):
        if p.exists():
            raise ConfigError(f"{p} already exists")
    # One line each: a name holding a line break wrote its second line into the file as SQL.
    description = " ".join(name.split())
    author = " ".join((author or actor()).split())
    texts = (
        f"-- Description: {description}\n-- Author: {author}\n-- Dependencies: none\n\n"
        "-- Write the migration here. The tool runs the file in one transaction and records\n"
        "-- it in the migrations table: no BEGIN/COMMIT or INSERT INTO migrations needed.\n",
        f"-- Description: undo {mig.name}\n-- Author: {author}\n\n"
        "-- Write the statements that reverse the migration, newest change first.\n",
    )
    written: list[Path] = []  # made by this call (a failed write's file too), removed on failure
    try:
        for path, text in zip((mig, rb), texts, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as f:  # never over a file made meanwhile
                written.append(path)
                f.write(text)
    except OSError as exc:  # a read-only checkout, a full disk: no half pair is left
        # (nor a half file: on a full disk the migration was left empty, or cut in its
        # header, and every later `status` and `up` stopped on it as a bad file)
        for path in written:
            path.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {exc.filename or mig}: {exc.strerror or exc}") from None
    return mig, rb


def _supabase_style(mig_dir: Path) -> bool:
    """Whether new files are named ``YYYYMMDDHHMMSS_name.sql``: in ``supabase/migrations``, or
    where every file already is. The Supabase CLI reads ``20251206_101500_x.sql`` as version
    ``20251206`` (its pattern is ``<digits>_<name>``): out of order, and not ours."""
    if mig_dir.name == "migrations" and mig_dir.parent.name == "supabase":
        return True
    names = [p.name for p in mig_dir.glob("*.sql")] if mig_dir.is_dir() else []
    return bool(names) and all(re.match(r"\d{14}_", n) for n in names)


def newest_version(*dirs: Path) -> str | None:
    """The newest version named by a migration or rollback file in ``dirs`` (either style)."""
    from malnu_tui.engine.files import normalise_version

    versions: list[str] = []
    for d in dirs:
        if d.is_dir():
            for p in d.glob("*.sql"):
                try:
                    versions.append(normalise_version(p.name))
                except ValueError:
                    continue
    return max(versions, default=None)
