"""Targets and settings: TOML config (``./malnu.toml``, else the user config dir), environment
overrides, command-line overrides, and the embedded default when nothing is configured."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.config_schema import DIALECTS as DIALECTS
from malnu_tui.engine.config_schema import KNOWN_KEYS as KNOWN_KEYS
from malnu_tui.engine.config_schema import (
    check_d1_options,
    check_known_keys,
    check_targets,
    read_config_file,
)
from malnu_tui.engine.errors import ConfigError, MigrationFileError

# Re-exported (older callers import them from here); they live in urls.py.
from malnu_tui.engine.urls import database_key, store_spelling
from malnu_tui.engine.urls import mask_url as mask_url
from malnu_tui.engine.urls import sqlite_path as sqlite_path
from malnu_tui.engine.urls import sqlite_url as sqlite_url
from malnu_tui.engine.urls import url_kind as url_kind

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend, Kind

APP_NAME = "malnu-tui"
CONFIG_NAME = "malnu.toml"
DEFAULT_TARGET = "local"

# Environment variables, each overriding the matching config value.
ENV_CONFIG = "MALNU_CONFIG"
ENV_TARGET = "MALNU_TARGET"
ENV_DATABASE_URL = "MALNU_DATABASE_URL"
ENV_MIGRATIONS_DIR = "MALNU_MIGRATIONS_DIR"
ENV_ROLLBACK_DIR = "MALNU_ROLLBACK_DIR"
ENV_BACKUP_DIR = "MALNU_BACKUP_DIR"

PACKAGE_DIR = Path(__file__).resolve().parent.parent
BUNDLED_PRIMARY = PACKAGE_DIR / "bundled" / "primary"

# kind → module with ``open_target(target) -> Backend``; imported only when used, so a
# SQLite command never pays for psycopg or httpx.
BACKEND_MODULES: dict[str, str] = {
    "sqlite": "malnu_tui.engine.backends.sqlite",
    "postgresql": "malnu_tui.engine.backends.postgresql",
    "d1": "malnu_tui.engine.backends.d1.backend",
}


def user_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def expand_path(value: str, where: str = "") -> Path:
    """``~`` and ``~user`` expanded; a ConfigError naming the value when that user is unknown."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        raise ConfigError(
            f"{where + ': ' if where else ''}cannot expand {value!r}: no such user's home"
        ) from None


@dataclass(frozen=True)
class Target:
    """One database and the migration files that belong to it. Its ``url`` (a password) and
    ``options`` (an ``api_token``) stay out of its repr: the console's crash report (Textual's
    traceback) prints every frame's locals by repr."""

    name: str
    url: str = field(repr=False)
    migrations_dir: Path
    rollback_dir: Path
    backup_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # The migrations directory whose pair ``rollback_dir`` is by default, when no rollback
    # directory was given (flag, MALNU_ROLLBACK_DIR, the target's rollback_dir); None when one
    # was: :func:`check_rollback_dir`.
    default_pair_of: Path | None = field(default=None, repr=False)
    # The options that name this same target in a command printed for the operator to run
    # next (``--config PATH --target NAME …``): :mod:`malnu_tui.engine.rerun`.
    again: tuple[str, ...] = field(default=(), repr=False, compare=False)
    # Whether the config file names (migrations_dir, rollback_dir) itself: such a directory is
    # found from any directory; one defaulted to ./migrations is not (engine/rerun.py).
    named_dirs: tuple[bool, bool] = field(default=(False, False), repr=False, compare=False)

    @property
    def kind(self) -> Kind:
        return url_kind(self.url)

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def files_dialect(self) -> str:
        """The one rule for the dialect the target's migration files are written in: its
        ``dialect`` option (any case; ``postgres`` = ``postgresql``), else PostgreSQL's for a
        PostgreSQL target and SQLite's for SQLite and D1."""
        value = self.options.get("dialect")
        if value is None:
            return "postgresql" if self.kind == "postgresql" else "sqlite"
        text = str(value).strip().lower()
        if text not in DIALECTS:
            raise ConfigError(
                f'[targets.{self.name}] dialect = {value!r}: expected "sqlite" or "postgresql"'
            )
        return DIALECTS[text]


@dataclass(frozen=True)
class Settings:
    """Everything the config file, environment and flags say, resolved."""

    config_path: Path | None
    targets: Mapping[str, Target]
    default_target: str
    backup_root: Path
    warnings: tuple[str, ...] = ()  # said once on stderr by the CLI (a shared backup_dir)

    def target(self, name: str | None = None) -> Target:
        key = name or self.default_target
        if key not in self.targets:
            raise ConfigError(_no_target(self, key))
        return self.targets[key]


