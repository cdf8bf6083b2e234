"""The schema of ``malnu.toml``: every key it may hold, and the values an enumerated or boolean
key accepts, checked once when the file is loaded (a typo or a value outside the list is exit 2
naming the file, the ``[section] key`` and the nearest valid word, never a silent default)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.urls import database_key, mask_url, split_tool_options

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target

# The dialects migration files may be written in (``dialect = …``, any case).
DIALECTS: dict[str, str] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}
LINT_MODES = ("warn", "enforce")  # enforce: up refuses while a lint error remains
WEBHOOK_KINDS = ("slack", "json")

# Every key ``malnu.toml`` may hold, in one table: a typo is an error naming the nearest known
# key, never a silent option. Sections are dotted paths; ``NAME`` stands for a name the operator
# chooses ([targets.primary], [sync.reporting]); an array of tables ([[alerts.webhooks]]) is
# checked entry by entry against its path. ``FREE_FORM`` sections take any key ([keys] holds
# binding ids). Adding a setting = adding its key here (and reading it where it is used).
ANY_KEY = "*"
FREE_FORM: frozenset[str] = frozenset({ANY_KEY})
NAMED = "NAME"
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(
        {"default_target", "backup", "targets", "keys", "monitor", "alerts", "log", "sync"}
    ),
    "backup": frozenset({"dir"}),
    "keys": FREE_FORM,
    "targets": frozenset({NAMED}),
    "targets.NAME": frozenset(
        {
            "url",
            "migrations_dir",
            "rollback_dir",
            "backup_dir",
            "dialect",  # dialect of the files: "sqlite" (translated on PostgreSQL) or the target's
            # PostgreSQL
            "schema",
            "statement_timeout",
            "lock_timeout",
            # D1
            "api_token_env",
            "api_token",
            "api_base",
            "timeout",
            "retry_attempts",
            "retry_base_delay",
            "retry_max_delay",
            # policy
            "lint",  # "enforce": up refuses while a lint error remains
            "production",  # true: monitored as production
            "supabase",  # true/false: Supabase's lint rules (default: guessed, lint/supabase.py)
        }
    ),
    "monitor": frozenset(
        {
            "slow_migration_seconds",
            "backup_max_age_hours",
            "pending_max_age_days",
            "sync_max_lag_minutes",
            "sync_never_run_hours",
            "check_timeout_seconds",
            "supabase_public",  # ["public.kelas_ringkas"]: served whole to anon on purpose
        }
    ),
    "alerts": frozenset({"webhooks", "notify_after", "resolve_after"}),
    "alerts.webhooks": frozenset({"kind", "url", "timeout", "retries"}),
    "log": frozenset({"file", "max_bytes", "backups"}),
    "sync": frozenset({NAMED}),
    "sync.NAME": frozenset({"from", "to", "tables", "overlap", "cursor", "chunk_rows"}),
}


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed TOML of the config file, read alike by each of its readers. A UTF-8 byte-order
    mark (Windows Notepad's "UTF-8 with BOM") is allowed; a UTF-16 file (Notepad's "Unicode")
    is named as that, with what to do."""
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            f'{path}: cannot read: the file is UTF-16 (Notepad\'s "Unicode"), not UTF-8',
            hint="save it again as UTF-8",
        )
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", hint="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:  # `a = [[[[…` thousands deep: a traceback for every command
        raise ConfigError(f"{path}: {NESTED_TOO_DEEP}") from None
    _refuse_nul(path, text, data)
    return data


NESTED_TOO_DEEP = "not valid TOML: arrays or tables nested too deep to read"
_NUL_ESCAPE = re.compile(r"\\(?:u0000|U00000000)")


