"""D1's 30 s a query (over its HTTP API: the whole request, each statement within it), on the
local D1 stand-in with the limit lowered: what `up`, a sync's whole-table swap and an import
say and leave when D1 stops a request for taking too long."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.whole_d1 import stage_name
from tests.d1server import TIMEOUT_MESSAGE, Fault
from tests.fixtures_core import MigrationDirs
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sync

# A statement that runs for seconds in SQLite (a recursive count with nothing to show for it).
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) "
    "INSERT INTO marks (score) SELECT x FROM c WHERE x = 0;"
)


def test_up_of_a_migration_d1_stops_names_it_says_split_and_keeps_nothing(
    d1: D1Target, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data migration past D1's 30 s: D1 stops the request and rolls it back. `up` named its
    first statement as the one that failed (the batch too slow to be probed for the one that
    did), and said "fix the file": D1 says nothing of which statement ran long, and the file
    may well be right. It now says the migration's statements went as one request held to
    30 s as a whole, hints to split it into batches, and the failure is recorded."""
    monkeypatch.setattr(d1.server, "max_query_seconds", 0.5)
    mdirs.add("20250101_000100", "marks", "CREATE TABLE marks (id INTEGER PRIMARY KEY, score);")
    mdirs.add(
        "20250101_000200",
        "backfill",
        "INSERT INTO marks (score) VALUES (1);\n\n" + SLOW + "\nUPDATE marks SET score = 2;\n",
    )
    base = ["--database", d1.url, *mdirs.args()]
    res = run_inproc(*base, "up", "--no-backup")
    assert res.code == 1, res.err
    said = res.err.splitlines()
    error = next(x for x in said if x.startswith("error: "))
    assert error.startswith("error: migration 20250101_000200_backfill.sql failed at line 1: "), (
        res.err
    )
    assert "D1 DB storage operation exceeded timeout" in error
    assert "its 3 statements, lines 1–4, go to D1 as one request, held to 30 s" in error
    assert error.endswith("; all of it was rolled back"), error
    hint = next(x for x in said if x.startswith("hint: "))
    assert "split it into batches, each well under 30 s" in hint, hint
    assert d1.sql("SELECT count(*) FROM marks") == [(0,)], "its first INSERT was rolled back"
    (recorded,) = d1.sql(
        "SELECT success, error_message FROM migrations WHERE filename LIKE '%fill%'"
    )
    assert recorded[0] == 0 and "exceeded timeout" in str(recorded[1]), recorded


def test_a_keyless_copy_whose_swap_d1_stops_is_left_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyless table is swapped into its D1 copy by one final request (all or nothing), which
    D1 holds to 30 s as a whole. A copy too large for it (here: a trigger of the copy's that
    makes each row slow) is rolled back by D1; the sync said only D1's words, with no hint.
    It now says what to do, and the copy and the database are as they were."""
    src, dst = make_db("sqlite", request, tmp_path, "s"), make_db("d1", request, tmp_path, "d")
    assert dst.d1 is not None
    src.run("CREATE TABLE tags (value TEXT, n INTEGER)")
    src.many("INSERT INTO tags VALUES (?, ?)", [("guru", 1), ("murid", 2)])
    assert sync(src, dst).verified
    dst.d1.sql("CREATE TABLE n (x)")
    dst.d1.sql(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 999) "
        "INSERT INTO n SELECT x FROM c"
    )
    dst.d1.sql(
        "CREATE TRIGGER slow AFTER INSERT ON tags BEGIN SELECT count(*) FROM n a, n b, n c; END"
    )
    before = sorted(dst.run("SELECT value, n FROM tags"))
    src.run("INSERT INTO tags VALUES ('staf', 3)")
    monkeypatch.setattr(dst.d1.server, "max_query_seconds", 0.5)
    with pytest.raises(BackendError) as stopped:
        sync(src, dst)
    assert "writing tags: D1 limit reached: D1 DB storage operation exceeded timeout" in str(
        stopped.value
    ), stopped.value
    hint = stopped.value.hint or ""
    assert "the copy was left as it was" in hint and "Give the table a key" in hint, hint
    assert sorted(dst.run("SELECT value, n FROM tags")) == before
    assert not dst.run(f"SELECT name FROM sqlite_master WHERE name = '{stage_name('tags')}'")


def test_an_import_whose_promote_d1_stops_is_no_rejected_row(
    d1: D1Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import into D1 stages its rows, tries moving them in (rolled back) and then moves
    them in one request. D1 stopping that trial at 30 s (a table's slow trigger here; a big
    file) was taken for a refused row: "rejected line 2: … exceeded timeout", a rejects file,
    "inserted 2". It is now one error that says what happened and what to do; nothing is
    imported and no stage is left."""
    _slow_nilai(d1)
    f = tmp_path / "nilai.csv"
    f.write_text("id,score\n1,90\n2,85\n3,70\n", encoding="utf-8")
    monkeypatch.setattr(d1.server, "max_query_seconds", 0.5)
    args = ("--database", d1.url, "import", str(f), "--table", "nilai", "--yes", "--no-backup")
    res = run_inproc(*args)
    assert res.code == 1, res.err
    assert "rejected" not in res.err and not (tmp_path / "nilai.rejects.csv").exists(), res.err
    assert "error: D1: moving the 3 rows staged into nilai ran past D1's 30 s a request" in res.err
    assert "hint: D1 stops a request after 30 s" in res.err and "in parts" in res.err, res.err
    assert d1.sql("SELECT count(*) FROM nilai") == [(0,)]
    assert not d1.sql("SELECT name FROM sqlite_master WHERE name LIKE 'malnu_stage_%'")


