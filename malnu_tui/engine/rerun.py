"""The one way to print a command an operator copies and runs next (an undo line, a hint):
``malnu-tui WORDS`` followed by the options that name this same database from any directory
and any shell: the config file by its absolute path, the target by its name (never its URL,
which may hold a password; a configured target also brings its ``api_token_env``), and the
migration and rollback directories when they were not the config's own. Without them the
command ran from another directory read another config (or none) and acted on the default
target, or failed on a D1 target for want of its token."""

from __future__ import annotations

import shlex
from pathlib import Path

from malnu_tui.engine.config import BUNDLED_PRIMARY, Settings, Target
from malnu_tui.engine.urls import database_key, mask_url


def target_options(settings: Settings, target: Target) -> list[str]:
    """``--config PATH --target NAME [--migrations-dir DIR] [--rollback-dir DIR]`` for a
    configured target; ``--database URL`` (its password masked) for one given by URL only."""
    words: list[str] = []
    conf = settings.targets.get(target.name)
    if conf is not None and database_key(conf.url) != database_key(target.url):
        conf = None
    if conf is not None:
        if settings.config_path is not None:
            words += ["--config", str(settings.config_path.absolute())]
        words += ["--target", target.name]
        own_mig, own_rb = conf.migrations_dir, conf.rollback_dir
        named_mig, named_rb = conf.named_dirs
    else:
        words += ["--database", mask_url(target.url)]
        own_mig, own_rb = BUNDLED_PRIMARY / "migrations", BUNDLED_PRIMARY / "rollback"
        named_mig = named_rb = False
    cwd = Path.cwd()
    for flag, path, own, named, here in (
        ("--migrations-dir", target.migrations_dir, own_mig, named_mig, cwd / "migrations"),
        ("--rollback-dir", target.rollback_dir, own_rb, named_rb, cwd / "rollback"),
    ):
        # A directory of a flag or variable, or the one found in the current directory (not
        # named by the config: `migrations_dir = "migrations"` beside it is found from
        # anywhere), is not what the same command finds from elsewhere.
        if path.absolute() != own.absolute() or (not named and path.absolute() == here.absolute()):
            words += [flag, str(path.absolute())]
    return words


def command(settings: Settings, target: Target, *words: str) -> str:
    """``malnu-tui WORDS OPTIONS``, each word quoted for a POSIX shell."""
    return shlex.join(["malnu-tui", *words, *target_options(settings, target)])