def _refuse_nul(path: Path, text: str, data: Mapping[str, Any]) -> None:
    """ConfigError naming the key and line of the first key or string that holds a NUL
    character (``\\u0000``: a raw NUL byte TOML itself refuses, by line and column). A path,
    a URL or a target's name holding one ended every command in a traceback (ValueError:
    embedded null byte) wherever it was first used."""

    def first(table: Mapping[str, Any], dotted: str, shown: str) -> str | None:
        """The first key (or table) holding a NUL, as the file spells it."""
        for key, value in table.items():
            inner = f"{dotted}.{key}" if dotted else key
            if "\0" in key and isinstance(value, dict):
                return f"[{inner}]"
            strings = (
                [value] if isinstance(value, str) else value if isinstance(value, list) else []
            )
            if "\0" in key or any(isinstance(v, str) and "\0" in v for v in strings):
                return f"{shown} {key}" if shown else key
            tables = [value] if isinstance(value, dict) else strings
            for i, sub in enumerate(tables, 1):
                label = f"[{inner}]" if sub is value else f"[[{inner}]] #{i}"
                if isinstance(sub, dict) and (found := first(sub, inner, label)) is not None:
                    return found
        return None

    found = first(data, "", "")
    if found is None:
        return
    name = found.rsplit(" ", 1)[-1]
    lines = [n for n, line in enumerate(text.splitlines(), 1) if _NUL_ESCAPE.search(line)]
    line = next((n for n in lines if "\0" not in name and name in text.splitlines()[n - 1]), None)
    where = f" (line {line or lines[0]})" if lines else ""
    shown = found.replace("\0", "\\u0000")
    raise ConfigError(
        f"{path}: {shown} holds a NUL character (\\u0000){where}",
        hint="remove it (a file saved by a broken editor): no path, URL or name holds one",
    )


def check_known_keys(
    data: Mapping[str, Any], where: str, section: str = "", shown: str = ""
) -> None:
    """ConfigError (exit 2) for the first key of ``data`` that :data:`KNOWN_KEYS` does not
    list for ``section``, naming the key and the nearest known one. ``shown`` is the section
    as the file spells it (``targets.primary`` for ``targets.NAME``)."""
    known = KNOWN_KEYS.get(section, FREE_FORM)
    if ANY_KEY in known:
        return
    for key, value in data.items():
        inner = f"{shown}.{key}" if shown else key
        if NAMED in known:
            child = f"{section}.{NAMED}"
        elif key in known:
            child = f"{section}.{key}" if section else key
        else:
            label = f"[{shown}] {key}" if shown else key
            close = closest(key, sorted(known), 0.6)
            near = f"did you mean {close!r}?" if close else "known: " + ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown key {label} ({near})")
        check_value(section, key, value, where, f"[{shown}] {key}" if shown else key)
        if child not in KNOWN_KEYS:
            continue
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: [{inner}] must be a table")
            check_known_keys(table, where, child, inner)


# The words an enumerated key accepts (compared in lower case, as its reader does), and the
# keys that take a TOML boolean. ``section`` as in KNOWN_KEYS.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("targets.NAME", "dialect"): tuple(DIALECTS),
    ("targets.NAME", "lint"): LINT_MODES,
    ("alerts.webhooks", "kind"): WEBHOOK_KINDS,
}
BOOLEANS: frozenset[tuple[str, str]] = frozenset(
    {("targets.NAME", "production"), ("targets.NAME", "supabase")}
)


def closest(word: str, choices: Sequence[str], cutoff: float) -> str | None:
    """The choice most like ``word`` (a mistake's "did you mean"), or None."""
    import difflib  # loaded only for a mistake: every command reads the config

    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return close[0] if close else None


_TRUE_WORDS = frozenset({"yes", "y", "on", "1", "true", "enabled", "enable"})
_FALSE_WORDS = frozenset({"no", "n", "off", "0", "false", "disabled", "disable", ""})


def check_value(section: str, key: str, value: object, where: str, label: str) -> None:
    """ConfigError when ``value`` is not one of the words (or not the boolean) ``key`` takes.
    ``label`` is how the file spells the key (``[targets.primary] lint``)."""
    if (section, key) in BOOLEANS:
        if isinstance(value, bool):
            return
        said = str(value).strip().lower()
        near = "true" if said in _TRUE_WORDS else "false" if said in _FALSE_WORDS else None
        tip = f" (did you mean {near}, unquoted?)" if near else ""
        raise ConfigError(f"{where}: {label} = {value!r}: expected true or false{tip}")
    allowed = ENUMS.get((section, key))
    if allowed is None:
        return
    word = value.strip().lower() if isinstance(value, str) else None
    if word in allowed:
        return
    close = closest(word or str(value).lower(), allowed, 0.5)
    tip = f" (did you mean {close!r}?)" if close else ""
    raise ConfigError(f"{where}: {label} = {value!r}: expected one of: {', '.join(allowed)}{tip}")


