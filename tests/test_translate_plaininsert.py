"""plaininsert builds the tree of a plain INSERT … VALUES without sqlglot's parser: it may say
"not plain" as often as it likes, but a tree it builds must be the parser's own (the same
nodes, arguments and values, so the same PostgreSQL). Checked on random statements from a
grammar wider than the plain form, and on the forms seed files hold; and a whole translation
with the parser alone gives the same output."""

from __future__ import annotations

import os
import random

import pytest
from sqlglot import exp
from sqlglot.errors import SqlglotError

from malnu_tui.engine.translate import SchemaState, pipeline, translate_script
from malnu_tui.engine.translate.common import parse_sqlite, pg_sql
from malnu_tui.engine.translate.plaininsert import plain_insert

# Names plain and not (sqlglot keywords, SQLite keywords, quoted, qualified, not ASCII), values
# plain and not, and what may stand between the tokens.
_NAMES = ["a", "b", "txa", "email", "is_active", "T", "Mixed_Case", "_z", "x1", "key", "status",
          "user", '"q"', '"a b"', '"x""y"', '"select"', '"é"', "date", "text", "values",
          "select", "order", "null", "true", "replace", '""', '"a"b', "`b`", "[c d]", "main.t",
          '"main"."t"', "é", "a$b", "1a"]  # fmt: skip
_VALUES = ["'x'", "'it''s'", "''", "'a\\b'", "'two\nlines'", "'ü'", "0", "1", "42", "007",
           "1.50", "-5", "-0.0", "NULL", "null", "TRUE", "false", "True", "1.", ".5", "1e5",
           "0x1F", "1_000", "+5", "- 5", "x'ab'", "?", ":p", "abs(-1)", "1 + 2",
           "CURRENT_TIMESTAMP", "DEFAULT", "(SELECT 1)", "'a' || 'b'", "'a''", "'x'y",
           "2abc", "-'x'", "--", "/* c */ 1"]  # fmt: skip
_SPACES = [" ", " ", " ", "  ", "\n", "\t", "\r\n", "", "\f", " /* c */ "]
_ALTERNATIVES = ["", "", "OR IGNORE ", "OR REPLACE ", "or ignore ", "OR ABORT ", "OR FAIL ",
                 "OR ROLLBACK ", "OR FOO "]  # fmt: skip
_TAILS = ["", "", "", ";", " ", "\n", " ON CONFLICT DO NOTHING", " RETURNING *", " -- end",
          " /* end */", ", ", " x"]  # fmt: skip


def _statement(r: random.Random) -> str:
    # Half the statements hold only plain parts; the others some of anything.
    odds = 1.0 if r.random() < 0.5 else 0.75

    def _pick(r: random.Random, items: list[str], plain: int) -> str:
        """One of the first ``plain`` items at those odds, else any."""
        return r.choice(items[:plain]) if r.random() < odds else r.choice(items)

    def sp() -> str:
        return _pick(r, _SPACES, 3)

    head = _pick(r, ["INSERT", "insert", "Insert", "REPLACE", "INSERT INTO"], 3)
    text = f"{sp()}{head} {_pick(r, _ALTERNATIVES, 5)}INTO {_pick(r, _NAMES, 17)}"
    if r.random() < 0.8:
        names = [_pick(r, _NAMES, 17) for _ in range(r.randint(0, 4) or 1)]
        text += f"{sp()}({sp()}{(',' + sp()).join(names)}{sp()})"
    if r.random() < 0.05:
        return text + r.choice([" DEFAULT VALUES", " SELECT 1", " VALUES", " VALUES ()"])
    rows = []
    for _ in range(r.randint(1, 3)):
        values = [_pick(r, _VALUES, 18) for _ in range(r.randint(1, 4))]
        rows.append(f"({sp()}{(',' + sp()).join(values)}{sp()})")
    keyword = _pick(r, ["VALUES", "values", "Values", "VALUE"], 3)
    return f"{text} {keyword}{sp()}{(',' + sp()).join(rows)}{_pick(r, _TAILS, 3)}"


def _same_tree(text: str) -> bool | None:
    """None when plain_insert says "not plain"; else whether its tree is the parser's."""
    built = plain_insert(text)
    if built is None:
        return None
    try:
        parsed = [t for t in parse_sqlite(text) if t is not None]
    except SqlglotError:
        return False  # the parser refuses what was taken
    if len(parsed) != 1:
        return False
    (tree,) = parsed
    return (
        tree == built
        and repr(tree) == repr(built)
        and list(tree.args) == list(built.args)
        and pg_sql(tree) == pg_sql(built)
        and tree.sql(dialect="sqlite") == built.sql(dialect="sqlite")
    )


