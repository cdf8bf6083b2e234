"""Translation throughput: SQLite → PostgreSQL statements per second on a large generated set
of seed- and D1-style migrations, beside sqlglot's bare ``transpile`` of the same statements
(which does none of the project's rewrites, schema tracking or checks).

Two sets of the same statements: names built from numbers (``t12``, ``idx_t12_name``), and the
same names spelled with letters only (``txm``, ``idx_txm_name``), as real migrations' names mostly
are. The scratch schema skips SQLite's check of a statement whose shape it accepted already
(the same text but for words that can only be names, i.e. that hold a digit): the first set
repeats its shapes 200 times, the second never does, so it is the figure to judge by.

Standalone: `.venv/bin/python benchmarks/bench_translate.py [--files 200] [--per-file 25]
[--set both|digits|letters]`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlglot  # noqa: E402

from benchmarks._table import print_table  # noqa: E402
from malnu_tui.engine.sqlsplit import split_statements  # noqa: E402
from malnu_tui.engine.translate import SchemaState, translate_script  # noqa: E402


def generate(files: int, per_file: int) -> list[str]:
    """``files`` migration scripts of about ``per_file`` statements each."""
    scripts: list[str] = []
    for f in range(files):
        t = f"t{f}"
        parts = [
            f"CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "email TEXT NOT NULL UNIQUE, name TEXT, is_active BOOLEAN DEFAULT 1, "
            "score REAL CHECK (score BETWEEN 0 AND 100), avatar BLOB, "
            "created_at DATETIME DEFAULT CURRENT_TIMESTAMP, "
            f"ref_id INTEGER REFERENCES {t} (id) ON DELETE SET NULL)",
            f"CREATE INDEX IF NOT EXISTS idx_{t}_name ON {t} (name)",
            f"CREATE TRIGGER {t}_touch AFTER UPDATE ON {t} BEGIN "
            f"UPDATE {t} SET created_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END",
            # One ALTER per file: SQLite reloads its whole schema after each ALTER TABLE, so
            # their cost grows with the schema (the scratch schema pays it like SQLite does).
            f"ALTER TABLE {t} ADD COLUMN phone TEXT",
        ]
        i = 0
        while len(parts) < per_file:
            kind = i % 6
            if kind == 0:
                parts.append(f"INSERT OR IGNORE INTO {t} (email, name) VALUES ('u{i}@x', 'n{i}')")
            elif kind == 1:
                parts.append(
                    f"INSERT OR REPLACE INTO {t} (email, name, is_active) VALUES ('u{i}@x', 'm', 0)"
                )
            elif kind == 2:
                parts.append(
                    f"UPDATE {t} SET is_active = 0 WHERE created_at < datetime('now', '-{i} days')"
                )
            elif kind == 3:
                parts.append(f"UPDATE {t} SET name = substr(name, 1, 10) WHERE phone IS NULL")
            elif kind == 4:
                parts.append(
                    f"CREATE VIEW IF NOT EXISTS v_{t}_{i} AS SELECT id, strftime('%Y-%m', "
                    f"created_at) AS month FROM {t} WHERE name LIKE 'a%'"
                )
            else:
                parts.append(f"DELETE FROM {t} WHERE email GLOB '*@spam*'")  # a finding
            i += 1
        scripts.append(";\n".join(parts) + ";\n")
    return scripts


def _letters(n: int) -> str:
    """``n`` (0, 1, …) as a name without digits: a, b, …, z, aa, ab, …"""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(97 + r) + out
    return out


def without_digits(script: str) -> str:
    """``script`` with the names :func:`generate` builds from numbers spelled in letters
    (``tx…``: no such name is a keyword)."""
    script = re.sub(
        r"\bv_t(\d+)_(\d+)\b", lambda m: f"v_tx{_letters(int(m[1]))}_{_letters(int(m[2]))}", script
    )
    script = re.sub(r"\bidx_t(\d+)_name\b", lambda m: f"idx_tx{_letters(int(m[1]))}_name", script)
    script = re.sub(r"\bt(\d+)_touch\b", lambda m: f"tx{_letters(int(m[1]))}_touch", script)
    return re.sub(r"\bt(\d+)\b", lambda m: f"tx{_letters(int(m[1]))}", script)


def _compiled() -> bool:
    """True when sqlglot runs as sqlglotc's compiled (mypyc) modules."""
    import sqlglot.parser

    return str(getattr(sqlglot.parser, "__file__", "")).endswith((".so", ".pyd"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--per-file", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--set", choices=("both", "digits", "letters"), default="both", help="which set to measure"
    )
    args = ap.parse_args()
    generated = generate(args.files, args.per_file)
    sets = {
        "digits": ("names built from numbers", generated),
        "letters": ("the same names in letters only", [without_digits(s) for s in generated]),
    }
    for key, (label, scripts) in sets.items():
        if args.set in ("both", key):
            measure(scripts, label, args.rounds)
    return 0


def measure(scripts: list[str], label: str, rounds: int) -> None:
    """Translate ``scripts`` and transpile their statements, alternately, ``rounds`` times;
    print each side's best CPU time."""
    statements = [st.text for s in scripts for st in split_statements(s)]
    n = len(statements)

    def bare() -> float:
        started = time.process_time()
        for text in statements:
            sqlglot.transpile(text, read="sqlite", write="postgres")
        return time.process_time() - started

    found = {"errors": 0, "notes": 0}

    def ours() -> float:
        state = SchemaState()
        started = time.process_time()
        errors = notes = 0
        for i, script in enumerate(scripts):
            ft = translate_script(script, f"{i:05d}.sql", state)
            errors += len(ft.errors)
            notes += len(ft.findings) - len(ft.errors)
        took = time.process_time() - started
        state.close()
        found.update(errors=errors, notes=notes)
        return took

    # The machine is shared: CPU time of this process, runs alternate, each side keeps its best.
    t_bare = t_ours = float("inf")
    for _ in range(rounds):
        t_bare = min(t_bare, bare())
        t_ours = min(t_ours, ours())
    errors, notes = found["errors"], found["notes"]

    compiled = ", compiled sqlglotc" if _compiled() else ", pure Python"
    print_table(
        f"Translation of {n:,} generated statements in {len(scripts)} files, {label}",
        ["what", "time", "statements/s", "findings"],
        [
            (
                f"sqlglot.transpile only (no rewrites{compiled})",
                f"{t_bare:.2f} s",
                f"{n / t_bare:,.0f}",
                "",
            ),
            (
                "malnu-tui translate_script",
                f"{t_ours:.2f} s",
                f"{n / t_ours:,.0f}",
                f"{errors} errors, {notes} notes",
            ),
            ("  ratio to bare sqlglot", f"{t_ours / t_bare:.2f}×", "", ""),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