def test_d1_s_timeout_answered_as_a_server_error_is_not_sent_again(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """D1's status for its timeout is not documented. Answered as a 5xx, the migration was
    sent six times (each run 30 s on D1, the database held from the application each time),
    then said as "no answer after 6 attempts … check cloudflarestatus.com". It is now said at
    once, as D1 stopping the request, with the hint to split it."""
    mdirs.add("20250101_000100", "marks", "CREATE TABLE marks (id INTEGER PRIMARY KEY, score);")
    fault = d1.server.inject(
        Fault("status", count=6, status=500, match="CREATE TABLE marks", message=TIMEOUT_MESSAGE)
    )
    res = run_inproc("--database", d1.url, *mdirs.args(), "up", "--no-backup")
    assert res.code == 1, res.err
    assert fault.count == 5, "sent once"
    assert "failed at line 1: D1 limit reached: D1 DB storage operation exceeded" in res.err
    assert "split it into batches" in res.err and "attempts" not in res.err, res.err


def test_d1_import_of_a_dump_whose_statement_d1_stops_says_what_to_do(
    d1: D1Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`d1 import` of a dump one of whose statements ran past D1's 30 s said only D1's words,
    `D1 import failed: D1 DB storage operation exceeded timeout…`. It now says what to look
    at and what to change."""
    d1.sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    # (the dump is checked in a scratch database first: a statement of about a second there)
    monkeypatch.setattr(d1.server, "max_query_seconds", 0.2)
    dump = tmp_path / "d.sql"
    dump.write_text(
        "CREATE TABLE marks (id INTEGER PRIMARY KEY, score);\nINSERT INTO marks VALUES (1, 2);\n"
        + SLOW.replace("50000000", "1000000")
        + "\n"
    )
    res = run_inproc("--database", d1.url, "d1", "import", str(dump), "--yes")
    assert res.code == 1, res.err
    assert "error: D1 import failed: D1 DB storage operation exceeded timeout" in res.err
    assert "hint: D1 stops a statement after 30 s and one of the dump's ran past it" in res.err


def test_a_trigger_s_own_words_of_a_timeout_are_no_d1_limit(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """A school's own trigger refusing a row in words holding "exceeded timeout" (a quiz's
    answer window) is that trigger's refusal, named at its line, "fix the file": it was read as
    D1 stopping the request at 30 s (split-it-into-batches hint), a matching of two words
    where D1's own sentence is whole."""
    mdirs.add(
        "20250101_000100",
        "answers",
        "CREATE TABLE answers (id INTEGER PRIMARY KEY, late INTEGER);\n"
        "CREATE TRIGGER answers_window BEFORE INSERT ON answers WHEN NEW.late = 1\n"
        "BEGIN SELECT RAISE(ABORT, 'answer window exceeded timeout of the quiz'); END;",
    )
    mdirs.add(
        "20250101_000200",
        "late",
        "INSERT INTO answers (late) VALUES (0);\nINSERT INTO answers (late) VALUES (1);\n",
    )
    base = ["--database", d1.url, *mdirs.args()]
    res = run_inproc(*base, "up", "--no-backup")
    assert res.code == 1, res.err
    assert "answer window exceeded timeout of the quiz" in res.err, res.err
    assert "30 s" not in res.err and "split it into batches" not in res.err, res.err


def test_an_import_dry_run_d1_stops_says_what_to_do_for_a_dry_run(
    d1: D1Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry run into D1 tries each chunk of rows in a request D1 rolls back. D1 stopping one at
    30 s said only `D1 limit reached: …` with a migration's hint ("split it into batches … a
    data migration over many rows"), naming neither the table nor what was being done. It
    now names the trial's lines and table, and says what to do for this import."""
    _slow_nilai(d1)
    f = tmp_path / "nilai.csv"
    f.write_text("id,score\n1,90\n2,85\n3,70\n", encoding="utf-8")
    monkeypatch.setattr(d1.server, "max_query_seconds", 0.5)
    res = run_inproc("--database", d1.url, "import", str(f), "--table", "nilai", "--dry-run")
    assert res.code == 1, res.err
    assert "error: D1: the dry run's trial of lines 2–4 against nilai ran past D1's 30 s" in res.err
    hint = next(x for x in res.err.splitlines() if x.startswith("hint: "))
    assert "nothing was written" in hint and "import the file in parts" in hint, hint
    assert "split it into batches" not in res.err and "migration" not in res.err, res.err
    assert d1.sql("SELECT count(*) FROM nilai") == [(0,)]


def _slow_nilai(d1: D1Target) -> None:
    """Table nilai, whose trigger makes each row slow (about a second on the stand-in)."""
    d1.sql("CREATE TABLE n (x)")
    d1.sql(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 999) "
        "INSERT INTO n SELECT x FROM c"
    )
    d1.sql("CREATE TABLE nilai (id INTEGER PRIMARY KEY, score INTEGER)")
    d1.sql(
        "CREATE TRIGGER slow AFTER INSERT ON nilai BEGIN SELECT count(*) FROM n a, n b, n c; END"
    )


def test_a_sync_its_dry_run_and_verify_d1_stops_say_what_to_do_for_each(
    d1: D1Target, tmp_path: Path
) -> None:
    """D1 stopping one of a sync's requests at 30 s (a read of a large table, a chunk) gave the
    migration's hint, `split it into batches … (a data migration over many rows: a range of
    keys per file…)`, to a dry run and a `sync verify` that only read, and to a sync, none of
    which has a file to split; `sync verify` did not even say which table. Each now says
    what it was reading or writing and what to do for it."""
    p = tmp_path / "p.db"
    src = Db("sqlite", f"sqlite:///{p}", path=p)
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, note TEXT, updated_at DATETIME)")
    src.many("INSERT INTO nilai VALUES (?, ?, '2025-01-01')", [(i, f"n{i}") for i in range(9)])
    src.run("CREATE TABLE tags (v TEXT)")
    src.many("INSERT INTO tags VALUES (?)", [("guru",), ("murid",)])
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{p}"\n\n[targets.analytics]\nurl = "{d1.url}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\n',
        encoding="utf-8",
    )
    assert run_inproc("--config", str(config), "sync", "reporting", "--yes").code == 0
    reading = 'SELECT max(s) FROM (SELECT CASE WHEN typeof(\\"id\\")'  # a page of nilai's
    for words, match, said in (
        (["--dry-run"], reading, "stopped one of this dry run's reads of nilai (a dry run only"),
        (["verify"], reading, "stopped one of this verification's reads of nilai"),
        (["--yes"], reading, "this sync's on nilai (a chunk of rows written, or a read)"),
        (["--yes"], 'INSERT INTO \\"malnu_stage_whole_tags', "the copy was left as it was"),
    ):
        d1.server.inject(Fault("status", status=400, match=match, message=TIMEOUT_MESSAGE))
        verify = words[:1] if words == ["verify"] else []
        rest = [] if verify else words
        res = run_inproc("--config", str(config), "sync", *verify, "reporting", *rest)
        assert res.code == 1, res.err
        assert "D1 limit reached: D1 DB storage operation exceeded timeout" in res.err, res.err
        hint = next(x for x in res.err.splitlines() if x.startswith("hint: "))
        assert said in hint and "split it into batches" not in hint, (words, hint)
    assert sorted(d1.sql("SELECT v FROM tags")) == [("guru",), ("murid",)]