def check_targets(targets: Mapping[str, Target], where: str) -> list[str]:
    """Refuse two targets on one database (two tracking views of one schema: each would see
    the other's runs as its own); a PostgreSQL database is shared only by targets whose tool
    tables live in different schemas. Return a warning for each ``backup_dir`` two
    targets share (their backups would mix in one store)."""

    seen: dict[tuple[str, str], str] = {}
    for name, target in targets.items():
        schema = ""
        if target.kind == "postgresql":
            schema = str(target.options.get("schema") or split_tool_options(target.url)[1].schema)
        key = (database_key(target.url), schema)
        if key in seen:
            other = seen[key]
            tail = f" (schema {schema!r})" if schema else ""
            raise ConfigError(
                f"{where}: [targets.{other}] and [targets.{name}] name one database, "
                f"{mask_url(target.url)}{tail}: two targets there would each track the other's "
                "migrations; remove one" + (", or give each its own schema = …" if schema else "")
            )
        seen[key] = name
    warnings: list[str] = []
    dirs: dict[Path, str] = {}
    for name, target in targets.items():
        place = target.backup_dir.expanduser().resolve()
        if place in dirs:
            warnings.append(
                f"{where}: [targets.{dirs[place]}] and [targets.{name}] share backup_dir "
                f"{place}: their backups mix in one store; give each its own"
            )
        else:
            dirs[place] = name
    return warnings


# D1 options: number → (smallest, largest) allowed, a number of tries or of seconds; text
# options are non-empty strings. ``label`` says where: "D1 option" when a backend opens, the
# file and ``[targets.NAME]`` when the config is loaded (which checks them first).
D1_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "retry_attempts": (1, 100),
    "retry_base_delay": (0, 3600),
    "retry_max_delay": (0, 3600),
    "timeout": (0.1, 3600),
}
D1_TEXT_OPTIONS = ("api_token_env", "api_token", "api_base")


def d1_number(options: Mapping[str, Any], key: str, default: float, label: str) -> float:
    """A D1 number option, ConfigError when out of range (NaN, infinity, a wrong type)."""
    value = options.get(key, default)
    low, high = D1_NUMBER_RANGES[key]
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:  # also NaN
        raise ConfigError(f"{label} {key} must be a number from {low:g} to {high:g}, got {value!r}")
    if key == "retry_attempts" and number != int(number):
        raise ConfigError(f"{label} retry_attempts must be a whole number, got {number:g}")
    return number


def d1_text(options: Mapping[str, Any], key: str, label: str) -> str | None:
    """A D1 text option (None when unset); ConfigError when empty or not a string."""
    value = options.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        shown = "***" if key == "api_token" else repr(value)  # a token is never echoed
        raise ConfigError(f"{label} {key} must be a non-empty string, got {shown}")
    return value


def d1_token_variable(options: Mapping[str, Any], label: str, default: str) -> str:
    """The variable ``api_token_env`` names (else ``default``). A value that is no variable
    name is most likely the token pasted in its place: refused, and never echoed."""
    name = d1_text(options, "api_token_env", label) or default
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        raise ConfigError(
            f"{label} api_token_env must name an environment variable (upper-case letters, "
            "digits and _, like CLOUDFLARE_API_TOKEN); it does not: is the token itself there?",
            hint="put the token in that variable, never in the config file; "
            "if the file holds a token, revoke it and make a new one",
        )
    return name


def check_d1_options(options: Mapping[str, Any], label: str) -> None:
    """Every D1 option a target sets, checked as the backend will read it."""
    for key in D1_NUMBER_RANGES:
        if key in options:
            d1_number(options, key, 0, label)
    for key in D1_TEXT_OPTIONS:
        d1_text(options, key, label)
    if "api_token_env" in options:
        d1_token_variable(options, label, "")
