"""What psql and pg_restore print of a failure, as the tool may show it: the values of rows
their messages quote (a key's, a refused row's, COPY's line) masked, in the server's language
or another; and which of a dump's tables a message is about (:class:`DumpTables`, read from
the SQL a restore pipes into psql: psql's words name an index or nothing, and Laravel's
``sessions.id`` is a secret by its table's shape, not its name)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DumpTables", "ServerError", "server_error", "terse", "tool_text_masked"]

# psql with VERBOSITY=verbose (the restore runs it so) says the error's SQLSTATE after its
# severity (``FEHLER:  55P03: storniere Anfrage …``) and its fields on lines of their own, in
# the client's words (English): what the restore reads, whatever the server's language.
_CODE = re.compile(
    r"^(?P<head>(?:psql:\S*: )?(?!DETAIL|HINT|QUERY|CONTEXT|STATEMENT|LOCATION)[^\s:]+:  )"
    r"(?P<code>[0-9A-Z]{5}): (?P<message>.*)$",
    re.M,
)
_FIELD = re.compile(
    r"^(?P<field>SCHEMA NAME|TABLE NAME|COLUMN NAME|DATATYPE NAME|CONSTRAINT NAME|LOCATION):  "
    r"(?P<value>.*)\n?",
    re.M,
)


@dataclass(frozen=True)
class ServerError:
    """The first error in psql's verbose text, by its fields: its SQLSTATE, its primary
    message (the server's words: read for names, never shown from here), the table, schema
    and constraint it names (empty where the error has none), and where in the server's
    source it was raised (``get_role_oid, acl.c:5201``: the function's name, in no language)."""

    sqlstate: str
    message: str
    schema: str = ""
    table: str = ""
    constraint: str = ""
    location: str = ""


# SQLSTATE classes of messages that are no error: 00 (a NOTICE's 00000), 01 (a WARNING's:
# ``no privileges were granted for …``, 01007), 02 (no data).
_NOT_ERRORS = ("00", "01", "02")


def server_error(text: str) -> ServerError | None:
    """The first error of ``text`` (psql's, run with VERBOSITY=verbose); None without one.
    A WARNING before it (its severity in the server's words: ``WARNUNG``) is passed over by
    its SQLSTATE's class."""
    m = _CODE.search(text)
    while m is not None and m["code"].startswith(_NOT_ERRORS):
        m = _CODE.search(text, m.end())
    if m is None:
        return None
    nxt = _CODE.search(text, m.end())
    fields = {
        f["field"]: f["value"].strip()
        for f in _FIELD.finditer(text, m.end(), nxt.start() if nxt else len(text))
    }
    return ServerError(
        m["code"],
        m["message"].strip(),
        fields.get("SCHEMA NAME", ""),
        fields.get("TABLE NAME", ""),
        fields.get("CONSTRAINT NAME", ""),
        fields.get("LOCATION", ""),
    )


def terse(text: str) -> str:
    """psql's verbose ``text`` as it prints by default: without the SQLSTATE after the
    severity and the field lines (the restore's one line reads as before)."""
    return _FIELD.sub("", _CODE.sub(r"\g<head>\g<message>", text))


# A part of a message in the tools' output: a tool's line (``psql:<stdin>:12: ERROR:  …``,
# ``pg_restore: error: …``) or one of libpq's labelled lines, in the client's language
# (``DETAIL:  ``, ``DÉTAIL : ``, ``ПОДРОБНОСТИ:  ``); any other line goes on the part before
# it (the echoed statement, a value's newline). The server's words are in its lc_messages.
_PART = re.compile(r"^(?=(?:psql|pg_restore|pg_dump):|[^\s:]+ ?: )", re.M)
_TOOL_LINE = re.compile(r"(?:psql|pg_restore|pg_dump):")
_LABEL = re.compile(r"(?P<label>[^\s:]+) ?: +")
_ENGLISH_LABELS = frozenset({"HINT", "QUERY", "CONTEXT", "LOCATION", "STATEMENT"})
# A detail that is one parenthesised list and words around it: a refused row in any language
# ("Fehlgeschlagene Zeile enthält (1, …).", "失敗した行は(1, …)を含みます").
_ROW_SHAPE = re.compile(r"[^()]*\(.*\)[^()]*", re.DOTALL)
# COPY's context quoting the row (or a column's value) being loaded ("行 2" in Chinese), in
# the server's quotes ("…", German »…«).
_COPY_ROW = re.compile(r"(?P<at>\bCOPY [^,\n]+, \S+ \d+(?:, \S+ (?P<col>[^:\n]+))?): .*$", re.M)


def _row_detail(label: str, body: str, after_tool_line: bool) -> bool:
    """Whether a labelled part's ``body`` is the refused row's values: "Failing row contains
    (…)"; or, in another language, a DETAIL (the first labelled part after the tool's line,
    where the client's language names it otherwise) of one parenthesised list, no key's."""
    from malnu_tui.engine.secrets import is_failing_row, names_key

    if is_failing_row(body):
        return True
    if label != "DETAIL" and (label in _ENGLISH_LABELS or not after_tool_line):
        return False
    return _ROW_SHAPE.fullmatch(body) is not None and not names_key(body)


def _parts(text: str) -> list[str]:
    """``text`` in its parts (:data:`_PART`). A line of a value that looks like a label
    (a school's notes: ``Ibu: Siti``) goes on the part before it: libpq's labels in Latin,
    Greek and Cyrillic letters are capitals (``DETAIL``, ``DÉTAIL``, ``ПОДРОБНОСТИ``; other
    scripts' are taken as labels: Georgian's ``დეტალი`` has no capitals of its own), and a
    labelled part whose parentheses are not closed (a key's or a row's values) takes every
    line up to the tool's next line."""
    parts: list[str] = []
    for piece in _PART.split(text):
        label = None if _TOOL_LINE.match(piece) else _LABEL.match(piece)
        if parts and label is not None:
            before = parts[-1]
            open_values = not _TOOL_LINE.match(before) and before.count("(") > before.count(")")
            if open_values or _lower_case(label["label"]):
                parts[-1] += piece
                continue
        parts.append(piece)
    return parts


def _lower_case(label: str) -> bool:
    """Whether ``label`` has a small letter of the Latin, Greek or Cyrillic alphabets."""
    return any(c.islower() and c < "\u0530" for c in label)


def tool_text_masked(text: str, tables: DumpTables | None = None, named: str = "") -> str:
    """psql's or pg_restore's ``text`` with what it quotes of the rows masked, in the server's
    language or another: a secret column's values in ``Key (remember_token)=(…)``
    (:func:`.secrets.masked_detail`), the refused row ("Failing row contains (…)": the
    table's columns are not known here) and COPY's ``line 2: "…"`` left out, a column's
    value kept only when it holds no secret. ``tables``: the dump's, whose shapes make
    secrets of columns their names do not (a key's ``(id)=(…)`` of Laravel's sessions, told
    by the table or index the message's other lines name, or ``named``: the error's table)."""
    from malnu_tui.engine.secrets import masked_detail, names_key, secret_column

    pieces = _parts(text)
    parts, after_tool_line = [], False
    for i, part in enumerate(pieces):
        label = None if _TOOL_LINE.match(part) else _LABEL.match(part)
        body = part[label.end() :] if label else part
        if label and _row_detail(label["label"], body.rstrip("\n"), after_tool_line):
            end = body.rstrip("\n")
            shown = masked_detail(end, row_unknown=True, is_row=True) + body[len(end) :]
            parts.append(part[: label.end()] + shown)
        elif tables is not None and names_key(part):
            around = "".join(pieces[max(i - 1, 0) : i]) + "".join(pieces[i + 1 : i + 2])
            around = f"{named} {around}" if named else around
            parts.append(masked_detail(part, tables.columns_named_in(around)))
        else:
            parts.append(masked_detail(part))
        after_tool_line = bool(_TOOL_LINE.match(part))
    text = "".join(parts)

    hidden: list[str] = []

    def row(m: re.Match[str]) -> str:
        if tables is not None and m["col"] is not None:
            shown = not tables.secret_in(m["at"])(m["col"])
        else:
            shown = m["col"] is not None and not secret_column(m["col"])
        if shown:
            return m[0]
        if m["col"] is not None:
            hidden.append(m[0][len(m["at"]) + 2 :])
        return f"{m['at']}: (not shown)"

    text = _COPY_ROW.sub(row, text)
    for quoted in hidden:  # the column's value quoted by the error itself too (22P02's
        # ``invalid input syntax for type uuid: "…"``), cut at 100 characters in the context
        value = _QUOTED.sub(r"\g<value>", quoted.strip())
        if len(value) >= 4:
            text = re.sub(rf"{re.escape(value)}[^\"»«\n]*", "(not shown)", text)
    return text


# A value as the server quotes it ("…", »…«, „…“), and PostgreSQL's cut at 100 characters.
_QUOTED = re.compile(r"^\W(?P<value>.*?)(?:\.\.\.)?\W$", re.DOTALL)


# The statements of pg_restore's SQL that say a table's columns and its keys' names, as
# pg_dump writes them (names quoted where they must be: ``public."Data Siswa"``).
_NAME = r'(?:"(?:[^"]|"")*"|[^\s".(),;]+)'
_QNAME = rf"{_NAME}(?:\.{_NAME})?"
_STATEMENTS = (
    (b"\nCOPY ", re.compile(rf"COPY (?P<table>{_QNAME}) \((?P<cols>[^\n]*)\) FROM stdin;")),
    (
        b"\nALTER TABLE ",
        re.compile(
            rf"ALTER TABLE (?:ONLY )?(?P<table>{_QNAME})\n +ADD CONSTRAINT (?P<index>{_NAME}) "
            r"(?:PRIMARY KEY|UNIQUE|EXCLUDE)"
        ),
    ),
    (
        b"\nCREATE UNIQUE INDEX ",
        re.compile(rf"CREATE UNIQUE INDEX (?P<index>{_NAME}) ON (?:ONLY )?(?P<table>{_QNAME}) "),
    ),
)
# A COPY's rows end at a line ``\.``: the rows between are data, never read for statements (a
# row whose first value is SQL text, ``CREATE UNIQUE INDEX sessions_pkey ON …``, is a row).
_COPY_END = b"\n\\.\n"
_TAIL = 1 << 16  # a statement cut by a chunk's end is read again (a longer line: passed over)


def _unquoted(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _bare(qualified: str) -> str:
    """A table's name without its schema (``public."Data Siswa"`` → ``Data Siswa``)."""
    return _unquoted(re.findall(_NAME, qualified)[-1])


class DumpTables:
    """The tables of the SQL a restore runs (fed to it chunk by chunk as it goes to psql):
    each table's columns (its ``COPY … (cols) FROM stdin;``) and the names of its keys
    (``ADD CONSTRAINT``, ``CREATE UNIQUE INDEX``), which psql's messages name. Reading a
    chunk looks for three words, not at every line, and passes over a COPY's rows to their
    ``\\.`` (a dump is mostly rows; a row is never read as a statement). It holds no more of
    the dump than a chunk and a cut line."""

    def __init__(self) -> None:
        self.columns: dict[str, tuple[str, ...]] = {}  # a table's (bare) name → its columns
        self.keys: dict[str, str] = {}  # a key's (index's, constraint's) name → its table
        self._tail = b"\n"  # (what of the last chunk is read again with the next)
        self._in_rows = False  # (within a COPY's rows)

    def feed(self, chunk: bytes) -> None:
        buf, at = self._tail + chunk, 0
        nexts = [-2] * len(_STATEMENTS)  # each word's next place from at (-1: none; -2: not
        # looked for yet: a chunk of rows alone is read for their end, not the three words)
        while True:
            if self._in_rows:  # (a COPY's rows: passed over to their end)
                end = buf.find(_COPY_END, at)
                if end < 0:
                    self._tail = buf[-(len(_COPY_END) - 1) :]
                    return
                at, self._in_rows = end + len(_COPY_END) - 1, False
            for i, (word, _) in enumerate(_STATEMENTS):
                if nexts[i] != -1 and nexts[i] < at:
                    nexts[i] = buf.find(word, at)
            found = [(pos, i) for i, pos in enumerate(nexts) if pos >= 0]
            if not found:
                line = buf.rfind(b"\n", at)  # (a statement's word may start the cut line)
                self._tail = buf[line:] if line >= 0 and len(buf) - line <= _TAIL else b""
                return
            pos, i = min(found)
            word, statement = _STATEMENTS[i]
            stop = pos
            for _ in range(1 + (word == b"\nALTER TABLE ")):  # (its ADD on the next line)
                stop = buf.find(b"\n", stop + 1) if stop >= 0 else -1
            if stop < 0:  # (read again with the next chunk; a line longer than _TAIL: not)
                self._tail = buf[pos:] if len(buf) - pos <= _TAIL else b""
                return
            line_read = buf[pos + 1 : stop]
            m = statement.match(line_read.decode("utf-8", "replace"))
            if m is not None:
                self._read(m)
            if word == b"\nCOPY " and line_read.rstrip(b"\r").endswith(b" FROM stdin;"):
                at, self._in_rows = stop, True
            else:
                at = pos + 1

    def _read(self, m: re.Match[str]) -> None:
        table = _bare(m["table"])
        if "cols" in m.groupdict():
            names = re.findall(_NAME, m["cols"])
            self.columns.setdefault(table, tuple(_unquoted(n) for n in names))
        else:
            self.keys.setdefault(_unquoted(m["index"]), table)

    def columns_named_in(self, text: str) -> tuple[str, ...]:
        """The columns of the table ``text`` (a message's lines) names, by its name or a key's
        (``»sessions_pkey«``, ``COPY sessions, Zeile 2``); where it names none of the dump's,
        the columns of every table whose shape makes a secret (Laravel's sessions: its id is
        masked, told from no other table's)."""
        from malnu_tui.engine.secrets import secret_by_shape

        for name, table in self.keys.items():
            if name in text and re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text):
                return self.columns.get(table, ())
        # A table by the first of their names in the text: COPY's context names its own first
        # (``COPY sessions, line 2, column id``: a table named "line" or "column" is not it).
        at = {}
        for table in self.columns:
            if table in text and (m := re.search(rf"(?<![\w$]){re.escape(table)}(?![\w$])", text)):
                at[table] = m.start()
        if at:
            return self.columns[min(at, key=lambda t: (at[t], -len(t)))]
        shaped = (cols for cols in self.columns.values() if secret_by_shape(cols))
        return tuple(dict.fromkeys(c for cols in shaped for c in cols))

    def secret_in(self, text: str) -> Callable[[str], bool]:
        """:func:`.secrets.secret_in` of the table ``text`` names (:meth:`columns_named_in`)."""
        from malnu_tui.engine.secrets import secret_in

        return secret_in(self.columns_named_in(text))
