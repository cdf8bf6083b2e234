"""Values that are secrets by their column's name (a password's hash, a token, an API key,
Indonesian "kata sandi"), and how a message, a report or an audit row shows one: never whole.
A key that is a secret is shown by a short fingerprint (``sha256:ab12cd34…``: two reports of
one key still match), any other secret value as ``(hidden)``."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "HIDDEN",
    "ROW_REFUSED",
    "Masked",
    "SecretName",
    "is_failing_row",
    "masked",
    "masked_detail",
    "names_key",
    "secret_by_shape",
    "secret_column",
    "secret_in",
    "secret_names",
]

_FAILING_ROW = "Failing row contains ("


class Masked(str):
    """A value as shown in place of a secret (printed as it is, never quoted)."""

    __slots__ = ()


HIDDEN = Masked("(hidden)")

# Long words are found inside a name too (``passwordhash``: a PostgreSQL copy folds
# ``passwordHash``), short ones as its words only (``pin``, not ``pinned``).
_SECRET_PARTS = (
    "password",
    "passwd",
    "passcode",
    "sandi",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "recoverycode",  # two-factor recovery codes (Laravel Fortify's two_factor_recovery_codes)
    "authcode",  # an OAuth/PKCE flow's code, exchanged for a session (Supabase's flow_state)
    "authorizationcode",
)
_SECRET_WORDS = frozenset({"pwd", "pw", "salt", "otp", "pin"})
# "hash" alone is a file's or a row's checksum (``content_hash``, ``file_hash``,
# ``hash_algorithm``: what an operator matches rows by); a secret's hash when it is the whole
# name or beside a secret's word (``password_hash``, ``reset_token_hash``, ``pw_hash``) or a
# word a secret goes by (``key_hash``, an API key's; ``pass_hash``, ``auth_hash``).
_HASH_SECRET_WORDS = frozenset({"key", "keys", "pass", "auth", "login", "session"})
# Words holding one of _SECRET_PARTS that name no secret: a club's secretary, its drama
# ("sandiwara"), the owner of a Laravel token (``tokenable_id``: a user's id, ``tokenable_type``)
# — the values an operator finds a row by.
_NOT_SECRET = re.compile(r"secretar(?:y|ies|iat)|sandiwara|tokenable")
# A name whose last word is a time, a count or what kind of secret it is holds when, how
# often or how, not the secret it is named after (``password_changed_at``, ``token_expires_at``,
# ``failed_pin_attempts``, ``refresh_token_counter``; ``token_type`` "bearer", Supabase's
# ``one_time_tokens.token_type``; ``password_hash_algorithm``, ``pin_length``, OAuth's
# ``token_expires_in``, ``code_challenge_method``); a secret's word after it still makes a
# secret (``expired_token``, ``token_type_secret``). A PostgreSQL copy folds
# ``passwordChangedAt`` into one word: its ending is read (``…edat``, ``…expires``, ``…type``).
_DESCRIBING_WORDS = frozenset(
    {"at", "on", "date", "time", "timestamp", "ts", "count", "counter", "attempts", "tries"}
    | {"expires", "expiry", "expiration", "until", "ttl"}
    | {"type", "kind", "algorithm", "algo", "alg", "length", "len", "format", "version"}
    | {"method", "policy", "rounds", "iterations", "cost", "strength"}
)
_FOLDED_DESCRIBING = re.compile(
    r"(?:ed|sent|expires)(?:at|on)$|(?:date|time|timestamp|count|counter|attempts|expires|expiry)$"
    r"|(?:type|algorithm|length|format|version|method|policy|rounds|iterations|expiresin)$"
)
# A shorter secret is shown (hidden), not fingerprinted: a 6-digit PIN is found from 8 hex
# digits of its hash by trying the million.
_FINGERPRINTED = 16


class SecretName(str):
    """A column's name whose values are secrets by its table's shape, not by its words
    (:func:`secret_by_shape`): :func:`secret_column` of it is true wherever it goes (a sync's
    key, its reports and messages)."""

    __slots__ = ()


# Tables whose shape says a column holds secrets its name does not: Laravel's database session
# driver's (id, user_id, ip_address, user_agent, payload, last_activity), whose id is the
# session cookie's value, a bearer secret (a school's own ``sessions`` of lessons, keyed by id
# too, has no payload and last_activity); Supabase's auth.refresh_tokens (token, parent,
# revoked, session_id…), whose parent is the token it replaced, still taken within GoTrue's
# reuse interval. (Supabase's auth.sessions.id is no bearer: a session is used by its signed
# JWT or its refresh token.)
_SHAPES = (
    (frozenset({"id", "payload", "last_activity"}), "id"),
    (frozenset({"token", "parent", "revoked"}), "parent"),
)


# Tables whose shape says a column named like a secret holds none: Laravel Passport's
# oauth_clients, whose password_client is a flag (may the client use the password grant?)
# beside personal_access_client and revoked, flags too; its ``secret`` stays one.
_PLAIN_SHAPES = ((frozenset({"password_client", "personal_access_client", "revoked"}),
                  "password_client"),)  # fmt: skip


def secret_by_shape(columns: Iterable[str]) -> frozenset[str]:
    """The columns of a table of ``columns`` that hold secrets by the table's shape, though
    their names do not: Laravel's ``sessions.id``, Supabase's ``refresh_tokens.parent``."""
    names = set(columns)
    return frozenset(column for shape, column in _SHAPES if names >= shape)


def secret_in(columns: Iterable[str]) -> Callable[[str], bool]:
    """Whether a column of the table of ``columns`` holds secrets: by its name
    (:func:`secret_column`) or its table's shape (:func:`secret_by_shape`), except a name
    its table's shape shows to hold none (Passport's ``oauth_clients.password_client``)."""
    names = set(columns)
    by_shape = secret_by_shape(names)
    plain = frozenset(column for shape, column in _PLAIN_SHAPES if names >= shape)

    def secret(column: str) -> bool:
        return column in by_shape or (column not in plain and secret_column(column))

    return secret


def secret_names(names: tuple[str, ...], columns: Iterable[str]) -> tuple[str, ...]:
    """``names`` (a key's) with those that hold secrets by the shape of their table of
    ``columns`` as :class:`SecretName`."""
    by_shape = secret_by_shape(columns)
    return tuple(SecretName(n) if n in by_shape else n for n in names)


def secret_column(name: str) -> bool:
    """Whether ``name`` (``password_hash``, ``passwordHash``, ``api_key``, ``remember_token``)
    holds secrets, by its words (``password_changed_at``, a time, does not; nor a file's
    ``content_hash``) or, a :class:`SecretName`, by its table's shape. Capitals run together
    end a word before a capitalised one (PostgreSQL keeps a quoted ``"PINCode"``: ``pin``
    and ``code``)."""
    return isinstance(name, SecretName) or _secret_words(name)


@functools.lru_cache(maxsize=1024)  # asked for each key of a report's differences
def _secret_words(name: str) -> bool:
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words).lower()
    parts = [w for w in re.split(r"[^a-z0-9]+", words) if w]
    if (len(parts) > 1 and parts[-1] in _DESCRIBING_WORDS) or parts[-2:] == ["expires", "in"]:
        return False
    if parts and _FOLDED_DESCRIBING.search(parts[-1]) and parts[-1] not in _DESCRIBING_WORDS:
        return False
    if not _SECRET_WORDS.isdisjoint(parts):
        return True
    if "hash" in parts and (len(parts) == 1 or not _HASH_SECRET_WORDS.isdisjoint(parts)):
        return True
    # Run together, ``api_key`` is ``apikey``; a long word counts where it lies in one word or
    # begins one (not ``pesan_dikirim``, a message sent: "pe-sandi-kirim").
    joined = _NOT_SECRET.sub(lambda m: "#" * len(m[0]), "".join(parts))
    starts, at = set(), 0
    for w in parts:
        starts.add(at)
        at += len(w)
    word_of = [i for i, w in enumerate(parts) for _ in w]
    for p in _SECRET_PARTS:
        at = joined.find(p)
        while at >= 0:
            if at in starts or word_of[at] == word_of[at + len(p) - 1]:
                return True
            at = joined.find(p, at + 1)
    return False


def masked(value: Any) -> Any:
    """A secret ``value`` as shown: ``sha256:`` and the first 8 hex digits of the SHA-256 of
    its text (UTF-8; bytes as they are), so the same key reads the same in every report and
    can be looked for (PostgreSQL: ``left(encode(sha256(convert_to(token, 'UTF8')), 'hex'),
    8)``); ``(hidden)`` under 16 characters; NULL (None) and a value masked already as they
    are."""
    if value is None or isinstance(value, Masked):
        return value
    raw = bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None
    if raw is None:
        raw = str(value).encode("utf-8", "surrogatepass")
    if len(raw) < _FINGERPRINTED:
        return HIDDEN
    return Masked(f"sha256:{hashlib.sha256(raw).hexdigest()[:8]}…")


# PostgreSQL's detail naming an index's values, ``(cols)=(values)`` in every language of
# lc_messages (it is built before it is translated): "Key (token)=(…) already exists.",
# "Schlüssel »(token)=(…)« existiert bereits.", "La clé « (token)=(…) » existe déjà.",
# "(token)=(…) 키가 …", a partition key's "Partition key of the failing row contains (…)=(…)."
# A column may be an expression (``lower(email::text)``). A value may hold ")" or ", ", and a
# newline, printed as it is: it ends at a ")" before English words that follow one, or at
# the detail's last ")", or before an exclusion's second key ("… conflicts with existing key
# (…)=(…)", "… kollidiert mit vorhandenem Schlüssel (…)=(…)").
_COLS = r"(?:[^()\n]|\((?:[^()\n]|\([^()\n]*\))*\))+?"
_KEY_VALUES = re.compile(
    rf"\((?P<cols>{_COLS})\)=\((?P<vals>.*?)\)"
    r"(?=\.?\Z| already exists| is duplicated| is not present| is still referenced| conflicts"
    r"|[^)]*\Z|[^()]*\((?P=cols)\)=\()",
    re.DOTALL,
)
# The SQLSTATEs whose detail is the row refused, every value of it: NOT NULL's and CHECK's (a
# partition's bounds included). "Failing row contains (…)." in English; "Fehlgeschlagene Zeile
# enthält (…).", "失敗した行は(…)を含みます", "실패한 자료: (…)" in other languages.
ROW_REFUSED = frozenset({"23502", "23514"})
# The words after a refused row's values (".", "を含みます", '"-ს შეიცავს.'): what follows
# its last ")" is kept only when it is such words, not more text (a value's, a client tool's
# next line, glued to a value's "(" never closed).
_ROW_TAIL = re.compile(r'"?[^()"\n]{0,40}')


def is_failing_row(detail: str, sqlstate: str | None = None) -> bool:
    """Whether PostgreSQL's ``detail`` spells out the refused row's values: "Failing row
    contains (…)", or, in any language, a detail in parentheses of an error of
    :data:`ROW_REFUSED` (``exc.sqlstate``)."""
    if detail.startswith(_FAILING_ROW):
        return True
    return sqlstate in ROW_REFUSED and "(" in detail and ")" in detail


def names_key(detail: str) -> bool:
    """Whether ``detail`` names an index's values, ``(cols)=(values)``, in any language."""
    return _KEY_VALUES.search(detail) is not None


def masked_detail(
    detail: str,
    columns: tuple[str, ...] = (),
    mask: Callable[[str], Any] | None = None,
    *,
    row_unknown: bool = False,
    sqlstate: str | None = None,
    is_row: bool = False,
) -> str:
    """PostgreSQL's ``detail`` with the values of secret columns masked (:func:`masked`):
    ``Key (remember_token)=(sha256:ab12cd34…) already exists.``; a value of another column
    is kept (``Key (email)=(a@malnu.sch.id)``); read by its ``(cols)=(values)``, in any
    language. Values that cannot be told apart (a value holding ", ") are all (hidden) when
    one of their columns is a secret. The failing row (:func:`is_failing_row`: by its English
    words, or by ``sqlstate``, the error's, in any language) names no column (its values in
    the copy's order, which may not be the source's): left out when one of the table's
    ``columns`` is a secret. ``mask`` shows a secret value (:func:`masked` unless given; the
    import's reasons say (hidden) alone). ``row_unknown``: the table's columns are not known
    (a client tool's output): its failing row is left out; ``is_row``: the detail is one (a
    client tool's, known by its place in the output)."""
    show = masked if mask is None else mask
    secret = secret_in(columns)  # Laravel's sessions: its id

    if (is_row or is_failing_row(detail, sqlstate)) and (
        row_unknown or any(secret(c) for c in columns)
    ):
        why = "its table's columns not known here" if row_unknown else "the table holds secrets"
        head, tail = detail[: detail.index("(")], detail[detail.rfind(")") + 1 :]
        if ")" not in detail or not _ROW_TAIL.fullmatch(tail):  # not closed, or more text
            tail = ""
        return f"{head}(…){tail.rstrip('. 。')}: its values not shown, {why}"

    def one(m: re.Match[str]) -> str:
        cols, vals = m["cols"].split(", "), m["vals"].split(", ")
        if not any(secret(c) for c in cols):
            return m[0]
        if len(cols) != len(vals):
            shown = str(HIDDEN)
        else:
            shown = ", ".join(
                str(show(v)) if secret(c) else v for c, v in zip(cols, vals, strict=True)
            )
        return f"({m['cols']})=({shown})"

    return _KEY_VALUES.sub(one, detail)
