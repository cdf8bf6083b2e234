"""Database URLs, parsed in one place for every kind: which kind a URL is, masking its secrets,
SQLite file paths, the tool's own options on a PostgreSQL URL, and ``d1://`` locations. Drivers
and everything above them import these from here (never from one another)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Kind
    from malnu_tui.engine.config import Target

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "ENV_PARITY_DATABASE",
    "D1Location",
    "PostgresOptions",
    "check_conninfo",
    "check_server",
    "check_timeout",
    "database_key",
    "database_key_before",
    "mask_url",
    "mask_url_error",
    "parse_d1_url",
    "recorded_url",
    "split_tool_options",
    "sqlite_path",
    "sqlite_url",
    "store_spelling",
    "url_kind",
    "url_secrets",
]

# A secret parameter (password=, sslpassword=, token=, api_key=…): its value runs to the next
# ``&name=`` (a raw ``&`` or ``#`` in a password stays inside it) or the end.
_SECRET_PARAMS = re.compile(
    r"(?i)((?:password|passwd|pwd|token|secret|apikey|api_key|key)=)((?:(?!&\w+=).)*)", re.S
)
DEFAULT_STATEMENT_TIMEOUT = "0"  # off: a long data migration is legitimate
DEFAULT_LOCK_TIMEOUT = "10s"  # but never queue forever behind another session's lock
ENV_PARITY_DATABASE = "MALNU_PARITY_DATABASE"  # the PostgreSQL server that checks translations
PERCENT_ENCODE_HINT = (
    "percent-encode a password that holds any of @ : / ? # & = % or a space "
    "(# is %23, @ is %40, / is %2F, a space is %20)"
)
URL_SETTING_HINT = (
    "libpq refused the URL itself, no server was asked: correct it (its parameters: "
    "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS)"
)
_TOOL_PARAMS = ("schema", "statement_timeout", "lock_timeout")
_TIMEOUT = re.compile(r"^\s*\d+\s*(us|ms|s|min|h|d)?\s*$")
_D1_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_timeout(name: str, value: str) -> str:
    """A ``statement_timeout``/``lock_timeout`` as PostgreSQL takes it, or a ConfigError."""
    if not _TIMEOUT.match(value):
        raise ConfigError(f"{name} must look like 0, 500ms, 10s, 5min (got {value!r})")
    return value.strip()


# -- every kind -------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """The URL with any password, and secret query parameters, replaced by ``***``.

    Read the way a person pastes it, not only as RFC 3986 says: a password may hold a raw
    ``/ ? # @ :`` (libpq even accepts ``#`` and ``?``), so when an ``@`` comes after the
    authority everything up to the URL's last ``@`` is taken for the password; a secret
    parameter's value runs to the next ``&name=``. Masking too much is safe; too little is not.
    """
    if url.lower().startswith(("sqlite:", "sqlite3:", "file:")):
        return sqlite_url(sqlite_path(url))  # no secrets; one spelling of the path
    head, netloc, userinfo_end, tail = _split_authority(url)
    if userinfo_end < 0:
        return head + netloc + _mask_params(tail)
    user = netloc[:userinfo_end].split(":", 1)[0]
    return f"{head}{user}:***@{netloc[userinfo_end + 1 :]}{_mask_params(tail)}"


def _sqlite_spelt(url: str) -> bool:
    """Whether ``url`` names a SQLite file: a ``sqlite:`` URL or a bare ``*.db`` path (which
    was recorded as typed, ``app.db``, and stored apart from its ``sqlite:///`` spelling)."""
    if url.lower().startswith(("sqlite:", "sqlite3:", "file:")):
        return True
    return ":" not in url and url.endswith((".db", ".sqlite", ".sqlite3"))


def recorded_url(url: str) -> str:
    """``url`` as a backup's manifest records it: secrets masked, a SQLite file by its
    absolute path (``sqlite:app.db`` run in two schools' folders is two databases)."""
    if _sqlite_spelt(url):
        return sqlite_url(Path(os.path.abspath(sqlite_path(url))))
    return mask_url(url)


def store_spelling(url: str) -> str:
    """``url`` as a backup store tells databases by (its folder's name under ``--database``,
    the manifests it counts as this database's): secrets masked, a password spelt the same
    wherever it was given (``user:pw@``, ``?password=``, ``PGPASSWORD``: ``user:***@``), and
    secret parameters left out, so neither a password nor where it was written changes it; nor
    do the tool's waits (``?lock_timeout=60s``, which a restore may want and its backup had
    not). A SQLite file by its absolute path (:func:`recorded_url`). PostgreSQL's two schemes
    (``postgres://``, as Heroku, Render and Railway give it, and ``postgresql://``), a host in
    any case and its default port written or not are one spelling too."""
    if _sqlite_spelt(url):
        return recorded_url(url)
    masked = mask_url(url)
    head, netloc, _end, tail = _split_authority(masked)
    at = netloc.rfind("@")
    if at >= 0:
        netloc = f"{netloc[:at].split(':', 1)[0]}:***@{netloc[at + 1 :]}"
    if head.lower() in ("postgres://", "postgresql://"):
        head = "postgresql://"
        user, sep, host = netloc.rpartition("@")
        host = host.lower()
        if host.endswith(":5432") and "," not in host:
            host = host[: -len(":5432")]
        netloc = user + sep + host
    path, _, query = tail.partition("?")
    kept = [
        p
        for p in query.split("&")
        if p and not _MASKED_PARAM.fullmatch(p) and unquote(p.partition("=")[0]) not in _WAITS
    ]
    return head + netloc + path + ("?" + "&".join(kept) if kept else "")


_WAITS = ("statement_timeout", "lock_timeout")
# A secret parameter as :func:`mask_url` leaves it (``sslpassword=***``).
_MASKED_PARAM = re.compile(r"(?i)\w*(?:password|passwd|pwd|token|secret|apikey|api_key|key)=\*\*\*")


def url_secrets(url: str) -> list[str]:
    """The secret parts of ``url`` as written (the password and secret parameter values, each
    also percent-decoded): what :func:`mask_url` hides, for messages that quote pieces of it."""
    if url.lower().startswith(("sqlite:", "sqlite3:", "file:")):
        return []
    _head, netloc, userinfo_end, tail = _split_authority(url)
    found = [m.group(2) for m in _SECRET_PARAMS.finditer(tail)]
    if userinfo_end >= 0:
        found.append(netloc[:userinfo_end].split(":", 1)[1])
    return [s for v in found if v for s in {v, unquote(v)}]


def mask_url_error(message: str, url: str) -> str:
    """A parser's or driver's message about ``url`` with its secrets masked: the whole secrets,
    and any quoted piece (``'Zq'``, ``"X9@host"``) holding a fragment of one (a parser that
    split a password with a raw ``#`` quotes the part it took for a port or a host)."""
    secrets = url_secrets(url)
    if not secrets:
        return message
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    fragments = {f for s in secrets for f in re.split(r"[@:/?#&=%\s]+", s) if len(f) >= 2}

    def quoted(m: re.Match[str]) -> str:
        text = m.group(2)
        secret = any(f in text for f in fragments) or (
            len(text) >= 2 and any(text in s for s in secrets)
        )
        return f"{m.group(1)}***{m.group(1)}" if secret else m.group(0)

    return re.sub(r"(['\"])(.*?)\1", quoted, message)


# ``scheme://`` as written, and one character off (``postgresql:/``, ``postgresql:``,
# ``postgresql//``): such a URL is refused, but its password must be masked all the same.
_AUTHORITY_START = re.compile(r"(?s)([A-Za-z][A-Za-z0-9+.-]*:/*|[^/:@\s]+//)(.*)")


def _split_authority(url: str) -> tuple[str, str, int, str]:
    """``(scheme://, authority, end of the userinfo in it or -1 without a password, rest)``."""
    m = _AUTHORITY_START.match(url)
    if not m:
        return "", "", -1, url
    scheme_sep, rest = m.group(1), m.group(2)
    end = _first_of(rest, "/?#", 0)
    userinfo = rest[: rest.rfind("@", 0, end)] if "@" in rest[:end] else rest[:end]
    at = rest.rfind("@")
    if end <= at and ":" in userinfo:
        # A password with a raw / ? # (or an @ further on, in the query): it runs to the last @.
        end = _first_of(rest, "/?#", at)
    netloc = rest[:end]
    last = netloc.rfind("@")
    has_password = last >= 0 and ":" in netloc[:last]
    return scheme_sep, netloc, last if has_password else -1, rest[end:]


def _first_of(text: str, chars: str, start: int) -> int:
    found = [i for i in (text.find(c, start) for c in chars) if i >= 0]
    return min(found, default=len(text))


def _mask_params(text: str) -> str:
    return _SECRET_PARAMS.sub(r"\1***", text)


def _parsable(url: str, kind: Kind) -> Kind:
    try:
        for one in _each_host(url) if kind == "postgresql" else [url]:
            _ = urlsplit(one).port  # bad brackets, a port that is not a number or out of range
    except ValueError as exc:
        raise ConfigError(
            f"malformed {kind} URL {mask_url(url)!r}: {mask_url_error(str(exc), url)}",
            hint="use postgresql://user@host:port/db or d1://ACCOUNT_ID/DATABASE_ID; "
            + PERCENT_ENCODE_HINT,
        ) from None
    return kind


def _each_host(url: str) -> list[str]:
    """``url`` once per host of its authority: libpq's list of servers to try in turn
    (``postgresql://u:pw@h1:5432,h2:5433/db``, for high availability), which urlsplit reads
    as one host whose port is ``5432,h2:5433`` (such a URL was refused as malformed)."""
    head, netloc, _end, tail = _split_authority(url)
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return [url]
    return [f"{head}{userinfo}{at}{host}{tail}" for host in hosts.split(",")]


def libpq_hosts(url: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The host names libpq may connect to for a PostgreSQL ``url``: each of its list
    (``postgresql://u@h1:5432,h2:5433/db``, tried in turn), or of the query's ``host``
    (``?host=h1,h2``: it wins over the authority's), else of ``$PGHOST``; in lower case,
    without a trailing dot. A socket directory or an empty entry (libpq's default) is no
    host's name. A URL libpq cannot read: its authority's hosts, as far as they read."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    env = os.environ if environ is None else environ
    try:
        listed = str(conninfo_to_dict(split_tool_options(url)[0]).get("host") or "")
        names = (listed or env.get("PGHOST", "")).split(",")
    except (Error, ConfigError, ValueError):
        names = []
        for one in _each_host(url):
            with contextlib.suppress(ValueError):
                names.append(urlsplit(one).hostname or "")
    hosts = (h.strip().rstrip(".").lower() for h in names)
    return [h for h in hosts if h and not h.startswith(("/", "@"))]


def url_kind(url: str) -> Kind:
    """``sqlite``, ``postgresql`` or ``d1`` from a target URL; ConfigError otherwise (also for
    a URL of those kinds that does not parse)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("sqlite", "sqlite3", "file"):
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return _parsable(url, "postgresql")
    if scheme == "d1":
        return _parsable(url, "d1")
    if not scheme and url.endswith((".db", ".sqlite", ".sqlite3")):
        return "sqlite"
    raise ConfigError(
        f"unsupported database URL {mask_url(url)!r}",
        hint="use sqlite:///path/to.db, postgresql://user@host/db or d1://ACCOUNT_ID/DATABASE_ID",
    )


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL: ``sqlite:///abs/path.db``, ``sqlite:rel.db`` or a bare path."""
    if url_kind(url) != "sqlite":
        raise ConfigError(f"not a SQLite URL: {mask_url(url)}")
    if ":" not in url:
        return _home(url)
    rest = url.split(":", 1)[1]
    if rest.startswith("//"):
        try:
            parts = urlsplit(url.replace("#", "%23"))  # a '#' is the path's (Kelas #1/), kept
        except ValueError as exc:  # sqlite://[… : brackets read as an IPv6 host
            raise ConfigError(
                f"malformed SQLite URL {url!r}: {exc}", hint="use sqlite:///absolute/path.db"
            ) from None
        path = unquote(parts.path)
        if parts.netloc and parts.netloc not in ("", "localhost"):
            path = parts.netloc + path  # sqlite://relative/path.db
        if not path:
            raise ConfigError(f"SQLite URL has no file path: {url}")
        if path.startswith("//"):  # SQLAlchemy's sqlite:////abs/path spelling
            path = "/" + path.lstrip("/")
        return Path(path)
    return _home(unquote(rest))


def _home(path: str) -> Path:
    """``~/x.db`` (``sqlite:~/x.db``, where no shell expands it) is in the home directory,
    never a ``~`` directory made beside the config file or the current directory."""
    if not path.startswith("~"):
        return Path(path)
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ConfigError(f"cannot expand {path!r}: no such user's home") from None


def sqlite_url(path: Path) -> str:
    """The canonical URL of a SQLite file: ``sqlite:///abs/path.db`` (``sqlite:rel.db``).
    :func:`sqlite_path` reads it back to the same path: a ``?`` and a ``%`` that would read
    as an escape are percent-encoded (a directory ``x%20`` or ``a?b`` is not another file)."""
    text = re.sub(r"%(?=[0-9A-Fa-f]{2})", "%25", str(path)).replace("?", "%3F")
    return f"sqlite://{text}" if path.is_absolute() else f"sqlite:{text}"


# -- PostgreSQL --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresOptions:
    """The tool's own settings for a PostgreSQL target."""

    schema: str = "public"
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT


def split_tool_options(url: str) -> tuple[str, PostgresOptions]:
    """Remove ``schema``/``statement_timeout``/``lock_timeout`` from the URL's query (libpq
    would reject them) and return the libpq URL and the options."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {mask_url(url)}")
    found: dict[str, str] = {}
    rest: list[str] = []
    for piece in parts.query.split("&") if parts.query else ():
        key, _, value = piece.partition("=")
        if unquote(key) in _TOOL_PARAMS:
            found[unquote(key)] = unquote(value)
        else:
            rest.append(piece)  # as written: re-encoding would turn a %20 into a + for libpq
    if not found:
        return url, PostgresOptions()
    libpq_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(rest), parts.fragment))
    return libpq_url, PostgresOptions(**found)


# -- D1 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class D1Location:
    """Which D1 database: the Cloudflare account id and the database id (a UUID)."""

    account_id: str
    database_id: str

    @property
    def url(self) -> str:
        return f"d1://{self.account_id}/{self.database_id}"


def parse_d1_url(url: str) -> D1Location:
    """``d1://ACCOUNT_ID/DATABASE_ID`` → :class:`D1Location`; ConfigError when malformed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "d1":
        raise ConfigError(f"not a D1 URL: {url!r}")
    if parts.username or parts.password or parts.query or ":" in parts.netloc:
        raise ConfigError(
            "a d1:// URL carries no credentials or options",
            hint="use d1://ACCOUNT_ID/DATABASE_ID and put the token in CLOUDFLARE_API_TOKEN",
        )
    account = parts.hostname or ""
    # urlsplit lower-cases the host; account ids are lower-case hex anyway, keep the original.
    raw_host = parts.netloc
    if raw_host.lower() == account:
        account = raw_host
    database = parts.path.strip("/")
    if not _D1_ID.match(account) or not _D1_ID.match(database):
        raise ConfigError(
            f"bad D1 URL {url!r}",
            hint="expected d1://ACCOUNT_ID/DATABASE_ID (the account id from the Cloudflare "
            "dashboard, the database id from `wrangler d1 list`)",
        )
    return D1Location(account, database)


def database_key(url: str) -> str:
    """What tells two URLs of one database apart from two databases: a SQLite file by its
    resolved path (``sqlite:a.db`` and ``sqlite:///…/a.db`` are one file), a D1 database by its
    ids, a PostgreSQL one by the servers, ports and database libpq reads from it, its query's
    ``host``/``hostaddr``/``port``/``dbname``/``service`` included (never the user, password or
    options): ``postgresql:///x?host=db1`` and ``?host=db2`` were one key, and one database's
    incident or sync grace was taken for the other's."""
    kind = url_kind(url)
    if kind == "sqlite":
        return "sqlite:" + str(sqlite_path(url).expanduser().resolve())
    if kind == "d1":
        return parse_d1_url(url).url.lower()
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict

        params = {k: str(v) for k, v in conninfo_to_dict(split_tool_options(url)[0]).items()}
    except (Error, ConfigError, ValueError):
        return database_key_before(url)
    hosts = params.get("host", "").split(",")
    addrs = params.get("hostaddr", "").split(",")
    ports = params.get("port", "").split(",")
    servers = []
    for i in range(max(len(hosts), len(addrs))):
        # The host's name where given (what the server's certificate names), else its address;
        # a socket directory's case is kept, a host name's is not.
        host = (hosts[i] if i < len(hosts) else "").strip() or (
            addrs[i] if i < len(addrs) else ""
        ).strip()
        host = host if host.startswith(("/", "@")) else host.lower()
        port = (ports[i] if i < len(ports) else ports[0] if len(ports) == 1 else "").strip()
        servers.append(f"{host}:{port or 5432}")
    name = params.get("dbname") or params.get("user") or ""
    service = f"?service={params['service']}" if params.get("service") else ""
    return f"postgresql://{','.join(servers)}/{name}{service}"


def database_key_before(url: str) -> str:
    """:func:`database_key` as versions before session 25 gave it (a PostgreSQL URL's query
    ignored): state kept under it (incidents, sync pairs' first sighting) is taken over once."""
    if url_kind(url) != "postgresql":
        return database_key(url)
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:  # a multi-host list libpq could not read either: never its password
        return store_spelling(url)
    name = parts.path.strip("/") or parts.username or ""
    return f"postgresql://{parts.hostname or ''}:{port}/{name}"


# Supabase's transaction-mode poolers (Supavisor on the shared pooler host, PgBouncer on the
# dedicated one) answer on this port: each transaction may run on another server connection.
SUPABASE_TRANSACTION_PORT = "6543"


def libpq_endpoints(
    params: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Each (host, port) libpq may connect to for conninfo ``params``, paired as libpq pairs
    them: the hosts (else ``$PGHOST``; lower case, no trailing dot), each with the port at its
    place in the port list (else ``$PGPORT``), or the one port for all; an empty port is
    5432. Lists whose lengths libpq refuses: each host with each port."""
    env = os.environ if environ is None else environ
    hosts = (params.get("host") or env.get("PGHOST", "")).split(",")
    hosts = [h.strip().rstrip(".").lower() for h in hosts]
    ports = [p.strip() or "5432" for p in (params.get("port") or env.get("PGPORT", "")).split(",")]
    if len(ports) == 1:
        ports *= len(hosts)
    if len(ports) == len(hosts):
        return list(zip(hosts, ports, strict=True))
    return [(h, p) for h in hosts for p in ports]


def refuse_transaction_pooler(
    params: Mapping[str, str], url: str, environ: Mapping[str, str] | None = None
) -> None:
    """ConfigError for a URL (libpq's ``params`` of it) naming a Supabase transaction pooler:
    there the migration lock, the session's timeouts and prepared statements do not hold from
    one transaction to the next, and a session setting of the tool's stays on the server
    connection the application gets next (Supabase: "does not support session-level features
    (SET, … advisory locks)"; the direct connection is the one for migrations and pg_dump)."""
    # Each host with its own port: `db.x.supabase.co:5432,replica:6543` was refused (a
    # Supabase host, and a 6543 of another server).
    if any(
        h.endswith((".supabase.com", ".supabase.co")) and p == SUPABASE_TRANSACTION_PORT
        for h, p in libpq_endpoints(params, environ)
    ):
        raise ConfigError(
            f"{mask_url(url)}: port 6543 is Supabase's transaction pooler, where each "
            "transaction may run on another server connection: the migration lock and the "
            "tool's session settings would not hold (and would reach the application's "
            "connections)",
            hint="use the direct connection (db.<project>.supabase.co:5432) or the session "
            "pooler (the same pooler host, port 5432)",
        )


# -- the server that checks translations ------------------------------------------------------


def check_server(
    target: Target,
    targets: Mapping[str, Target],
    chosen: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The PostgreSQL server that checks translations (``plan --check``, ``diff --check``,
    ``parity`` and the console's SQL view, one rule): ``chosen`` (a URL or a target's name),
    else ``$MALNU_PARITY_DATABASE`` (the same), else the target itself when it is PostgreSQL;
    None when no server is known. A chosen server that is not PostgreSQL is a ConfigError."""
    env = os.environ if environ is None else environ
    value = chosen or env.get(ENV_PARITY_DATABASE)
    if value:
        if value in targets:
            value = _with_timeouts(targets[value])
        try:
            kind: str | None = url_kind(value)
        except ConfigError:  # not a URL (nor a target's name): say where it came from
            kind = None
        if kind != "postgresql":
            where = "--postgres" if chosen else f"${ENV_PARITY_DATABASE}"
            raise ConfigError(
                f"{where} must be a postgresql:// URL or a PostgreSQL target",
                hint=f"it is {mask_url(value)!r}; targets: {', '.join(sorted(targets)) or 'none'}",
            )
        return str(value)
    return _with_timeouts(target) if target.kind == "postgresql" else None


def _with_timeouts(target: Target) -> str:
    """The target's URL carrying its config's ``statement_timeout`` and ``lock_timeout``
    (they win over the URL's, as for every connection of the tool's): the check's connection
    (parity/scratch.py) reads them there, where a named target's config ones were lost."""
    options = getattr(target, "options", None) or {}
    given = {k: str(options[k]) for k in ("statement_timeout", "lock_timeout") if k in options}
    if not given or target.kind != "postgresql":
        return target.url
    parts = urlsplit(target.url)
    kept = [p for p in parts.query.split("&") if p and unquote(p.partition("=")[0]) not in given]
    kept += [f"{k}={quote(v)}" for k, v in given.items()]
    return urlunsplit(parts._replace(query="&".join(kept)))


def live_schema(
    target: Target,
    targets: Mapping[str, Target],
    chosen: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The schema ``parity --live`` compares on the server :func:`check_server` picks: that
    target's ``schema`` option, else its URL's ``?schema=``, else ``public`` (a mirror kept in
    ``schema = "reporting"`` was compared with ``public``, where its tables are not)."""
    env = os.environ if environ is None else environ
    value = chosen or env.get(ENV_PARITY_DATABASE)
    server = targets.get(value) if value else target if target.kind == "postgresql" else None
    if server is None:
        return split_tool_options(value)[1].schema if value else PostgresOptions.schema
    options = getattr(server, "options", None) or {}
    return str(options.get("schema", split_tool_options(server.url)[1].schema))


def check_conninfo(url: str) -> None:
    """libpq's own reading of the URL (bad percent-encoding, unknown parameters) before any
    connection: a malformed URL is a usage error (exit 2), never "cannot connect"."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as exc:
        why = mask_url_error(str(exc).strip(), url)
        raise ConfigError(
            f"malformed PostgreSQL URL {mask_url(url)!r}: {why}", hint=PERCENT_ENCODE_HINT
        ) from None
    if "@" in str(params.get("host", "")) and urlsplit(url).netloc.count("@") > 1:
        # libpq ends the user part at the first @: a password holding a raw @ left the rest
        # of it in the host, "cannot connect … failed to resolve host" (exit 1, retried).
        raise ConfigError(
            f"malformed PostgreSQL URL {mask_url(url)!r}: more than one @ before the host "
            "(a password holding a raw @ is read up to it, the rest of it as the host)",
            hint=PERCENT_ENCODE_HINT,
        )
    for port in str(params.get("port", "")).split(","):
        # psycopg looks a host name up with the port before libpq reads it: `?port=5x` was
        # "failed to resolve host 'db.…': Servname not supported", exit 1, retried by cron.
        value = port.strip()
        if value and not (value.isdigit() and 0 < int(value) < 65536):
            why = (  # libpq's words, as said when the host is an address
                f'invalid integer value "{value}" for connection option "port"'
                if not value.isdigit()
                else f'invalid port number: "{value}"'
            )
            raise ConfigError(f"cannot connect to {mask_url(url)}: {why}", hint=URL_SETTING_HINT)
    refuse_transaction_pooler({k: str(v) for k, v in params.items()}, url)