def test_a_sync_s_count_of_a_table_stopped_by_d1_says_what_to_do_for_a_sync(
    d1: D1Target, tmp_path: Path
) -> None:
    """The count of each table's rows a sync and its dry run begin with (plan_sync), stopped by
    D1 at 30 s, kept the migration's hint (`split it into batches … a data migration`), before
    any row was read or written: it now says so, and what to do for a sync."""
    d1.sql("CREATE TABLE nilai (id INTEGER PRIMARY KEY, note TEXT)")
    d1.sql("INSERT INTO nilai VALUES (1, 'a'), (2, 'b')")
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{d1.url}"\n\n[targets.analytics]\n'
        f'url = "sqlite:///{tmp_path / "copy.db"}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\n',
        encoding="utf-8",
    )
    for words in (["--dry-run"], ["--yes"]):
        counting = d1.server.inject(
            Fault("status", status=400, match='count(*) FROM \\"nilai\\"', message=TIMEOUT_MESSAGE)
        )
        res = run_inproc("--config", str(config), "sync", "reporting", *words)
        assert res.code == 1 and not counting.count, res.err
        assert "D1 limit reached: D1 DB storage operation exceeded timeout" in res.err, res.err
        hint = next(x for x in res.err.splitlines() if x.startswith("hint: "))
        assert "the reads a sync and its dry run begin with (nilai's rows counted" in hint, hint
        assert "split it into batches" not in res.err and "migration" not in res.err, res.err