def find_config(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else ``$MALNU_CONFIG``, else ``./malnu.toml``, else the user config dir."""
    chosen = explicit or env.get(ENV_CONFIG)
    if chosen:
        path = expand_path(chosen)
        if path.is_dir():
            raise ConfigError(
                f"config file {path} is a directory", hint=f"give the file: {path / CONFIG_NAME}"
            )
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    for candidate in (Path.cwd() / CONFIG_NAME, user_config_dir() / CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None


def _default_dirs() -> tuple[Path, Path]:
    cwd = Path.cwd()
    # A ./migrations that is not a directory (a dangling symlink: a release folder removed)
    # is this folder's set, said missing: the bundled set was run in its place.
    if os.path.lexists(cwd / "migrations"):
        # The school guide's tree keeps rollback/ inside migrations/; ./rollback comes first.
        nested = cwd / "migrations" / "rollback"
        if not (cwd / "rollback").is_dir() and nested.is_dir():
            return cwd / "migrations", nested
        return cwd / "migrations", cwd / "rollback"
    return BUNDLED_PRIMARY / "migrations", BUNDLED_PRIMARY / "rollback"


def _path(value: object, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a path string, got {value!r}")
    p = expand_path(value, where)
    return p if p.is_absolute() else base / p


def load_settings(
    *,
    config: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file (if any) into :class:`Settings`; environment applies later."""
    env = os.environ if env is None else env
    path = find_config(config, env)
    data: dict[str, Any] = {}
    if path is not None:
        data = read_config_file(path)
        check_known_keys(data, str(path))
    base = path.parent if path else Path.cwd()
    backup_root = user_data_dir() / "backups"
    backup_cfg = data.get("backup", {})
    if isinstance(backup_cfg, dict) and "dir" in backup_cfg:
        backup_root = _path(backup_cfg["dir"], base, f"{path}: [backup] dir")
    if env.get(ENV_BACKUP_DIR):
        backup_root = expand_path(env[ENV_BACKUP_DIR], ENV_BACKUP_DIR)

    default_mig, default_rb = _default_dirs()
    targets: dict[str, Target] = {}
    raw_targets = data.get("targets", {})
    if not isinstance(raw_targets, dict):
        raise ConfigError(f"{path}: [targets] must be a table of named targets")
    for name, raw in raw_targets.items():
        where = f"{path}: [targets.{name}]"
        if not isinstance(raw, dict) or "url" not in raw:
            raise ConfigError(f'{where}: needs url = "…"')
        url = raw["url"]
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(
                f"{where} url = {url!r}: expected a database URL string (sqlite:///path.db, "
                "postgresql://user@host/db or d1://ACCOUNT/DATABASE)"
            )
        try:
            kind = url_kind(url)
        except ConfigError as exc:
            raise ConfigError(f"{where} url: {exc}", hint=exc.hint) from None
        if kind == "sqlite" and ":" in url:
            sp = sqlite_path(url)
            url = sqlite_url(sp if sp.is_absolute() else base / sp)
        elif kind == "sqlite":
            url = sqlite_url(_path(url, base, where))
        elif kind == "d1":
            check_d1_options(raw, where)
        mig = _path(raw["migrations_dir"], base, where) if "migrations_dir" in raw else default_mig
        rb = _path(raw["rollback_dir"], base, where) if "rollback_dir" in raw else default_rb
        pair_of = None if "rollback_dir" in raw else default_mig
        options = {
            k: v
            for k, v in raw.items()
            if k not in ("url", "migrations_dir", "rollback_dir", "backup_dir")
        }
        bdir = _path(raw["backup_dir"], base, where) if "backup_dir" in raw else backup_root / name
        _register_secrets(url)
        named = ("migrations_dir" in raw, "rollback_dir" in raw)
        targets[name] = Target(name, url, mig, rb, bdir, options, pair_of, named_dirs=named)
        try:
            targets[name].files_dialect  # noqa: B018 -- a bad dialect is an error at load
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    warnings = check_targets(targets, str(path)) if path else []
    if not targets:
        url = sqlite_url(user_data_dir() / "malnu.db")
        targets[DEFAULT_TARGET] = Target(
            DEFAULT_TARGET, url, default_mig, default_rb, backup_root / DEFAULT_TARGET
        )
        targets[DEFAULT_TARGET] = replace(targets[DEFAULT_TARGET], default_pair_of=default_mig)
    default = str(data.get("default_target", next(iter(targets))))
    if default not in targets:
        raise ConfigError(f"{path}: default_target {default!r} is not one of the targets")
    if path is not None:
        _check_other_sections(data, path, targets)
    return Settings(path, targets, default, backup_root, tuple(warnings))


def _check_other_sections(
    data: Mapping[str, Any], path: Path, targets: Mapping[str, Target]
) -> None:
    """The tables only some commands read ([monitor], [alerts], [log], [sync]) checked at load
    by every command, by the same functions their readers use: a bad value is exit 2 now, not
    at the next ``check`` or sync (imported only when such a table is there)."""
    if any(key in data for key in ("monitor", "alerts", "log")):
        from malnu_tui.engine.config_sections import monitor_values

        monitor_values(data, source=str(path), base=path.parent)
    if "sync" in data:
        from malnu_tui.engine.config_sections import sync_values

        sync_values(data["sync"], str(path), targets)


def resolve_target(
    settings: Settings,
    *,
    name: str | None = None,
    database: str | None = None,
    migrations_dir: str | None = None,
    rollback_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    any_target: bool = True,
) -> Target:
    """The target to work on: a flag, else the environment, else the config. A flag and an
    environment variable that name different databases (or directories) are refused (exit 2):
    an operator who types ``--target b`` with ``MALNU_DATABASE_URL`` exported hours ago must
    never work on either one without being told. A URL naming a configured target's database
    is that target (``any_target``; a sync's or an import's end given by URL keeps the name
    made from the URL, under which its state was kept)."""
    env = os.environ if env is None else env
    env_name = env.get(ENV_TARGET) or None
    env_url = env.get(ENV_DATABASE_URL) or None
    if database is not None or name is not None:
        flag = f"--database {mask_url(database)}" if database else f"--target {name}"
        flag_url = database or settings.target(name).url
        for var, value in ((ENV_DATABASE_URL, env_url), (ENV_TARGET, env_name)):
            if value is None:
                continue
            if var == ENV_TARGET:
                if value not in settings.targets:
                    raise ConfigError(f"{var}={value}: {_no_target(settings, value)}")
                other = settings.targets[value].url
            else:
                other = value
            if database_key(other) != database_key(flag_url):
                shown = value if var == ENV_TARGET else mask_url(value)
                raise ConfigError(
                    f"{flag} ({mask_url(flag_url)}) and {var}={shown} ({mask_url(other)}) name "
                    f"different databases: unset {var} or drop {flag.split()[0]}"
                )
        target = settings.target(name or env_name)
        if (
            name is not None
            and database is not None
            and (database_key(database) != database_key(target.url))
        ):
            # As a flag against a variable: the URL with that target's options (production,
            # lint, schema, D1 token) would be the worst of both.
            raise ConfigError(
                f"--database {mask_url(database)} and --target {name} "
                f"({mask_url(target.url)}) name different databases: drop one of them"
            )
    else:
        target = settings.target(env_name)
        if env_name and env_url and database_key(env_url) != database_key(target.url):
            # Neither wins silently: the URL with that target's options (production, lint,
            # schema, D1 token) would be the worst of both.
            raise ConfigError(
                f"{ENV_DATABASE_URL}={mask_url(env_url)} and {ENV_TARGET}={env_name} "
                f"({mask_url(target.url)}) name different databases: unset one of them"
            )
    url = database or (None if name or env_name else env_url) or target.url
    _register_secrets(url)
    url_kind(url)  # validate early, with a clear message
    mig = _one_dir("--migrations-dir", migrations_dir, ENV_MIGRATIONS_DIR, env)
    rb = _one_dir("--rollback-dir", rollback_dir, ENV_ROLLBACK_DIR, env)
    # The target's own database, however spelt (sqlite:////x.db, another PostgreSQL user: the
    # URL as given) is the target: its name and its backups. Another database's backups live
    # apart from the configured target's.
    same = url == target.url or database_key(url) == database_key(target.url)
    if any_target and not same and name is None and env_name is None:
        # Another configured target's database given by URL is that target (its name,
        # backups, options and migration set), not the default target's set on it.
        owners = [t for t in settings.targets.values() if database_key(t.url) == database_key(url)]
        if len(owners) == 1:
            target, same = owners[0], True
    bdir = target.backup_dir if same else url_store(settings.backup_root, url)
    resolved = Target(
        name=target.name if same else url_slug(url),
        url=url,
        migrations_dir=Path(mig) if mig else target.migrations_dir,
        rollback_dir=Path(rb) if rb else target.rollback_dir,
        backup_dir=bdir,
        options=target.options,
        default_pair_of=None if rb else target.default_pair_of,
    )
    check_rollback_dir(resolved)
    return resolved


def check_rollback_dir(target: Target) -> None:
    """A rollback directory nobody gave is the default pair's (``./rollback`` beside
    ``./migrations``, else the set bundled in the package): with another migrations directory
    (``--migrations-dir X`` alone, MALNU_MIGRATIONS_DIR, a target's migrations_dir without
    rollback_dir) a version that matched one of those files was "undone" by that set's SQL.
    Refused (exit 2), before anything is opened: no rollback directory is guessed."""
    pair_of = target.default_pair_of
    if pair_of is None or _same_dir(target.migrations_dir, pair_of):
        return
    if not Path(target.migrations_dir).is_dir():
        # A mistyped --migrations-dir is said as that: the rollback directory's refusal sent
        # the operator to add --rollback-dir, only to be told next that this one is missing.
        raise MigrationFileError(
            str(target.migrations_dir),
            "migrations directory does not exist; nothing was opened or created",
        )
    which = (
        "the set bundled in the package"
        if _same_dir(target.rollback_dir, BUNDLED_PRIMARY / "rollback")
        else f"{target.rollback_dir}, the pair of {pair_of}"
    )
    raise ConfigError(
        f"no rollback directory for {target.migrations_dir}: the default one is {which}, "
        "whose files belong to other migrations; nothing was opened or created",
        hint="name one with --rollback-dir DIR (or MALNU_ROLLBACK_DIR, or the target's "
        "rollback_dir)",
    )


def check_own_set(target: Target) -> None:
    """The bundled set stands in for ``./migrations`` only where the folder has no set of its
    own. In a Supabase CLI project (``./supabase/migrations``, no ``./migrations``) `lint
    --all` judged the school's bundled files ("0 error(s)": CI passed whatever the project's
    own files dropped) and `status` listed them. Refused (exit 2) where a command reads the
    migration files, naming the folder's set; nothing is opened or run."""
    if not _same_dir(target.migrations_dir, BUNDLED_PRIMARY / "migrations"):
        return
    theirs = _folders_set(Path.cwd())
    if theirs is not None:
        mine, rollback = (shlex.quote(p.as_posix()) for p in (theirs, theirs.parent / "rollback"))
        raise ConfigError(
            f"no ./migrations here, but ./{theirs.as_posix()} is: the default set is the one "
            "bundled in the package (the school's own), not this folder's; nothing was opened "
            "or run",
            hint=f"name this folder's set: --migrations-dir {mine} --rollback-dir {rollback} "
            "(or a target's migrations_dir and rollback_dir in malnu.toml)",
        )


def _folders_set(cwd: Path) -> Path | None:
    """The migrations directory another runner keeps in ``cwd`` (relative to it): the
    Supabase CLI's ``supabase/migrations``, or the ``migrations_dir`` a wrangler config here
    gives its D1 database (drizzle's ``drizzle``); None when there is none."""
    from malnu_tui.engine.backends.d1.wrangler_config import CONFIG_NAMES, load, migrations_dirs

    if (cwd / "supabase" / "migrations").is_dir():
        return Path("supabase") / "migrations"
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            try:
                dirs = migrations_dirs(load(cwd / name))
            except ConfigError:
                return None  # (`adopt` and `d1` say what is wrong with it)
            for d in dirs:
                if not Path(d).is_absolute() and (cwd / d).is_dir():
                    return Path(os.path.normpath(d))
            return None
    return None


def _same_dir(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _no_target(settings: Settings, name: str) -> str:
    known = ", ".join(sorted(settings.targets)) or "none"
    return f"no target named {name!r} (configured: {known})"


def _one_dir(flag: str, given: str | None, var: str, env: Mapping[str, str]) -> str | None:
    """The directory a flag names, else its environment variable; both, naming different
    directories, are refused."""
    from_env = env.get(var) or None
    if given and from_env:
        same = Path(given).expanduser().resolve() == Path(from_env).expanduser().resolve()
        if not same:
            raise ConfigError(
                f"{flag} {given} and {var}={from_env} name different directories: "
                f"unset {var} or drop {flag}"
            )
    return given or from_env


def _register_secrets(url: str) -> None:
    """The URL's password and secret parameters join the secrets every message is masked of
    (a driver's error may quote them in a form :func:`mask_url` cannot recognise)."""
    from malnu_tui.engine.monitor.debuglog import register_secret
    from malnu_tui.engine.urls import url_secrets

    for secret in url_secrets(url):
        register_secret(secret)


def url_slug(url: str) -> str:
    """The name (and backup store folder) of a database given by URL, secrets masked. A slug
    over 80 characters is cut and ends in a hash of the whole URL: two databases whose URLs
    share their first 80 characters (a Supabase pooler's ``…/postgres`` and ``…/analytics``)
    must never share a store, or one's backups would be restored over the other. A password
    neither changes it nor is in it (``?password=`` named the store ``…_password``, apart from
    the same database's under ``PGPASSWORD``): :func:`~malnu_tui.engine.urls.store_spelling`."""
    return _slug(store_spelling(url))


def _plain(spelt: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spelt).strip("_") or "target"


def _slug(spelt: str) -> str:
    slug = _plain(spelt)
    if len(slug) <= 80:
        return slug
    return f"{slug[:71]}-{hashlib.sha256(spelt.encode()).hexdigest()[:8]}"


def earlier_slugs(url: str) -> tuple[str, ...]:
    """The names earlier versions gave a database given by URL, where they differ from
    :func:`url_slug`'s: the URL as :func:`mask_url` spells it (before session 12:
    ``?password=`` made it ``…_password``), and that name cut at 80 characters without a hash
    (until 2026-12-06 03:15). Its backup store's folder and a copy's source in ``malnu_sync``
    were named so."""
    masked = mask_url(url)
    now = url_slug(url)
    return tuple(dict.fromkeys(n for n in (_slug(masked), _plain(masked)[:80]) if n != now))


def url_store(root: Path, url: str) -> Path:
    """The backup store of a database given by URL: ``root/<url_slug>``, else, where that
    folder is not there, the first of the folders :func:`earlier_slugs` names that is: its
    backups were made there, and new ones join them. A folder such a name shares with another
    database is safe to share: a database given by URL owns only the backups whose manifest
    names its URL (``backup.store.backup_of``). A root this user may not enter (a monitoring
    user; the store 0700, the backup user's) is looked at as holding none of them
    (``os.path``: False, not PermissionError out of every command given ``--database``)."""
    store = root / url_slug(url)
    if os.path.exists(store):
        return store
    return next((root / n for n in earlier_slugs(url) if os.path.isdir(root / n)), store)


def require_existing(target: Target) -> None:
    """A SQLite target's file must already be there (``import``: into a table, or ``--from``
    one): a path that names no file is a wrong path, and opening it would create the file
    with the tool's tables before saying "no table". Other kinds: the server says."""
    if target.kind == "sqlite":
        from malnu_tui.engine.backends.sqlite_open import check_path

        check_path(sqlite_path(target.url), create=False)


def not_made_yet(target: Target) -> bool:
    """A SQLite target whose file is not there yet (the first ``up`` makes it)."""
    return target.kind == "sqlite" and not sqlite_path(target.url).exists()


def open_backend(
    target: Target,
    *,
    read_only: bool = False,
    dry_run: bool = False,
    new_ok: bool = False,
    rolled_back: bool = False,
) -> Backend:
    """Connect to ``target`` with the backend module of its kind (imported lazily).
    ``read_only``: for monitoring, which never writes what it watches (SQLite opened
    ``mode=ro``, PostgreSQL's transactions READ ONLY, no tool table created anywhere: a
    database without them is :class:`~malnu_tui.engine.errors.NotInitialised`).
    ``dry_run``: read-only too, a database without the tool tables read as one where nothing
    was applied yet, and a missing SQLite file refused (:func:`require_existing`), or with
    ``new_ok`` (what `up` would make: `up --dry-run`, `plan`, `lint`) read as a new empty one,
    not created. ``rolled_back``: writable for work that is rolled back (`import --dry-run`),
    and nothing changed by opening it (a SQLite file's journal mode left as it is)."""
    kind = target.kind
    module = importlib.import_module(BACKEND_MODULES[kind])
    if dry_run and not new_ok:
        require_existing(target)
    more = {"keep_journal": True} if rolled_back and kind == "sqlite" else {}
    backend: Backend = module.open_target(
        target, read_only=read_only or dry_run, fresh_ok=dry_run, **more
    )
    from malnu_tui.engine.monitor.debuglog import name_target

    name_target(backend.display_url, target.name)  # debug lines say target=<name>
    from malnu_tui.engine.again import remember

    remember(backend, target.again)  # the hints it raises name the same target
    return backend
