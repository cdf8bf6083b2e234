"""Secrets in what the sync says: a table keyed by a secret (a session's or a reset's token, an
API key's hash) is named by a fingerprint of its key, in messages, `sync verify` (text and
``--json``) and both sides' audit rows; PostgreSQL's own ``Key (token)=(…)`` detail has a
secret column's value masked; and a time or count named after a secret (``password_changed_at``)
is no secret. Real SQLite, PostgreSQL and the D1 stand-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError, MalnuError
from malnu_tui.engine.sync.model import secret_column
from malnu_tui.tui.screens.sync_report import table_lines
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sync, verify

# Laravel's sessions and password_resets, an API's keys: the key is the secret itself.
TOKENS = [f"{i:02d}" + hashlib.sha256(f"token {i}".encode()).hexdigest()[:38] for i in range(4)]


def _print(value: str) -> str:
    """The fingerprint a report shows for ``value``."""
    return f"sha256:{hashlib.sha256(value.encode()).hexdigest()[:8]}…"


def _no_token(text: str) -> None:
    leaked = [t for t in TOKENS if t[:12] in text]
    assert not leaked, text


@pytest.mark.parametrize(("src_kind", "dst_kind"), [("sqlite", "postgresql"), ("sqlite", "d1")])
def test_a_table_keyed_by_a_secret_is_named_by_its_key_s_fingerprint(
    src_kind: str, dst_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`sessions(token PRIMARY KEY, …)`: `sync verify` printed `missing: token='…'` whole, in
    its text and `--json`, and a row the copy refused put the token into the error and both
    sides' audit rows. Now `token=sha256:ab12cd34…` (the same in two reports, so they match),
    a short secret `(hidden)`; a key that is no secret is still shown."""
    src, dst = (
        make_db(src_kind, request, tmp_path, "src"),
        make_db(dst_kind, request, tmp_path, "d"),
    )
    src.run(
        "CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INTEGER, last_activity INTEGER)"
    )
    src.many("INSERT INTO sessions VALUES (?, ?, ?)", [(t, i, 100) for i, t in enumerate(TOKENS)])
    assert sync(src, dst).verified
    dst.run("DELETE FROM sessions WHERE token = ?", (TOKENS[0],))
    dst.run("UPDATE sessions SET user_id = 9 WHERE token = ?", (TOKENS[1],))
    dst.run("INSERT INTO sessions (token, user_id, last_activity) VALUES ('4321', 4, 1)")
    found = verify(src, dst)
    named = sorted(d.describe(found.key) for d in found.differences)
    assert named == [
        f"different: token={_print(TOKENS[1])}",
        "extra: token=(hidden)",  # 4 characters: a fingerprint would give it away
        f"missing: token={_print(TOKENS[0])}",
    ], named
    shown = json.dumps(found.as_json())
    _no_token(shown)
    console = table_lines(found, "verify").plain  # the console's verify view: the same
    assert f"missing: token={_print(TOKENS[0])}" in console, console
    _no_token(console)
    assert {d["key"] for d in found.as_json()["differences"]} == {
        _print(TOKENS[0]), _print(TOKENS[1]), "(hidden)",
    }, shown  # fmt: skip
    if dst_kind == "postgresql":  # the README's query finds the row by its fingerprint
        where = "left(encode(sha256(convert_to(token, 'UTF8')), 'hex'), 8) = ?"
        found_by = dst.run(
            f"SELECT user_id FROM sessions WHERE {where}", (_print(TOKENS[1])[7:15],)
        )
        assert found_by == [(9,)], found_by
    # A value the copy refuses names its row by the key: the fingerprint there too.
    src.run(
        "UPDATE sessions SET last_activity = 'x' || last_activity WHERE token = ?", (TOKENS[2],)
    )
    if dst_kind == "postgresql":
        with pytest.raises(MalnuError) as stopped:
            sync(src, dst, full=True)
        message = str(stopped.value)
        assert f"row token={_print(TOKENS[2])}, column last_activity" in message, message
        _no_token(message + str(stopped.value.hint))
        audits = src.run("SELECT detail FROM malnu_audit") + dst.run(
            "SELECT detail FROM malnu_audit"
        )
        assert len(audits) >= 4, audits
        _no_token(repr(audits))


