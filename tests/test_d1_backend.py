"""The D1 backend against the local D1 server: retries after injected 5xx, 429 and dropped
connections without ever applying a migration twice; clear errors for a bad token, a wrong
account or database id, and D1's limits; the token never shown."""

from __future__ import annotations

import time

import pytest

from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.client import (
    D1Api,
    D1AuthError,
    D1NotFound,
    D1RequestTooLarge,
    D1Unavailable,
    RetryPolicy,
)
from malnu_tui.engine.backends.sqlite_sql import bind_literals, sql_literal
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import ConfigError, LockHeld, LockHolder
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import MigrationFailed, apply_plan, plan_up
from malnu_tui.engine.urls import parse_d1_url
from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "retry_attempts": 4}


def connect(url: str, d: MigrationDirs, **options: object) -> D1Backend:
    backend = open_backend(Target("t", url, d.migrations, d.rollback, d.root, {**FAST, **options}))
    assert isinstance(backend, D1Backend)
    backend.ensure_schema()
    return backend


def up(backend: D1Backend, d: MigrationDirs) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    return [f for f, _ in apply_plan(backend, mset, plan_up(backend, mset)).done]


def bumps(d: MigrationDirs) -> MigrationDirs:
    """Migrations that are NOT idempotent: running one twice shows as a second row."""
    d.add("20250101_000100", "counter", "CREATE TABLE counter (n INTEGER);", "DROP TABLE counter;")
    d.add("20250101_000200", "bump_a", "INSERT INTO counter (n) VALUES (1);", "SELECT 1;")
    d.add("20250101_000300", "bump_b", "INSERT INTO counter (n) VALUES (2);", "SELECT 1;")
    return d


def batches_with(d1: D1Target, text: str, since: int) -> list[str]:
    return [r.fault for r in d1.server.requests[since:] if text in r.body and "/raw" in r.path]


OVERLOADED = (
    "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
    "D1_ERROR: D1 DB is overloaded. Requests queued for too long.",
)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", count=2, status=503, match="VALUES (1)"),
        Fault("status", count=2, status=500, match="VALUES (1)"),
        Fault("status", count=2, status=429, retry_after=0, match="VALUES (1)"),
        Fault("drop-before", count=2, match="VALUES (1)"),
        Fault("drop-after", count=1, match="VALUES (1)"),
        # It ran and its answer came back cut mid-way: taken for a refusal of the SQL, it was
        # recorded failed ("all of it was rolled back") and the next `up` ran it again.
        Fault("cut-after", count=1, match="VALUES (1)"),
        # D1's "Network connection lost." (retry, says its error list) after the work was
        # done: taken for a refusal of the SQL, with the same second run.
        Fault("error-after", count=1, status=400, match="VALUES (1)"),
        Fault("slow", count=1, delay=4.0, match="VALUES (1)"),
        # D1's overload refusals (its error list: "send fewer requests by spreading the load
        # over time"): classed a limit, the migration failed at once with a hint to split it.
        Fault("status", count=2, status=400, match="VALUES (1)", message=OVERLOADED[0]),
        Fault("status", count=2, status=400, match="VALUES (1)", message=OVERLOADED[1]),
    ],
    ids=[
        "503",
        "500",
        "429",
        "drop-before",
        "drop-after",
        "cut-after",
        "connection-lost-after",
        "timeout-then-late-delivery",
        "overloaded-queue-full",
        "overloaded-queued-too-long",
    ],
)
def test_retries_never_apply_twice(d1: D1Target, mdirs: MigrationDirs, fault: Fault) -> None:
    d = bumps(mdirs)
    # A request times out after 2 s: far above a loaded machine's answers, far below the 4 s
    # the "slow" fault holds its delivery.
    b = connect(d1.url, d, timeout=2.0)
    since = len(d1.server.requests)
    d1.server.inject(fault)
    assert up(b, d) == [
        "20250101_000100_counter.sql",
        "20250101_000200_bump_a.sql",
        "20250101_000300_bump_b.sql",
    ]
    assert d1.sql("SELECT n FROM counter ORDER BY n") == [(1,), (2,)]
    assert len(b.read_audit(action="apply")) == 3
    assert all(r.success for r in b.fetch_records())
    sent = batches_with(d1, "INSERT INTO counter (n) VALUES (1)", since)
    if fault.kind in ("drop-after", "cut-after", "error-after"):
        # It ran, the answer was lost; the tracking table said so and it was not sent again.
        assert sent == [fault.kind]
    elif fault.kind == "slow":
        # The first delivery arrived after the client gave up and re-sent (the tracking table
        # said "not applied" then); when it finally ran, the guard refused it whole.
        assert sent == ["slow", ""]
        late = [r for r in d1.server.requests[since:] if r.fault == "slow"]
        deadline = time.monotonic() + 30
        while not late[0].status and time.monotonic() < deadline:
            time.sleep(0.05)  # the late delivery is still held by the server
        assert late[0].status == 400
        assert d1.sql("SELECT n FROM counter ORDER BY n") == [(1,), (2,)]
    else:
        assert sent == [fault.kind, fault.kind, ""]
    assert b.read_lock() is None
    b.close()


