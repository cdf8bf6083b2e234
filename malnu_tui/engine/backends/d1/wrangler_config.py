"""wrangler's own configuration, read as wrangler reads it: ``wrangler.json``, then
``wrangler.jsonc``, then ``wrangler.toml``, each looked for from a directory up to the root
(wrangler's ``findWranglerConfig``: a ``wrangler.json`` above wins over a ``wrangler.toml``
beside), JSON with comments and trailing commas as wrangler's JSONC parser takes it. Only the
D1 databases' ``migrations_table`` (the name of wrangler's own history table) and
``migrations_dir`` (where the project keeps its set) matter here.
``d1_databases`` is not inherited by wrangler's environments, so each ``env.NAME`` has its own."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from malnu_tui.engine.errors import ConfigError

__all__ = [
    "CONFIG_NAMES",
    "WranglerD1",
    "d1_databases",
    "find_config",
    "load",
    "migrations_dirs",
    "pick_table",
]

CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")  # wrangler's order
DEFAULT_TABLE = "d1_migrations"


@dataclass(frozen=True)
class WranglerD1:
    """One ``d1_databases`` entry of a wrangler config."""

    where: str  # "d1_databases[0]", "env.production.d1_databases[0]"
    database_id: str
    table: str  # its migrations_table, else wrangler's default

    def describe(self) -> str:
        return f"{self.where} ({self.database_id or 'no database_id'}): {self.table}"


def find_config(start: Path) -> Path | None:
    """The config wrangler run in ``start`` would read, or None."""
    here = Path(start).resolve()
    if here.is_file():
        here = here.parent
    dirs = [here, *here.parents]
    for name in CONFIG_NAMES:
        for d in dirs:
            if (d / name).is_file():
                return d / name
    return None


def _strip_jsonc(text: str) -> str:
    """``text`` as plain JSON: comments blanked (lines kept, so a parse error's line is the
    file's) and trailing commas dropped, strings left exactly as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            if lines := text.count("\n", i, j):
                out.append("\n" * lines)
            i = j
        elif c in "}]":
            k = len(out) - 1  # a comma before it, blanks and comments between, is dropped
            while k >= 0 and out[k].isspace():
                k -= 1
            if k >= 0 and out[k] == ",":
                out[k] = " "
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load(path: Path) -> dict[str, Any]:
    """The parsed config; a file wrangler could not read either is one line naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(_strip_jsonc(text))
    except OSError as exc:
        raise ConfigError(f"cannot read wrangler's config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON(C): {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or objects nested too deep to read") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: wrangler's config is not an object")
    return data


def d1_databases(data: dict[str, Any]) -> list[WranglerD1]:
    """Every D1 database of the config: the top level's, then each environment's."""
    scopes: list[tuple[str, object]] = [("", data.get("d1_databases"))]
    envs = data.get("env")
    if isinstance(envs, dict):
        scopes += [
            (f"env.{k}.", v.get("d1_databases")) for k, v in envs.items() if isinstance(v, dict)
        ]
    found: list[WranglerD1] = []
    for prefix, dbs in scopes:
        for i, d in enumerate(dbs if isinstance(dbs, list) else []):
            if isinstance(d, dict):
                table = str(d.get("migrations_table") or DEFAULT_TABLE)
                found.append(
                    WranglerD1(f"{prefix}d1_databases[{i}]", str(d.get("database_id") or ""), table)
                )
    return found


def migrations_dirs(data: dict[str, Any]) -> list[str]:
    """The ``migrations_dir`` each D1 database of the config names (wrangler's default,
    ``migrations``, where it names none), in the config's order, each once."""
    scopes: list[object] = [data.get("d1_databases")]
    envs = data.get("env")
    if isinstance(envs, dict):
        scopes += [v.get("d1_databases") for v in envs.values() if isinstance(v, dict)]
    found: list[str] = []
    for dbs in scopes:
        for d in dbs if isinstance(dbs, list) else []:
            if isinstance(d, dict):
                value = d.get("migrations_dir")
                name = value if isinstance(value, str) and value else "migrations"
                if name not in found:
                    found.append(name)
    return found


def pick_table(
    start: Path, database_id: str | None = None, present: Callable[[str], bool] | None = None
) -> str | None:
    """wrangler's ``migrations_table`` for the database at hand, from the config found from
    ``start``: for a D1 database the entries whose ``database_id`` is ``database_id`` (none:
    the config is another database's), else every entry; among several tables, the one
    ``present`` finds in the database. None: no config, or no entry (wrangler's default).
    Several tables that cannot be told apart are an error (exit 2): guessing reads the wrong
    history, and `up` would run again what wrangler applied."""
    path = find_config(start)
    if path is None:
        return None
    dbs = d1_databases(load(path))
    if database_id:  # another project's config names other databases, not this one
        dbs = [d for d in dbs if d.database_id == database_id]
    tables = sorted({d.table for d in dbs})
    if len(tables) <= 1:
        return tables[0] if tables else None
    if present is not None:
        here = [t for t in tables if present(t)]
        if len(here) <= 1:
            return here[0] if here else None
    raise ConfigError(
        f"{path}: its D1 databases name different migrations tables ("
        + "; ".join(d.describe() for d in dbs)
        + "), and this database cannot be told apart from them",
        hint="set each database's database_id in that file (`wrangler d1 list` shows them); "
        "`adopt` and `d1 wrangler-status` also take --table NAME",
    )
