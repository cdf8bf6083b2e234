"""Import into a table with the triggers and cascades schools have, on every backend: an audit
log and a class's student counter written by AFTER triggers, grades going by ON DELETE CASCADE,
a BEFORE trigger that drops some rows (RAISE(IGNORE), RETURN NULL), a UNIQUE ... ON CONFLICT
REPLACE (SQLite, D1). One prepared database a backend, the cases in turn; each checks the
counts, the balance, what committed and what the triggers and cascades did."""

from __future__ import annotations

import json as jsonlib
from dataclasses import replace
from pathlib import Path

from malnu_tui.engine.data import ImportRequest
from tests.import_support import ImportTarget, import_into, write_csv
from tests.inproc import run_inproc

PG_TRIGGERS = [
    "CREATE FUNCTION log_siswa() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO siswa_log VALUES (NEW.id); RETURN NEW; END $$",
    "CREATE TRIGGER logged AFTER INSERT OR UPDATE ON siswa FOR EACH ROW "
    "EXECUTE FUNCTION log_siswa()",
    "CREATE FUNCTION count_siswa() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE kelas SET jumlah_siswa = jumlah_siswa + 1 WHERE id = NEW.kelas_id; RETURN NEW; END $$",
    "CREATE TRIGGER counted AFTER INSERT ON siswa FOR EACH ROW EXECUTE FUNCTION count_siswa()",
    "CREATE FUNCTION drop_test_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.nama LIKE 'tes%' THEN RETURN NULL; END IF; RETURN NEW; END $$",
    "CREATE TRIGGER no_test_rows BEFORE INSERT OR UPDATE ON siswa FOR EACH ROW "
    "EXECUTE FUNCTION drop_test_rows()",
]
SQLITE_TRIGGERS = [
    "CREATE TRIGGER logged AFTER INSERT ON siswa BEGIN INSERT INTO siswa_log VALUES (NEW.id); END",
    "CREATE TRIGGER logged_u AFTER UPDATE ON siswa BEGIN "
    "INSERT INTO siswa_log VALUES (NEW.id); END",
    "CREATE TRIGGER counted AFTER INSERT ON siswa BEGIN "
    "UPDATE kelas SET jumlah_siswa = jumlah_siswa + 1 WHERE id = NEW.kelas_id; END",
    "CREATE TRIGGER no_test_rows BEFORE INSERT ON siswa WHEN NEW.nama LIKE 'tes%' BEGIN "
    "SELECT RAISE(IGNORE); END",
    "CREATE TRIGGER no_test_rows_u BEFORE UPDATE ON siswa WHEN NEW.nama LIKE 'tes%' BEGIN "
    "SELECT RAISE(IGNORE); END",
]
HEADER = "id,kelas_id,nama,nis\n"
# name, rows, --key/--on-conflict, (committed, inserted, updated, skipped, rejected),
# then the log rows, kelas 1's counter and the grades after it.
CASES = [
    ("plain", "1,1,Ani,n1\n2,1,Budi,n2\n3,2,Citra,n3\n", (), (True, 3, 0, 0, 0), 3, 2, 0),
    ("upsert", "1,1,Ani S,n1\n4,1,Dewi,n4\n", ("id",), (True, 1, 1, 0, 0), 5, 3, 3),
    ("skip", "1,1,Ani T,n1\n5,2,Eka,n5\n", ("id", "skip"), (True, 1, 0, 1, 0), 6, 3, 3),
    # A BEFORE trigger drops test rows: skipped, not a failed count check (nothing committed;
    # into D1 "the table's count did not match the import's (another writer?)").
    ("plain, a row dropped", "6,1,tes 1,n6\n7,1,Fajar,n7\n", (), (True, 1, 0, 1, 0), 7, 4, 3),
    (
        "upsert, rows dropped",
        "1,1,tes 2,n1\n8,1,tes 3,n8\n9,1,Gita,n9\n",
        ("id",),
        (True, 1, 0, 2, 0),
        8,
        5,
        3,
    ),
    # An upsert of a student with grades updates it: the grades stay.
    ("upsert, grades kept", "1,2,Ani,n1\n", ("id",), (True, 0, 1, 0, 0), 9, 5, 3),
]
# SQLite and D1: nis UNIQUE ON CONFLICT REPLACE made a row with Budi's nis and a new id delete
# Budi and, by cascade, his grades, and said `updated 1`; it is refused by line.
REPLACE_CASES = [
    ("plain, nis replaces", "20,1,Budi B,n2\n", (), (False, 0, 0, 0, 1), 9, 5, 3),
    (
        "upsert, nis replaces",
        "20,1,Budi B,n2\n21,1,Hana,n21\n",
        ("id",),
        (False, 1, 0, 0, 1),
        9,
        5,
        3,
    ),
]