def test_persistent_outage_gives_up_clearly(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = bumps(mdirs)
    b = connect(d1.url, d)
    d1.server.inject(Fault("status", count=100, status=503, match="VALUES (1)"))
    with pytest.raises(D1Unavailable, match="no answer after 4 attempts") as err:
        up(b, d)
    assert "nothing was applied twice" in (err.value.hint or "")
    d1.server.faults.clear()
    b.release_lock()  # the failed run could not release it through the outage: it did
    states = {r.filename: r.success for r in b.fetch_records()}
    assert states == {"20250101_000100_counter.sql": True}
    assert up(b, d) == ["20250101_000200_bump_a.sql", "20250101_000300_bump_b.sql"]
    assert d1.sql("SELECT count(*) FROM counter") == [(2,)]
    b.close()


def test_d1_overloaded_as_http_429_is_said_as_d1s_overload(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """D1's HTTP API answers an overloaded database 429 (its release notes, 2024-06-17; it was
    500). Every 429 was said as "rate limited by Cloudflare (HTTP 429)", with "check
    cloudflarestatus.com and the network": the operator of a school's database at the
    application's busy hour looked at a green status page. Now D1's own words are said, in
    each wait and at the end, with "run again at a quieter time"; Cloudflare's own rate
    limit (its 429 without D1's words) is said as before."""
    d = bumps(mdirs)
    b = connect(d1.url, d)
    d1.server.inject(
        Fault("status", count=100, status=429, match="VALUES (1)", message=OVERLOADED[0])
    )
    with pytest.raises(D1Unavailable) as err:
        up(b, d)
    said = str(err.value)
    assert "no answer after 4 attempts: HTTP 429: D1_ERROR: D1 DB is overloaded." in said, said
    assert "rate limited by Cloudflare" not in said
    assert "run again at a quieter time" in (err.value.hint or ""), err.value.hint
    d1.server.faults.clear()
    b.release_lock()
    # Asked to come back in an hour: said at once, in D1's words (no ". ," between them).
    hour = Fault("status", status=429, match="VALUES (1)", retry_after=3600)
    hour.message = OVERLOADED[0]
    d1.server.inject(hour)
    with pytest.raises(D1Unavailable) as err:
        up(b, d)
    assert "Too many requests queued, and asked to be tried again in 60 min" in str(err.value)
    d1.server.faults.clear()
    b.release_lock()
    d1.server.inject(Fault("status", count=100, status=429, match="VALUES (1)"))
    with pytest.raises(D1Unavailable, match=r"rate limited by Cloudflare \(HTTP 429\)") as err:
        up(b, d)
    assert "cloudflarestatus" in (err.value.hint or "")
    d1.server.faults.clear()
    b.release_lock()
    assert d1.sql("SELECT count(*) FROM counter") == [(0,)]
    b.close()


@pytest.mark.parametrize(
    ("bad", "error", "probes"),
    [
        ("INSERT INTO nowhere VALUES (3);", "no such table: nowhere", 0),  # named in the error
        ("INSERT INTO child VALUES (1, 99);", "FOREIGN KEY constraint failed", 3),  # bisected
    ],
)
def test_failed_statement_is_located_and_nothing_is_left(
    d1: D1Target, mdirs: MigrationDirs, bad: str, error: str, probes: int
) -> None:
    d = school_set(mdirs)
    d.add(
        "20250101_000400",
        "half",
        "CREATE TABLE half_a (id INTEGER PRIMARY KEY);\nINSERT INTO half_a VALUES (1);\n"
        "CREATE TABLE child (id INTEGER, parent INTEGER REFERENCES half_a(id));\n"
        f"INSERT INTO half_a VALUES (2);\n{bad}\nCREATE TABLE half_b (id INTEGER);\n",
    )
    b = connect(d1.url, d)
    since = len(d1.server.requests)
    with pytest.raises(MigrationFailed) as err:
        up(b, d)
    assert err.value.failure.line == 5 and error in err.value.failure.error
    assert len([r for r in d1.server.requests[since:] if "malnu_probe_" in r.body]) == probes
    assert "half_a" not in b.table_names() and "half_b" not in b.table_names()
    rec = {r.filename: r for r in b.fetch_records()}["20250101_000400_half.sql"]
    assert not rec.success and rec.error_message and "line 5" in rec.error_message
    b.close()


def test_d1_rejects_explicit_transactions_before_sending(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    d = mdirs
    d.add("20250101_000100", "sp", "CREATE TABLE t (id INTEGER);\nSAVEPOINT s1;\nRELEASE s1;\n")
    b = connect(d1.url, d)
    since = len(d1.server.requests)
    with pytest.raises(MigrationFailed, match="D1 rejects SAVEPOINT"):
        up(b, d)
    assert not batches_with(d1, "CREATE TABLE t", since)
    b.close()


def test_server_refuses_transactions_as_d1_does(d1: D1Target, mdirs: MigrationDirs) -> None:
    b = connect(d1.url, mdirs)
    with pytest.raises(Exception, match="SQLITE_AUTH"):
        b.api.batch(["BEGIN TRANSACTION", "CREATE TABLE t (id INTEGER)", "COMMIT"], lambda: False)
    assert "t" not in b.table_names()
    b.close()


def test_seed_template_begin_commit_is_stripped_for_d1(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "seed_style",
        "BEGIN TRANSACTION;\nCREATE TABLE example (id INTEGER PRIMARY KEY, name TEXT);\n"
        "INSERT INTO example (name) VALUES ('Sample Data');\nCOMMIT;\n"
        "INSERT INTO migrations (filename, checksum) VALUES "
        "('20250101_000100_seed_style.sql', 'checksum_hash');\n",
    )
    b = connect(d1.url, d)
    since = len(d1.server.requests)
    assert up(b, d) == ["20250101_000100_seed_style.sql"]
    sent = [r.body for r in d1.server.requests[since:] if "CREATE TABLE example" in r.body]
    assert len(sent) == 1 and "BEGIN" not in sent[0] and "checksum_hash" not in sent[0]
    assert d1.sql("SELECT count(*) FROM migrations") == [(1,)]
    b.close()


def test_limits_are_explained(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = mdirs
    big = "INSERT INTO t (x) VALUES ('" + "x" * 120_000 + "');"
    d.add("20250101_000100", "big", f"CREATE TABLE t (x TEXT);\n{big}\n")
    b = connect(d1.url, d)
    with pytest.raises(MigrationFailed, match="D1 allows 100000 per statement"):
        up(b, d)
    assert "t" not in b.table_names()
    # The database size limit comes back from D1 as an error of the whole batch.
    pages = d1.sql("PRAGMA page_count")[0][0]
    d1.server.max_db_bytes = int(str(pages)) * 4096  # full: a new table needs a new page
    try:
        (d.migrations / "20250101_000100_big.sql").write_text("CREATE TABLE t (x TEXT);\n")
        with pytest.raises(MigrationFailed, match=r"D1 limit reached: .*maximum DB size"):
            up(b, d)
    finally:
        d1.server.max_db_bytes = None
    b.close()


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [  # D1's HTTP API, as `wrangler d1 migrations apply --remote` prints its refusal:
        # "statement too long: SQLITE_TOOBIG [code: 7500]" (cloudflare/workers-sdk#6347)
        ("SELECT '" + "x" * 100_000 + "'", [], "statement too long: SQLITE_TOOBIG"),
        ("SELECT " + ", ".join("?" * 101), [1] * 101, "too many SQL variables: SQLITE_ERROR"),
        ("SELECT length(?)", ["x" * 2_000_001], "string or blob too big: SQLITE_TOOBIG"),
    ],
    ids=["statement", "parameters", "value"],
)
def test_the_stand_in_refuses_d1s_limits_in_the_http_apis_words(
    d1: D1Target, sql: str, params: list[object], message: str
) -> None:
    """The stand-in answered two of D1's limits as a Worker's binding words them,
    `D1_ERROR: statement too long: …`, where D1's HTTP API (what the tool speaks) says
    `statement too long: SQLITE_TOOBIG` with code 7500 and HTTP 400, as it says every other
    SQL error, and as the stand-in said the 2 MB one."""
    import httpx

    url = f"{d1.server.api_base}/accounts/{d1.db.account}/d1/database/{d1.db.id}/query"
    got = httpx.post(
        url, json={"sql": sql, "params": params}, headers={"Authorization": f"Bearer {d1.token}"}
    )
    assert got.status_code == 400
    assert got.json()["errors"] == [{"code": 7500, "message": message}]


@pytest.mark.parametrize(
    ("bad", "error"),
    [  # each of D1's documented limits (developers.cloudflare.com/d1/platform/limits/)
        ("INSERT INTO t VALUES (randomblob(2000001));", "string or blob too big"),  # 2 MB
        ("INSERT INTO t VALUES (zeroblob(1999990) || 'abcdefghij');", "string or blob too big"),
        ("INSERT INTO t SELECT max(" + ", ".join("1" * 33) + ");", "too many arguments"),
        ("INSERT INTO t SELECT 'a' LIKE '" + "%a" * 26 + "';", "LIKE or GLOB pattern too"),
    ],
)
def test_d1s_value_function_and_pattern_limits_fail_the_whole_migration(
    d1: D1Target, mdirs: MigrationDirs, bad: str, error: str
) -> None:
    """The stand-in took what D1 refuses: a value or row over 2,000,000 bytes, a function of
    more than 32 arguments, a LIKE pattern over 50 bytes (D1's limits page). Such a migration
    passed every test here and failed on D1. It now fails here as there, at its line, and
    nothing of it is left."""
    mdirs.add("20250101_000100", "limit", f"CREATE TABLE t (v);\n{bad}\n")
    b = connect(d1.url, mdirs)
    with pytest.raises(MigrationFailed) as err:
        up(b, mdirs)
    said = str(err.value.failure.error)
    assert error in said and err.value.failure.line == 2, said
    assert "t" not in b.table_names()
    b.close()


def test_a_blob_comes_back_as_its_bytes_in_any_column(d1: D1Target, mdirs: MigrationDirs) -> None:
    """D1 answers a BLOB as an array of its byte values (JSON has no bytes). The stand-in
    answered HTTP 500 for a BLOB read as it is (a column not declared BLOB, where SQLite keeps
    one as readily); the client took an array for a value. It is read back as its bytes."""
    b = connect(d1.url, mdirs)
    b.api.batch(["CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, w)"], lambda: False)
    b.api.batch(["INSERT INTO kv VALUES ('logo', x'89504e4700ff', x'')"], lambda: False)
    got = b.api.raw("SELECT k, v, w, typeof(v) FROM kv").rows
    assert got == (("logo", b"\x89PNG\x00\xff", b"", "blob"),)
    b.close()


@pytest.mark.parametrize("client_knows", [True, False])
def test_a_batch_over_cloudflares_request_limit_is_refused_whole(
    d1: D1Target, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch, client_knows: bool
) -> None:
    """A migration goes to D1 as one request; Cloudflare refuses a body over its plan's limit
    (100 MB on Free and Pro, developers.cloudflare.com/workers/platform/limits/) with an HTML
    413 before D1 sees it: a legacy seed of that size came back as "<html>…</html>" for D1's
    error, probed statement by statement and recorded failed at a line. Now the client
    measures the body and refuses it before sending (exit 2, nothing sent, no tracking row);
    a 413 all the same is said as that. Shown at 300 KB."""
    monkeypatch.setattr(d1.server, "max_request_bytes", 300_000)
    if client_knows:
        monkeypatch.setattr(D1Api, "max_request_bytes", 300_000)
    rows = "\n".join(f"INSERT INTO t VALUES ('{i}{'x' * 90_000}');" for i in range(4))
    mdirs.add("20250101_000100", "seed", f"CREATE TABLE t (v TEXT);\n{rows}\n")
    b = connect(d1.url, mdirs)
    since = len(d1.server.requests)
    with pytest.raises(D1RequestTooLarge) as err:
        up(b, mdirs)
    said = str(err.value)
    assert err.value.exit_code == 2
    if client_knows:
        assert "a request of 361,2" in said and "nothing was sent" in said, said
        assert not [r for r in d1.server.requests[since:] if r.status == 413]
    else:
        assert "HTTP 413" in said and "nothing ran" in said and "<html>" not in said, said
        assert [r.status for r in d1.server.requests[since:]].count(413) == 1
    assert "t" not in b.table_names() and b.fetch_records() == []
    b.close()


def test_auth_and_wrong_ids(
    d1: D1Target, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "very-secret-token-value-123"
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", secret)
    with pytest.raises(D1AuthError) as err:
        connect(d1.url, mdirs)
    assert err.value.exit_code == 2 and "CLOUDFLARE_API_TOKEN" in (err.value.hint or "")
    assert secret not in str(err.value)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", d1.token)
    with pytest.raises(D1NotFound, match="account ffff0000 is not valid"):
        connect(f"d1://ffff0000/{d1.db.id}", mdirs)
    with pytest.raises(D1NotFound, match="database 11111111-2222 not found") as nf:
        connect(f"d1://{d1.db.account}/11111111-2222", mdirs)
    assert "wrangler d1 list" in (nf.value.hint or "")
    d1.server.tokens["limited"] = {"some-other-account"}
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "limited")
    with pytest.raises(D1AuthError, match="may not use D1 on account"):
        connect(d1.url, mdirs)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(ConfigError, match="no Cloudflare API token"):
        connect(d1.url, mdirs)
    monkeypatch.setenv("CF_TOKEN_PROD", d1.token)  # one token per target, named in the config
    connect(d1.url, mdirs, api_token_env="CF_TOKEN_PROD").close()


@pytest.mark.parametrize(
    ("pasted", "said"),
    [
        ("{t}\u200b", "position 28 (U+200B ZERO WIDTH SPACE)"),  # from a chat or a PDF
        ("{t}\n# prod token", "(U+000A a line break)"),  # `$(cat token.txt)` of two lines
        ("Bearer {t}", "starts with 'Bearer '"),
    ],
)
def test_a_token_pasted_with_a_stray_character_is_one_line(
    d1: D1Target, mdirs: MigrationDirs, pasted: str, said: str
) -> None:
    """A character that cannot go in an HTTP header was a traceback (UnicodeEncodeError) or six
    "connection lost" retries; now a one-line error naming where it is, never the token."""
    token = pasted.format(t=d1.token)
    res = run_cli(
        "--database", d1.url, *mdirs.args(), "status", env={"CLOUDFLARE_API_TOKEN": token}
    )
    assert res.code == 2 and said in res.err, res.err
    assert "Traceback" not in res.err and d1.token not in res.err
    assert len(res.err.strip().splitlines()) == 2  # error: … and hint: …


def test_cli_on_d1_masks_the_token(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    res = run_cli("--database", d1.url, *d.args(), "up", "--no-backup")
    assert res.code == 0, res.err
    res = run_cli("--database", d1.url, *d.args(), "status", "--json")
    assert res.code == 0 and '"state": "applied"' in res.out
    bad = "sekrit-" + "9" * 20
    res = run_cli("--database", d1.url, *d.args(), "status", env={"CLOUDFLARE_API_TOKEN": bad})
    assert res.code == 2 and "rejected the API token" in res.err
    assert bad not in res.err + res.out and d1.token not in res.err + res.out


def test_lock_row_lease(d1: D1Target, mdirs: MigrationDirs) -> None:
    a = connect(d1.url, mdirs)
    b = connect(d1.url, mdirs)
    a.acquire_lock(LockHolder("ops@box-a", "box-a", 4242, "2026-01-01 00:00:00"))
    with pytest.raises(LockHeld, match=r"ops@box-a on box-a \(pid 4242\)"):
        b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, "2026-01-01 00:00:01"))
    # The lease runs out (box-a died without releasing): the next operator takes over, audited.
    d1.sql("SELECT 1")
    a.api.batch(["UPDATE malnu_lock SET expires_at = '2000-01-01 00:00:00'"], lambda: False)
    b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, "2026-01-01 00:00:01"))
    holder = b.read_lock()
    assert holder is not None and holder.owner == "ops@box-b"
    assert "lease expired" in b.read_audit(action="unlock")[0].detail
    # box-a comes back and renews: it learns it lost the lock instead of carrying on.
    with pytest.raises(LockHeld, match=r"ops@box-b .*\(this session's lock was taken over\)"):
        a.renew_lock()
    b.renew_lock()
    b.release_lock()
    assert a.read_lock() is None
    a.close()
    b.close()


