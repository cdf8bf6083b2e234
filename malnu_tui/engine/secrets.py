"""Values that are secrets by their column's name (a password's hash, a token, an API key,
Indonesian "kata sandi"), and how a message, a report or an audit row shows one: never whole.
A key that is a secret is shown by a short fingerprint (``sha256:ab12cd34…``: two reports of
one key still match), any other secret value as ``(hidden)``."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

__all__ = ["HIDDEN", "Masked", "masked", "masked_detail", "secret_column"]

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
# A name whose last word is a time or a count holds when or how often, not the secret it is
# named after (``password_changed_at``, ``token_expires_at``, ``failed_pin_attempts``); a
# secret's word after it still makes a secret (``expired_token``). A PostgreSQL copy folds
# ``passwordChangedAt`` into one word: its ending is read (``…edat``, ``…expires``).
_TIME_WORDS = frozenset(
    {"at", "on", "date", "time", "timestamp", "ts", "count", "attempts", "tries"}
    | {"expires", "expiry", "expiration", "until", "ttl"}
)
_FOLDED_TIME = re.compile(
    r"(?:ed|sent|expires)(?:at|on)$|(?:date|time|timestamp|count|attempts|expires|expiry)$"
)
# A shorter secret is shown (hidden), not fingerprinted: a 6-digit PIN is found from 8 hex
# digits of its hash by trying the million.
_FINGERPRINTED = 16


@functools.lru_cache(maxsize=1024)  # asked for each key of a report's differences
def secret_column(name: str) -> bool:
    """Whether ``name`` (``password_hash``, ``passwordHash``, ``api_key``, ``remember_token``)
    holds secrets, by its words (``password_changed_at``, a time, does not; nor a file's
    ``content_hash``). Capitals run together end a word before a capitalised one (PostgreSQL
    keeps a quoted ``"PINCode"``: ``pin`` and ``code``)."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words).lower()
    parts = [w for w in re.split(r"[^a-z0-9]+", words) if w]
    if len(parts) > 1 and parts[-1] in _TIME_WORDS:
        return False
    if parts and _FOLDED_TIME.search(parts[-1]) and parts[-1] not in _TIME_WORDS:
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


# PostgreSQL's detail naming an index's values: "Key (token)=(…) already exists.", "… is
# duplicated.", "… is not present in table …", "… is still referenced from table …", an
# exclusion's "… conflicts with existing key (…)=(…).". A value may hold ")" or ", ", and a
# newline, printed as it is (DOTALL: the pattern stopped at it and the detail went out whole).
_KEY_VALUES = re.compile(
    r"\b(?P<word>[Kk]ey) \((?P<cols>.+?)\)=\((?P<vals>.*?)\)"
    r"(?=\.?$| already exists| is duplicated| is not present| is still referenced| conflicts)",
    re.DOTALL,
)


def masked_detail(
    detail: str,
    columns: tuple[str, ...] = (),
    mask: Callable[[str], Any] | None = None,
    *,
    row_unknown: bool = False,
) -> str:
    """PostgreSQL's ``detail`` with the values of secret columns masked (:func:`masked`):
    ``Key (remember_token)=(sha256:ab12cd34…) already exists.``; a value of another column
    is kept (``Key (email)=(a@malnu.sch.id)``). Values that cannot be told apart (a value
    holding ", ") are all (hidden) when one of their columns is a secret. "Failing row
    contains (…)" names no column (its values in the copy's order, which may not be the
    source's): left out when one of the table's ``columns`` is a secret. ``mask`` shows a
    secret value (:func:`masked` unless given; the import's reasons say (hidden) alone).
    ``row_unknown``: the table's columns are not known (a client tool's output): its
    failing row is left out."""
    show = masked if mask is None else mask
    if detail.startswith(_FAILING_ROW) and (row_unknown or any(secret_column(c) for c in columns)):
        why = "its table's columns not known here" if row_unknown else "the table holds secrets"
        return f"{_FAILING_ROW}…): its values not shown, {why}"

    def one(m: re.Match[str]) -> str:
        cols, vals = m["cols"].split(", "), m["vals"].split(", ")
        if not any(secret_column(c) for c in cols):
            return m[0]
        if len(cols) != len(vals):
            shown = str(HIDDEN)
        else:
            shown = ", ".join(
                str(show(v)) if secret_column(c) else v for c, v in zip(cols, vals, strict=True)
            )
        return f"{m['word']} ({m['cols']})=({shown})"

    return _KEY_VALUES.sub(one, detail)