def test_sync_verify_s_text_json_and_the_plan_s_resume_show_no_secret_key(tmp_path: Path) -> None:
    """The CLI's `sync verify` (text and `--json`) and a resumed sync's plan line (`resumes
    after key ['…']`) printed the token. SQLite → SQLite: the text paths alone."""
    src, dst = (Db("sqlite", f"sqlite:///{tmp_path / n}.db", tmp_path / f"{n}.db") for n in "sd")
    src.run("CREATE TABLE password_resets (email TEXT, token TEXT PRIMARY KEY, created_at TEXT)")
    src.many(
        "INSERT INTO password_resets VALUES (?, ?, '2025-01-01')",
        [(f"u{i}@malnu.sch.id", t) for i, t in enumerate(TOKENS)],
    )
    assert sync(src, dst).verified
    dst.run("DELETE FROM password_resets WHERE token = ?", (TOKENS[3],))
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{src.url}"\n\n[targets.analytics]\nurl = "{dst.url}"\n',
        encoding="utf-8",
    )
    cfg = ("--config", str(config), "sync", "verify", "--from", "primary", "--to", "analytics")
    text = run_inproc(*cfg)
    assert text.code == 1, text.err
    assert f"password_resets: missing: token={_print(TOKENS[3])}" in text.out, text.out
    as_json = run_inproc(*cfg, "--json")
    assert as_json.code == 1, as_json.err
    (table,) = json.loads(as_json.out)
    assert table["differences"] == [{"kind": "missing", "key": _print(TOKENS[3])}], table
    _no_token(text.out + text.err + as_json.out + as_json.err)
    # A full pass stopped after its first chunk: the plan says where it resumes.
    dst.run(
        "UPDATE malnu_sync SET status = 'running', mode = 'full', last_key = ?",
        (json.dumps([TOKENS[1]]),),
    )
    dry = run_inproc(*cfg[:3], "--from", "primary", "--to", "analytics", "--dry-run")
    assert dry.code in (0, 1), dry.err
    assert f"resumes after key token={_print(TOKENS[1])}" in dry.err, dry.err
    _no_token(dry.out + dry.err)


def test_postgresql_s_key_detail_has_a_secret_column_s_value_masked(
    tmp_path: Path, pg_url: str
) -> None:
    """A copy's UNIQUE column that the source does not hold unique (a copy made by hand):
    PostgreSQL's `Key (remember_token)=(…) already exists` reached the error and both
    audit rows with the token whole. Its value is masked (the fingerprint); a column that is
    no secret keeps its value (`Key (email)=(…)`)."""
    src, pg = (
        Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db"),
        Db("postgresql", pg_url),
    )
    src.run("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, remember_token TEXT)")
    src.many(
        "INSERT INTO users VALUES (?, ?, ?)",
        [(1, "a@malnu.sch.id", TOKENS[0]), (2, "b@malnu.sch.id", TOKENS[0])],
    )
    pg.run(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE, remember_token text "
        "UNIQUE, synced_at timestamp)"
    )
    with pytest.raises(MalnuError) as stopped:
        sync(src, pg)
    message = f"{stopped.value} {stopped.value.hint}"
    assert f"Key (remember_token)=({_print(TOKENS[0])}) already exists" in message, message
    _no_token(message)
    audits = src.run("SELECT detail FROM malnu_audit") + pg.run("SELECT detail FROM malnu_audit")
    assert len(audits) >= 2, audits  # the table's on both sides, the run's
    _no_token(repr(audits))
    src.run("UPDATE users SET remember_token = NULL WHERE id = 2")
    src.run("UPDATE users SET email = 'a@malnu.sch.id'")
    with pytest.raises(BackendError, match=r"Key \(email\)=\(a@malnu\.sch\.id\) already exists"):
        sync(src, pg)


def test_a_failing_row_s_values_are_left_out_of_a_table_holding_secrets(
    tmp_path: Path, pg_url: str
) -> None:
    """A row a copy's own CHECK refuses in an incremental sync's upsert (no COPY line names
    it): PostgreSQL's `Failing row contains (2, $2b$12$…, -1, …)` put the user's password hash
    into the error and both audit rows. Its values are left out where the table holds a
    secret; kept where it holds none."""
    src, pg = (
        Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db"),
        Db("postgresql", pg_url),
    )
    src.run("CREATE TABLE users (id INTEGER PRIMARY KEY, password_hash TEXT, n INTEGER)")
    src.many("INSERT INTO users VALUES (?, ?, 5)", [(1, TOKENS[0]), (2, TOKENS[1])])
    pg.run(
        "CREATE TABLE users (id bigint PRIMARY KEY, password_hash text, n bigint CHECK (n > 0), "
        "synced_at timestamp)"
    )
    assert sync(src, pg).verified
    src.run("UPDATE users SET n = -1 WHERE id = 2")
    with pytest.raises(MalnuError) as stopped:
        sync(src, pg, full=True)
    message = str(stopped.value)
    assert (
        'violates check constraint "users_n_check"; Failing row contains (…): its values not '
        "shown, the table holds secrets" in message
    ), message
    audits = src.run("SELECT detail FROM malnu_audit") + pg.run("SELECT detail FROM malnu_audit")
    _no_token(message + repr(audits))
    pg.run("ALTER TABLE users RENAME COLUMN password_hash TO catatan")
    src.run("ALTER TABLE users RENAME COLUMN password_hash TO catatan")
    with pytest.raises(MalnuError, match=r"Failing row contains \(2, 01"):
        sync(src, pg, full=True)


def test_a_secret_key_of_another_type_is_named_by_its_fingerprint(
    tmp_path: Path, pg_url: str
) -> None:
    """A SQLite key of no declared type holding a number among its texts: the refusal showed it,
    `key token holds integers (e.g. 1234567890123456789)`."""
    src, pg = (
        Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db"),
        Db("postgresql", pg_url),
    )
    src.run("CREATE TABLE api_keys (key_hash PRIMARY KEY, owner TEXT)")
    src.many("INSERT INTO api_keys VALUES (?, 'guru')", [(TOKENS[0],), (1234567890123456789,)])
    with pytest.raises(MalnuError) as refused:
        sync(src, pg)
    message = str(refused.value)
    assert f"key key_hash holds integers (e.g. {_print('1234567890123456789')})" in message
    assert "12345678901" not in message + str(refused.value.hint), message