def test_url_and_literals() -> None:
    loc = parse_d1_url("d1://0123456789abcdef0123456789abcdef/5b6c1f0e-aaaa-bbbb-cccc-0123456789ab")
    assert loc.account_id == "0123456789abcdef0123456789abcdef"
    assert loc.database_id == "5b6c1f0e-aaaa-bbbb-cccc-0123456789ab"
    for bad in ("d1://acc", "d1://user:pw@acc/db", "d1://acc/db?token=x", "d1://a b/db"):
        with pytest.raises(ConfigError):
            parse_d1_url(bad)
    assert sql_literal("it's") == "'it''s'" and sql_literal(None) == "NULL"
    # A NUL is kept (it was U+FFFD: another value stored), and never in the SQL's text.
    assert sql_literal(True) == "1" and sql_literal("a\x00b") == "CAST(X'610062' AS TEXT)"
    assert bind_literals("SELECT '?', ? , ?", ["x'; DROP TABLE t; --", 3]) == (
        "SELECT '?', 'x''; DROP TABLE t; --' , 3"
    )


def test_a_5xx_retry_after_is_honoured(d1: D1Target) -> None:
    """Cloudflare's 503 (maintenance, overload) may carry Retry-After, as a 429 does: it was
    ignored, the six attempts spent within seconds."""
    waits: list[float] = []
    api = D1Api(
        parse_d1_url(d1.url),
        d1.token,
        api_base=d1.server.api_base,
        policy=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
        sleep=waits.append,
    )
    d1.server.inject(Fault("status", count=1, status=503, retry_after=3, match="SELECT 41"))
    d1.server.inject(Fault("status", count=1, status=429, retry_after=2, match="SELECT 42"))
    try:
        assert api.raw("SELECT 41").rows == ((41,),) and api.raw("SELECT 42").rows == ((42,),)
    finally:
        api.close()
    assert waits == [3.0, 2.0]
