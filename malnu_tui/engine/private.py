"""Directories the tool makes, readable by their owner only (the XDG base directory spec asks
0700 of an application's directories). Under the umask 002 of a shared operators' group a
directory made 775 lets any member rename what is in it: the 0700 backup store itself, put
back as one of their own whose dump a restore then runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_dirs"]


def make_dirs(path: Path) -> None:
    """``mkdir -p path``, each directory it makes mode 0700; those already there are left as
    they are (not the tool's to change). OSError as ``Path.mkdir`` raises it."""
    missing: list[Path] = []
    for p in (path, *path.parents):
        if p.is_dir():
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            if not p.is_dir():  # a file in its place: as mkdir -p says it
                raise
