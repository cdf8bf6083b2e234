"""Secrets a column's name does not say, that its table's shape does: Laravel's database
session driver's ``sessions`` (id, user_id, ip_address, user_agent, payload, last_activity),
whose id is the session cookie's value (whoever reads it is logged in as the user); Supabase's
``auth.refresh_tokens.parent``, the token it replaced. The session ids were shown whole in
`sync verify`, its ``--json``, the console, messages and audit rows; an import's rejects and
PostgreSQL's ``Key (id)=(…)`` detail."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from malnu_tui.engine.data import ImportRequest, MaxErrors
from malnu_tui.engine.secrets import masked_detail, secret_by_shape
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv
from tests.inproc import run_inproc
from tests.sync_support import Db, sync

LARAVEL_SESSIONS = (
    "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id INTEGER, ip_address TEXT, "
    "user_agent TEXT, payload TEXT NOT NULL, last_activity INTEGER NOT NULL)"
)
# Laravel's session ids: 40 random letters and digits.
IDS = [hashlib.sha256(f"session {i}".encode()).hexdigest()[:40] for i in range(3)]


def _print(value: str) -> str:
    return f"sha256:{hashlib.sha256(value.encode()).hexdigest()[:8]}…"


def test_laravel_s_session_ids_are_named_by_their_fingerprint(tmp_path: Path) -> None:
    """`sync verify` (text and ``--json``) of a copy missing a session; a school's own
    ``sessions`` of lessons, keyed by id too, keeps its ids."""
    src, dst = (Db("sqlite", f"sqlite:///{tmp_path / n}.db", tmp_path / f"{n}.db") for n in "sd")
    src.run(LARAVEL_SESSIONS)
    src.many(
        "INSERT INTO sessions VALUES (?, 1, '10.0.0.1', 'Firefox', 'YTox', 1700000000)",
        [(i,) for i in IDS],
    )
    assert sync(src, dst).verified
    dst.run("DELETE FROM sessions WHERE id = ?", (IDS[0],))
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{src.url}"\n\n[targets.analytics]\nurl = "{dst.url}"\n',
        encoding="utf-8",
    )
    cfg = ("--config", str(config), "sync", "verify", "--from", "primary", "--to", "analytics")
    text, as_json = run_inproc(*cfg), run_inproc(*cfg, "--json")
    assert text.code == as_json.code == 1, text.err + as_json.err
    assert f"sessions: missing: id={_print(IDS[0])}" in text.out, text.out
    (table,) = json.loads(as_json.out)
    assert table["differences"] == [{"kind": "missing", "key": _print(IDS[0])}], table
    said = text.out + text.err + as_json.out + as_json.err
    assert not [i for i in IDS if i[:12] in said], said
    dst.run("DROP TABLE sessions")
    src.run("DROP TABLE sessions")
    src.run("CREATE TABLE sessions (id TEXT PRIMARY KEY, kelas TEXT, mulai TEXT)")
    src.run("INSERT INTO sessions VALUES ('MTK-7A-senin', '7A', '07:00')")
    assert sync(src, dst).verified
    dst.run("DELETE FROM sessions")
    lessons = run_inproc(*cfg)
    assert "sessions: missing: id='MTK-7A-senin'" in lessons.out, lessons.out


def test_an_import_and_postgresql_s_detail_hide_a_session_id(tmp_path: Path) -> None:
    imp = ImportTarget("sqlite", f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    imp.execute(LARAVEL_SESSIONS)
    f = write_csv(
        tmp_path / "s.csv",
        "id,user_id,ip_address,user_agent,payload,last_activity\n"
        f"{IDS[1]},1,10.0.0.1,Firefox,YTox,1\n{IDS[1]},2,10.0.0.2,Chrome,YTox,2\n",
    )
    req = ImportRequest("sessions", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(1))
    (r,) = rejects_of(import_into(imp, req).rejects_file)
    assert r["reason"].startswith("id (hidden) repeats line 2"), r
    assert IDS[1][:12] not in r["reason"], r
    laravel = ("id", "user_id", "ip_address", "user_agent", "payload", "last_activity")
    said = masked_detail(f"Key (id)=({IDS[1]}) already exists.", laravel)
    assert said == f"Key (id)=({_print(IDS[1])}) already exists.", said
    said = masked_detail("Failing row contains (x, 1).", laravel)
    assert said.startswith("Failing row contains (…): its values not shown"), said
    assert masked_detail("Key (id)=(7) already exists.", ("id", "kelas")).endswith(
        "(7) already exists."
    )
    supabase = ("instance_id", "id", "token", "user_id", "revoked", "parent", "session_id")
    assert secret_by_shape(supabase) == {"parent"}
    assert secret_by_shape(("id", "user_id", "created_at", "factor_id", "aal", "tag")) == set()


# Laravel Passport's oauth_clients (up to Passport 12).
PASSPORT_CLIENTS = (
    *("id", "user_id", "name", "secret", "provider", "redirect"),
    *("personal_access_client", "password_client", "revoked", "created_at"),
)


def test_passport_s_password_client_flag_is_shown_beside_its_neighbours() -> None:
    """``oauth_clients.password_client`` is a flag (may the client use the password grant?):
    its name's ``password`` hid it, (hidden) for ``true`` in a row a sync names by its values;
    shown where its neighbours (``personal_access_client``, ``revoked``) say the table is
    Passport's. The client's ``secret`` stays hidden, and a ``password_client`` of a table
    not known (or another table) stays a secret by its name."""
    from malnu_tui.engine.secrets import HIDDEN
    from malnu_tui.engine.sync.model import shown_values

    row = (1, None, "Malnu Mobile", "s3cr3t-LEAK-0123", None, "http://x", False, True, False, 0)
    shown = shown_values(PASSPORT_CLIENTS, row)
    assert shown[PASSPORT_CLIENTS.index("password_client")] is True, shown
    assert shown[PASSPORT_CLIENTS.index("secret")] == HIDDEN, shown
    from malnu_tui.engine.secrets import secret_in

    assert not secret_in(PASSPORT_CLIENTS)("password_client")
    assert secret_in(())("password_client")
    assert secret_in(("id", "password_client", "revoked"))("password_client")