def test_an_audit_index_d1_stops_at_30_s_is_said_once_and_every_command_goes_on(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """The audit indexes are made by the next command that may write. On a trail too long
    for D1 to index within its 30 s, D1 stopped that request, and every command that may
    write (`status`, `up`, `rollback`…) failed on it, for ever, with the hint to split a
    migration. Now each index goes in a request of its own; one D1 stops is made empty
    (``WHERE 0``: no read uses it, never tried again), said once, and the command goes on."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    base = ["--database", d1.url, *mdirs.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    for name in ("malnu_audit_action_object_id", "malnu_audit_action_object_outcome_id"):
        d1.sql(f"DROP INDEX {name}")  # as the version before them left the database
    built = "(action, object, id)\\n;"  # (the index, not its empty stand-in: `… WHERE 0`)
    fault = d1.server.inject(
        Fault("status", count=9, status=400, match=built, message=TIMEOUT_MESSAGE)
    )
    mdirs.add("20250101_000200", "b", "CREATE TABLE b (id INTEGER);")
    res = run_inproc(*base, "up", "--no-backup")
    assert res.code == 0, res.err
    said = [x for x in res.err.splitlines() if "audit index" in x]
    assert said == [
        f"warning: {d1.url}: D1 stopped the build of the audit index "
        "malnu_audit_action_object_id at its 30 s (the audit trail is too long for one "
        "request): made empty, so no command tries it again; reads go without it (`check`'s "
        "of each [sync.NAME] pair, slower on a long trail). To have it: delete old rows of "
        "malnu_audit in ranges of ids, then DROP INDEX malnu_audit_action_object_id; the next "
        "command builds it"
    ], res.err
    assert fault.count == 8, "sent once"
    made = dict(d1.sql("SELECT name, sql FROM sqlite_master WHERE name LIKE 'malnu_audit_%'"))
    assert made["malnu_audit_action_object_id"].strip().endswith("(action, object, id) WHERE 0")
    assert made["malnu_audit_action_object_outcome_id"].strip().endswith("object, outcome, id)")
    assert d1.sql("SELECT count(*) FROM migrations") == [(2,)]
    res = run_inproc(*base, "status")
    assert res.code == 0 and "audit index" not in res.err, res.err
    assert fault.count == 8, "not tried again"