def test_a_keyless_row_s_times_named_after_a_secret_are_shown(tmp_path: Path) -> None:
    """`password_changed_at` and `token_expires_at` were (hidden) beside the hash itself:
    the times that tell an operator which row it is. Shown; the hash still hidden."""
    src, dst = (Db("sqlite", f"sqlite:///{tmp_path / n}.db", tmp_path / f"{n}.db") for n in "sd")
    src.run(
        "CREATE TABLE akun (nisn TEXT, password_hash TEXT, password_changed_at TEXT, "
        "token_expires_at TEXT)"
    )
    src.run(f"INSERT INTO akun VALUES ('0051234567', '{TOKENS[0]}', '2025-07-14', '2025-08-01')")
    assert sync(src, dst).verified
    dst.run("UPDATE akun SET nisn = '0059999999'")
    named = sorted(d.describe(verify(src, dst).key) for d in verify(src, dst).differences)
    assert named[1] == (
        "missing: nisn='0051234567', password_hash=(hidden), "
        "password_changed_at='2025-07-14', token_expires_at='2025-08-01'"
    ), named


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("password_hash", True),
        ("passwordHash", True),
        ("remember_token", True),
        ("api_key_hash", True),
        ("pin", True),
        ("otp_secret", True),
        ("token", True),
        ("reset_token_hash", True),
        ("kata_sandi", True),
        # a time or a count named after a secret: no secret
        ("password_changed_at", False),
        ("passwordChangedAt", False),
        ("token_expires_at", False),
        ("token_expires", False),
        ("token_expiry", False),
        ("pin_code_sent_at", False),
        ("otp_sent_on", False),
        ("password_reset_date", False),
        ("last_token_time", False),
        ("password_reset_count", False),
        ("failed_pin_attempts", False),
        # PostgreSQL folds a copy's unquoted camelCase: the same words, run together
        ("passwordchangedat", False),
        ("tokenexpiresat", False),
        # a secret's own word last, or a time word that is not last: still a secret
        ("expired_token", True),
        ("date_password", True),
        # no secret at all
        ("secretary", False),
        ("sandiwara", False),
        ("pinned", False),
        ("email", False),
        # a long word run across two words is no secret ("pe-sandi-kirim", "fo-token-angan");
        # a secret's name written in words still is
        ("pesan_dikirim", False),
        ("alasan_ditolak", False),
        ("foto_kenangan", False),
        ("api_key", True),
        ("pass_word", True),
        ("my_api_keys", True),
        # a Laravel token's owner (a user's id and class), not the token
        ("tokenable_id", False),
        ("tokenable_type", False),
        # two-factor secrets (Laravel Fortify's two_factor_secret held already)
        ("two_factor_recovery_codes", True),
        ("two_factor_secret", True),
        ("recovery_codes", True),
        ("recoveryCodes", True),
        # PostgreSQL keeps a quoted name's capitals: a run of them ends before a capital word
        ("PINCode", True),
        ("OTPCode", True),
        ("APIKey", True),
        # "hash" alone is a file's or a row's checksum: a secret only as the whole name or
        # beside a secret's or a key's word (password_hash, reset_token_hash above)
        ("content_hash", False),
        ("contentHash", False),
        ("file_hash", False),
        ("hash_algorithm", False),
        ("row_hash", False),
        ("hash", True),
        ("key_hash", True),
        ("pw_hash", True),
        ("pass_hash", True),
        ("pw", True),
        # what kind of secret, how long, how made: no secret (they were hidden); a secret's
        # word after it still is one
        ("token_type", False),
        ("tokenType", False),
        ("password_hash_algorithm", False),
        ("passwordhashalgorithm", False),
        ("token_expires_in", False),
        ("expires_in", False),
        ("pin_length", False),
        ("refresh_token_counter", False),
        ("password_version", False),
        ("code_challenge_method", False),
        ("otp_method", False),
        ("token_type_secret", True),
        # Laravel's and Supabase auth's secrets, each still hidden
        ("personal_access_token", True),
        ("encrypted_password", True),
        ("confirmation_token", True),
        ("recovery_token", True),
        ("email_change_token_new", True),
        ("email_change_token_current", True),
        ("phone_change_token", True),
        ("reauthentication_token", True),
        ("provider_access_token", True),
        ("provider_refresh_token", True),
        ("refresh_token_hmac_key", True),
        ("otp_code", True),
        ("token_hash", True),
        ("auth_code", True),  # auth.flow_state's: it was shown
        ("auth_code_issued_at", False),
        ("confirmation_sent_at", False),
        ("factor_type", False),
    ],
)
def test_which_column_names_hold_secrets(name: str, secret: bool) -> None:
    assert secret_column(name) is secret