def test_a_built_tree_is_the_parsers_own_on_random_statements() -> None:
    # 1,000 statements of this seed reach every item of the grammar, every branch of the
    # builder (all by the 160th) and every item in a statement taken; 4,000 reached no more.
    count = int(os.environ.get("MALNU_PLAININSERT_FUZZ", "1000"))
    r = random.Random(20261205)
    taken = 0
    for _ in range(count):
        text = _statement(r)
        same = _same_tree(text)
        assert same is not False, text
        taken += same is True
    # The grammar is mostly the plain form: a good share is taken (the test means something).
    assert taken > count // 5, taken


@pytest.mark.parametrize(
    "text",
    [
        "INSERT OR IGNORE INTO txa (email, name) VALUES ('u0@x', 'n0')",
        "INSERT OR REPLACE INTO txa (email, name, is_active) VALUES ('u1@x', 'm', 0)",
        "INSERT INTO users (id, name, active) VALUES (1, 'Ahmad', TRUE), (2, 'Siti''s', NULL)",
        "insert into Grades values (-5, 1.50, 'two\nlines')",
        "\n  INSERT INTO t (a) VALUES ('')",
        # as `wrangler d1 export` writes rows: every name quoted, no space before the row
        'INSERT INTO "users" ("id","name","email") VALUES(1,\'Ahmad\',\'a@b\')',
    ],
)
def test_the_forms_seed_files_hold_are_built(text: str) -> None:
    assert _same_tree(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "INSERT INTO t (date) VALUES (1)",  # a keyword of sqlglot's as a name
        'INSERT INTO "" (a) VALUES (1)',  # quoted, but empty
        "INSERT INTO `t` (a) VALUES (1)",  # quoted otherwise
        'INSERT INTO t (a) VALUES ("x")',  # a double-quoted value (a name, to SQLite)
        "INSERT INTO main.t (a) VALUES (1)",  # a schema
        "INSERT INTO t (a) VALUES (1) -- a comment",
        "INSERT INTO t (a) VALUES (x'00')",
        "INSERT INTO t (a) VALUES (0x1F)",
        "INSERT INTO t (a) VALUES (?)",
        "INSERT INTO t (a) VALUES (abs(1))",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING",
        "INSERT INTO t (a) VALUES (1) RETURNING a",
        "INSERT INTO t (a) SELECT 1",
        "INSERT INTO t DEFAULT VALUES",
        "INSERT OR FOO INTO t (a) VALUES (1)",
        "INSERT INTO t (a) VALUES (1);",
        "INSERT INTO t (a) VALUES (1abc)",
    ],
)
def test_what_is_not_plain_is_left_to_the_parser(text: str) -> None:
    assert plain_insert(text) is None


def test_a_translation_is_the_same_with_the_parser_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "CREATE TABLE txa (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, "
        "is_active BOOLEAN DEFAULT 1, created_at DATETIME, avatar BLOB);\n"
        "INSERT OR IGNORE INTO txa (email, name) VALUES ('u0@x', 'n0');\n"
        "INSERT OR REPLACE INTO txa (email, name, is_active) VALUES ('u1@x', 'm', 0);\n"
        "INSERT INTO txa (id, email, is_active, created_at) VALUES (NULL, 'a', 1, "
        "'2025-01-02T03:04:05Z'), (7, 'b', TRUE, '2025-01-02 03:04:05');\n"
        "INSERT INTO txa VALUES (8, 'c', 'n', 0, NULL, NULL);\n"
        'INSERT INTO "txa" ("id","email","is_active") VALUES(9,\'d\',1);\n'
        "INSERT INTO nowhere (a) VALUES (1);\n"
    )

    def translated() -> tuple[object, str]:
        state = SchemaState()
        try:
            ft = translate_script(script, "seed.sql", state)
            return ft, ft.postgres_sql()
        finally:
            state.close()

    fast = translated()
    seen: list[str] = []
    monkeypatch.setattr(pipeline, "plain_insert", lambda text: seen.append(text))
    assert translated() == fast  # the parser read every statement this time
    inserts = [t for t in seen if t.startswith("INSERT")]
    # … and the first time each INSERT was built here (its tree is the parser's: same output)
    assert len(inserts) == 6
    assert all(isinstance(plain_insert(t), exp.Insert) for t in inserts)