def test_counts_with_triggers_and_cascades(imp: ImportTarget, tmp_path: Path) -> None:
    on_replace = "" if imp.kind == "postgresql" else " ON CONFLICT REPLACE"
    imp.execute("CREATE TABLE kelas (id INTEGER PRIMARY KEY, jumlah_siswa INTEGER DEFAULT 0)")
    imp.execute(
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas_id INTEGER REFERENCES kelas (id), "
        f"nama TEXT, nis TEXT UNIQUE{on_replace})"
    )
    imp.execute(
        "CREATE TABLE nilai (id INTEGER PRIMARY KEY, "
        "siswa_id INTEGER REFERENCES siswa (id) ON DELETE CASCADE, skor INTEGER)"
    )
    imp.execute("CREATE TABLE siswa_log (siswa_id INTEGER)")
    for statement in PG_TRIGGERS if imp.kind == "postgresql" else SQLITE_TRIGGERS:
        imp.execute(statement)
    imp.execute("INSERT INTO kelas (id) VALUES (1), (2)")
    cases = CASES + (REPLACE_CASES if on_replace else [])
    for i, (name, rows, key, counts, logged, counter, grades) in enumerate(cases):
        if i == 1:  # Ani and Budi have grades from here on
            imp.execute("INSERT INTO nilai VALUES (1, 1, 90), (2, 1, 80), (3, 2, 70)")
        conflict = key[1] if key[1:] else "update"
        request = ImportRequest(
            "siswa",
            file=write_csv(tmp_path / f"{i}.csv", HEADER + rows),
            key=key[:1],
            on_conflict=conflict if key else None,
            rejects=tmp_path / f"{i}.rejects.csv",
        )
        before = imp.count("siswa")
        # What the dry run says first is what the run says after (counts, warnings, --json),
        # the trigger dropping rows named; it writes nothing.
        dry = import_into(imp, replace(request, dry_run=True))
        assert (dry.inserted, dry.updated, dry.skipped, dry.rejected) == counts[1:], name
        assert (dry.committed, imp.count("siswa")) == (False, before), name
        if name == "plain, a row dropped":  # the CLI's dry run prints it, text and --json
            cli = run_inproc(
                *("--database", imp.url, "import", str(request.file), "--table", "siswa"),
                *("--dry-run", "--json", "--rejects", str(tmp_path / "cli.rejects.csv")),
            )
            assert cli.code == 0, cli.err
            assert jsonlib.loads(cli.out)["warnings"] == list(dry.warnings), name
            assert f"warning: dry run: {dry.warnings[0]}\n" in cli.err, cli.err
            # The import's plan names the trigger before it asks (no terminal: refused there).
            asked = run_inproc("--database", imp.url, "import", str(request.file), "--table=siswa")
            note = asked.err.find("  note: table siswa's own trigger(s) no_test_rows")
            assert asked.code == 2 and -1 < note < asked.err.index("error: refusing"), asked.err
        r = import_into(imp, request)
        assert dry.warnings == r.warnings, name
        assert dry.as_json().get("warnings") == r.as_json().get("warnings"), name
        got = (r.committed, r.inserted, r.updated, r.skipped, r.rejected)
        assert got == counts, name
        assert r.read == sum(counts[1:]), name
        after = before + r.inserted if r.committed else before
        assert (r.before_count, r.after_count, imp.count("siswa")) == (before, after, after), name
        json = r.as_json()
        assert (json["inserted"], json["updated"], json["skipped"]) == counts[1:4], name
        assert imp.count("siswa_log") == logged, name
        assert imp.rows("SELECT jumlah_siswa FROM kelas WHERE id = 1") == [(counter,)], name
        assert imp.count("nilai") == grades, name
        if "dropped" in name:
            assert r.warnings and "no_test_rows" in r.warnings[0], name
            assert json["warnings"] == list(r.warnings), name
