"""A PostgreSQL dump's table of contents, read once (:func:`toc`): each ``pg_restore --list``
line as it is (what ``--use-list`` reads) with its type, schema, name and owner.

pg_restore prints ``ID; OID OID TYPE SCHEMA NAME OWNER`` with the names unquoted: a schema, a
table or an owner whose name holds a space (a school's ``"Data Sekolah"``, an owner ``"tata
usaha"``) cannot be told from the next word. Split on spaces, such entries were misread (kept or
dropped wrongly by a restore, notes naming the wrong object). Each entry's header in pg_restore's
own SQL output (``-- TOC entry ID …`` then ``-- Name: …; Type: …; Schema: …; Owner: …``, of a
``--schema-only`` run: no rows) names the same parts apart; the two together split the line.
Data entries (``TABLE DATA``, ``SEQUENCE SET``), which that run leaves out, name what their
definition's entry does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from malnu_tui.engine.backup.pg_tools import TOC_LINE, PgTools, read_dump

__all__ = ["TocLine", "entry", "sections", "superuser_only", "toc"]

_ENTRY = re.compile(r"^-- TOC entry (\d+) \(class \d+ OID \d+\)$", re.MULTILINE)
_NAME = re.compile(r"^-- (?:Data for )?Name: (.*)$", re.MULTILINE)
# The types pg_dump writes, longest first, for a line no header splits (large objects).
_KINDS = sorted(
    (
        "ACL", "BLOB", "BLOBS", "BLOB METADATA", "COMMENT", "CONSTRAINT", "DEFAULT",
        "DEFAULT ACL", "DOMAIN", "EVENT TRIGGER", "EXTENSION", "FK CONSTRAINT", "FUNCTION",
        "INDEX", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "POLICY", "PROCEDURE",
        "SCHEMA", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "STATISTICS DATA", "TABLE",
        "TABLE DATA", "TRIGGER", "TYPE", "VIEW",
    ),
    key=len,
    reverse=True,
)  # fmt: skip


class TocLine(str):
    """A ``pg_restore --list`` line, as it is, with its parts: ``kind`` (``TABLE DATA``),
    ``schema`` (``-`` for none), ``name`` (pg_dump's tag: ``Data Siswa``, ``siswa
    siswa_pkey`` for a constraint, ``TABLE "Data Siswa"`` for a grant), ``owner`` ("" for
    none); ``dump_id`` its number."""

    dump_id: int
    kind: str
    schema: str
    name: str
    owner: str

    def __new__(cls, line: str, parts: tuple[str, str, str, str]) -> TocLine:
        self = super().__new__(cls, line)
        self.dump_id = int(line.split(";", 1)[0])
        self.kind, self.schema, self.name, self.owner = parts
        return self


def sections(sql: str) -> Iterator[tuple[int, str, str]]:
    """(dump id, header's ``Name: …`` text, statements) of each entry of pg_restore's
    ``--verbose`` SQL output."""
    marks = list(_ENTRY.finditer(sql))
    for n, m in enumerate(marks):
        text = sql[m.end() : marks[n + 1].start() if n + 1 < len(marks) else len(sql)]
        name = _NAME.search(text)
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("--"))
        yield int(m[1]), name[1] if name else "", body


def _split(rest: str, header: str) -> tuple[str, str, str, str] | None:
    """(kind, schema, name, owner) of a line's ``rest`` (``TYPE SCHEMA NAME OWNER``) told
    apart by its header (``NAME; Type: TYPE; Schema: SCHEMA; Owner: OWNER[; Tablespace: …]``):
    the one split both agree on."""
    at = header.find("; Type: ")
    while at != -1:
        name, after = header[:at], header[at + len("; Type: ") :]
        kind, _, after = after.partition("; Schema: ")
        if rest.startswith(kind + " "):
            tail = rest[len(kind) + 1 :]  # SCHEMA NAME OWNER
            i = tail.find(f" {name} ")
            while i != -1:
                schema, owner = tail[:i], tail[i + len(name) + 2 :]
                said = "-" if owner == "" else owner
                if after == f"{schema}; Owner: {said}" or after.startswith(
                    f"{schema}; Owner: {said}; Tablespace: "
                ):
                    return kind, schema, name, owner
                i = tail.find(f" {name} ", i + 1)
        at = header.find("; Type: ", at + 1)
    return None


def _words(rest: str) -> tuple[str, str, str, str]:
    """A line no header split: its type, then schema, name, owner as single words; a large
    object's owner whole (``BLOB - 16427 tata usaha``)."""
    kind = next((k for k in _KINDS if rest.startswith(k + " ")), rest.split(" ")[0])
    words = rest[len(kind) + 1 :].split(" ")
    if kind.startswith("BLOB") and len(words) > 2:  # a number (or a range): the rest, owner
        return kind, words[0], words[1], " ".join(words[2:])
    if len(words) < 3:
        return kind, words[0], " ".join(words[1:]), ""
    return kind, words[0], " ".join(words[1:-1]), words[-1]


def read_toc(lines: Sequence[str], sql: str) -> list[str]:
    """``lines`` (``pg_restore --list``), each entry a :class:`TocLine` split by its header in
    ``sql`` (pg_restore's ``--verbose --schema-only`` output), or as its definition's entry
    is (data); comments and blank lines as they are."""
    headers = {dump_id: name for dump_id, name, _ in sections(sql)}
    out: list[str] = []
    parts: dict[int, tuple[str, str, str, str]] = {}
    for line in lines:
        m = TOC_LINE.match(line)
        if m:
            dump_id = int(line.split(";", 1)[0])
            split = _split(m["rest"], headers.get(dump_id, ""))
            if split is not None:
                parts[dump_id] = split
    # What a data entry may name: a defined object, with its owner, or none (PostgreSQL
    # 18's STATISTICS DATA: `STATISTICS DATA Data Sekolah Data Siswa `)
    defined = {f"{s} {n} ": (s, n, "") for _, s, n, _ in parts.values()}
    defined.update({f"{s} {n} {o}": (s, n, o) for _, s, n, o in parts.values()})
    for line in lines:
        m = TOC_LINE.match(line)
        if not m:
            out.append(line)
            continue
        split = parts.get(int(line.split(";", 1)[0]))
        if split is None:  # a data entry: TABLE DATA, then what its TABLE entry names
            rest = m["rest"]
            cuts = [i for i, c in enumerate(rest) if c == " " and rest[i + 1 :] in defined]
            split = (rest[: cuts[0]], *defined[rest[cuts[0] + 1 :]]) if cuts else _words(rest)
        out.append(TocLine(line, split))
    return out


def toc(tools: PgTools, path: Path) -> tuple[int, list[str], str]:
    """(pg_restore's exit code, the dump's ``--list`` lines as :class:`TocLine`, its error)."""
    code, out, err = read_dump(tools, ["--list", str(path)])
    if code != 0:
        return code, out.splitlines(), err
    code, sql, err = read_dump(tools, ["--verbose", "--schema-only", "--file=-", str(path)])
    if code != 0:
        return code, [], err
    return 0, read_toc(out.splitlines(), sql), ""


def entry(line: str) -> tuple[str, str, str, str] | None:
    """(kind, schema, name, owner) of a line :func:`toc` read; None for a comment."""
    if isinstance(line, TocLine):
        return line.kind, line.schema, line.name, line.owner
    m = TOC_LINE.match(line)
    return _words(m["rest"]) if m else None


def unquoted(ident: str) -> str:
    """``"Hitung Nilai"`` → ``Hitung Nilai`` (pg_dump quotes names in a grant's or comment's
    tag, not in the object's own)."""
    if len(ident) > 1 and ident[0] == ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    return ident


def superuser_only(conn: Any, listed: Sequence[str]) -> tuple[list[str], str]:
    """``listed`` (``pg_restore --list`` lines) without what only a superuser may create, for
    a session that is none, and what was left out ("" for nothing). Every Supabase project
    has its platform's event triggers (pgrst_ddl_watch, issue_pg_graphql_access…): the project
    role's `rehearse` failed on them (`Must be superuser to create an event trigger`), and its
    `backup verify --deep` marked a sound backup failed. A restore over a live database keeps
    that database's own (their owner's to drop)."""
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        return list(listed), ""
    kept: list[str] = []
    left: list[str] = []
    for line in listed:
        e = entry(line)
        if e is not None and e[0] == "EVENT TRIGGER":
            left.append(e[2])
        elif e is None or not (e[0] == "COMMENT" and e[2].startswith("EVENT TRIGGER ")):
            kept.append(line)
    said = f"event trigger(s) {', '.join(left)}, which only a superuser may create" if left else ""
    return kept, said
