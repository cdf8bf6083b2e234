"""Split SQL scripts into statements, the way SQLite (and psql) read them.

Handles quoted strings and identifiers holding ``;``, ``--`` and ``/* */`` comments, CRLF line
endings, and ``CREATE TRIGGER … BEGIN … END;`` bodies (whose inner ``;`` do not end the
statement: it ends where SQLite's own ``sqlite3_complete`` ends it, :data:`COMPLETE`); and
``$$`` bodies, ``E'…\\'…'`` strings, ``BEGIN ATOMIC … END`` function bodies and ``COPY … FROM
stdin;`` data blocks (up to the ``\\.`` line). Where the two dialects read a file differently,
the file's dialect decides, as psql and the sqlite3 shell do: PostgreSQL nests ``/* /* */ */``
comments, does not end a statement at a ``;`` inside parentheses (``CREATE RULE … DO INSTEAD
(a; b)``), has no ``[…]``/`` `…` `` quoting and no trigger bodies, and a line starting with
``\\`` where a statement would start is a psql meta-command (``\\restrict``).
The seed template's own transaction control and tracking statements are recognised in
:mod:`malnu_tui.engine.sqltemplate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from malnu_tui.engine.lazy import cached
from malnu_tui.engine.sqlite_complete import (
    COMPLETE,
    IN_TRIGGER,
    KEYWORDS,
    NORMAL,
    NOT_BLANK,
    OTHER,
    OTHER_MATTERS,
    SEMI,
    START,
    TRIGGER_SEMI,
    word_kind,
)
from malnu_tui.engine.sqltokens import (
    COPY_STDIN,
    DOLLAR_TAG,
    FAST_RUN,
    FAST_RUN_PG,
    IDENT_RUN,
    INNERMOST,
    LEAD,
    PLAIN_RUN,
    PLAIN_RUN_PG,
    SIMPLE_NOISE,
    SIMPLE_PIECE,
    TRIGGER_TOKEN,
    WORD,
    comment_end,
    escape_string_end,
    ident_char,
    is_routine,
    quote_end,
)

__all__ = [
    "SplitError",
    "Statement",
    "line_ends",
    "split_lf",
    "split_prefix",
    "split_statements",
    "strip_comments",
]


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a file: its text (no trailing ``;``) and 1-based first line."""

    text: str
    line: int
    copy_data: str | None = None  # the rows after ``COPY … FROM stdin;`` (text format)

    @cached
    def first_words(self) -> str:
        """The statement's leading keywords, upper-cased, comments removed (for classifying)."""
        text = _strip_comments(self.text)
        words = WORD.findall(text, 0, 64)  # five words found: the first four are whole
        if len(words) < 5 and len(text) > 64:
            words = WORD.findall(text)
        return " ".join(words[:4]).upper()

    def as_script(self) -> str:
        """The statement as a script for psql or the sqlite3 shell writes it (``up --dry-run``,
        previews): its ``;`` on a line of its own when its last line holds ``--`` (a trailing
        comment swallowed it, and the next statement with it), and a ``COPY … FROM stdin``'s
        rows after it up to ``\\.`` (they were left out: psql read the next statements as
        rows). Ends with a line end."""
        text = self.text
        last = text[text.rfind("\n") + 1 :]
        # (a -- in a string of the last line is no comment: read from the statement's start;
        # but a $$ quote, an E'' escape or a [ is read there as a plain quote, which took the
        # -- after $$Jum'at$$ or E'O\'Brien' for quoted text and hid the ; in it: with one of
        # them the ; goes on a line of its own, which reads the same wherever the -- is)
        commented = "--" in last and (
            any(c in text for c in "$\\[") or not _strip_comments(text).endswith(last)
        )
        end = "\n;\n" if commented else ";\n"
        if self.copy_data is None:
            return text + end
        return f"{text}{end}{self.copy_data}\\.\n"


def strip_comments(sql: str) -> str:
    """``sql`` without ``--`` and ``/* */`` comments (quoted text kept as it is)."""
    return _strip_comments(sql)


def _strip_comments(sql: str) -> str:
    if "--" not in sql and "/*" not in sql:
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif ch == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch in "'\"`[":
            end = quote_end(sql, i)
            out.append(sql[i:end])
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class SplitError(ValueError):
    """The script cannot be split: an unterminated string, comment or trigger body."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# The simple script fast path (most migration files): only ``--`` comments, plain '…' strings
# and ``;`` matter when there is no other quote, ``$``, block comment, backslash (E'…' strings
# then end where '…' ones do) and no word that may open a routine body or a COPY data block
# (:func:`_is_simple`). A piece that holds the word TRIGGER (whose body may hold ``;``) is
# read by the full scanner, from the piece's start to its statement's end.
def _is_simple(sql: str) -> bool:
    if '"' in sql or "`" in sql or "[" in sql or "$" in sql or "\\" in sql or "/*" in sql:
        return False
    upper = sql.upper()  # as the full scanner reads words (and COPY's STDIN, case-blind)
    return not any(w in upper for w in ("FUNCTION", "PROCEDURE", "STDIN"))


def _split_simple(
    sql: str, pg: bool = False, ends: Ends | None = None, line: int = 1
) -> list[Statement] | None:
    """:func:`split_statements` of a simple script (see :func:`_is_simple`), or None when the
    script needs the full scanner (it also reports the errors)."""
    statements = _simple_pieces(sql, pg, ends, line)
    if pg and statements is not None:
        # A ``;`` inside parentheses ends nothing in PostgreSQL: a piece whose parentheses
        # (outside strings and comments) do not balance is read by the full scanner.
        for st in statements:
            body = SIMPLE_NOISE.sub("", st.text) if "'" in st.text or "--" in st.text else st.text
            if body.count("(") != body.count(")"):
                return None
            while "(" in body:  # each pass drops the innermost pairs: a ")(" stays
                inner = INNERMOST.sub("", body)
                if len(inner) == len(body):
                    return None
                body = inner
    return statements


def _simple_pieces(
    sql: str, pg: bool, ends: Ends | None = None, line: int = 1
) -> list[Statement] | None:
    statements: list[Statement] = []
    seg = 0  # where the current piece starts (after the last ``;``), on line ``line``
    # Where the word TRIGGER may be (upper-cased as the full scanner reads words; an ASCII
    # text keeps its offsets when upper-cased). PostgreSQL's triggers have no body.
    upper = sql.upper() if sql.isascii() else None
    if pg or (upper is not None and "TRIGGER" not in upper):
        upper = ""
    n = len(sql)
    while True:
        end = SIMPLE_PIECE.match(sql, seg).end()  # type: ignore[union-attr]
        if end >= n:
            break
        if sql[end] == "'":
            return None  # unterminated string: the full scanner says where
        start = LEAD.match(sql, seg, end).end()  # type: ignore[union-attr]
        if start < end:
            if (
                upper.find("TRIGGER", start, end) >= 0
                if upper is not None
                else "TRIGGER" in sql[start:end].upper()
            ):
                fast = _trigger_statement(sql, seg, line) if upper is not None else None
                got, after = ([fast[0]], fast[1]) if fast else _scan(sql, seg, line, one=True)
                statements.extend(got)
                line += sql.count("\n", seg, after)
                seg = after
                # (a trigger's ``; END`` at the text's end ends it without a ``;`` of its own)
                if ends is not None and (after < n or sql.endswith(";")):
                    ends.append((seg, len(statements)))
                continue
            statements.append(Statement(sql[start:end].strip(), line + sql.count("\n", seg, start)))
        line += sql.count("\n", seg, end)
        seg = end + 1
        if ends is not None:
            ends.append((seg, len(statements)))
    start = LEAD.match(sql, seg).end()  # type: ignore[union-attr]
    if start < len(sql):
        if not pg and "TRIGGER" in sql[start:].upper():
            statements.extend(_scan(sql, seg, line, one=True)[0])
        else:
            statements.append(Statement(sql[start:].strip(), line + sql.count("\n", seg, start)))
    return statements


def _trigger_statement(sql: str, seg: int, line: int) -> tuple[Statement, int] | None:
    """``_scan(sql, seg, line, one=True)`` of a simple ASCII script (see :func:`_is_simple`):
    the statement from ``seg`` (on line ``line``) and where it ends, read as the full scanner
    reads it (SQLite's rule for a ``CREATE TRIGGER``'s end: COMPLETE); None when the full
    scanner must say (no ``;`` ends it, an unterminated string)."""
    start = LEAD.match(sql, seg).end()  # type: ignore[union-attr]
    state = START
    complete, keywords = COMPLETE, KEYWORDS
    for m in TRIGGER_TOKEN.finditer(sql, start):
        token = m[0]
        first = token[0]
        if first == ";":
            state = complete[state][SEMI]
            if state == START:
                text = sql[start : m.start()].strip()
                return Statement(text, line + sql.count("\n", seg, start)), m.end()
            continue
        if first == "'":
            if len(token) == 1:
                return None
            kind = OTHER
        elif first == "-" and token.startswith("--"):
            continue
        else:  # (ASCII: a word token is the whole of SQLite's word, and a keyword's spelling)
            kind = keywords.get(token.upper(), OTHER)
        state = complete[state][kind]
    return None


def split_statements(sql: str, dialect: str = "sqlite") -> list[Statement]:
    """Split ``sql``, written in ``dialect`` (``"sqlite"`` or ``"postgresql"``), into
    statements; empty and comment-only pieces are dropped.

    Raises :class:`SplitError` (with the line) for an unterminated quote or block comment,
    a ``CREATE TRIGGER`` whose ``BEGIN`` has no ``END``, or (PostgreSQL) a ``(`` never closed.
    """
    return split_lf(line_ends(sql), dialect)


def split_lf(sql: str, dialect: str = "sqlite", line: int = 1) -> list[Statement]:
    """:func:`split_statements` of ``sql`` whose line ends are already as the file's are read
    (:func:`line_ends` of the whole file)."""
    pg = dialect == "postgresql"
    if _is_simple(sql):
        simple = _split_simple(sql, pg, None, line)
        if simple is not None:
            return simple
    return _scan(sql, 0, line, pg=pg)[0]


# (where a statement ended: the offset just past its ``;``, and how many statements so far)
Ends = list[tuple[int, int]]


def split_prefix(sql: str, dialect: str = "sqlite", line: int = 1) -> tuple[list[Statement], int]:
    """The statements of ``sql`` (the start of a longer text, as :func:`split_lf` reads it)
    that end with a ``;`` of their own, and the offset just past the last one (0: none
    does): the rest of the text reads from there as a text of its own (the scanner's state
    is fresh after a statement's ``;``), so a large file is split piece by piece exactly as
    whole. What the cut leaves unfinished (a string, a trigger body) is not an error here."""
    pg = dialect == "postgresql"
    ends: Ends = []
    got: list[Statement] | None = None
    try:
        if _is_simple(sql):
            got = _split_simple(sql, pg, ends, line)
            if got is None:
                ends.clear()
        if got is None:
            got = _scan(sql, 0, line, pg=pg, ends=ends)[0]
    except SplitError:
        got = None
    if not ends:
        return [], 0
    end, count = ends[-1]
    if got is None:  # cut in something unfinished: the part before it is whole
        got = split_lf(sql[:end], dialect, line)
    return got[:count], end


def _split_full(sql: str, pg: bool = False) -> list[Statement]:
    """The full scanner behind :func:`split_statements` (``sql`` has LF line ends)."""
    return _scan(sql, 0, 1, pg=pg)[0]


def line_ends(text: str) -> str:
    """``text`` with LF line ends: a Windows file's CRLF (every line ends so) and a classic Mac
    file's CR become LF. In a file whose lines end in LF a CR is text, kept: pg_dump
    ``--inserts`` writes a value's CR LF (a browser's textarea sends them) raw inside its quotes,
    and folding it stored another value."""
    if "\r" not in text:
        return text
    if "\n" not in text:
        return text.replace("\r", "\n")
    if text.count("\n") == text.count("\r\n"):
        return text.replace("\r\n", "\n")
    return text


def _scan(
    sql: str, pos: int, line: int, *, one: bool = False, pg: bool = False, ends: Ends | None = None
) -> tuple[list[Statement], int]:
    """The full scanner from ``pos`` (a statement's start, on line ``line``): the statements
    up to the text's end, or with ``one`` up to the first statement's end; and where it
    stopped. ``pg``: read as psql does (see the module's docstring)."""
    plain_run, fast_run = (PLAIN_RUN_PG, FAST_RUN_PG) if pg else (PLAIN_RUN, FAST_RUN)
    quotes = "'\"" if pg else "'\"`["
    paren = paren_line = 0  # PostgreSQL: ( … ) nesting, and where the outermost opened
    statements: list[Statement] = []
    n = len(sql)
    i = pos
    start = pos
    start_line = line
    # The first words of the current statement (upper-cased), for a routine's body.
    words: list[str] = []
    prev_word = ""
    depth = 0  # BEGIN ATOMIC … END nesting inside CREATE FUNCTION|PROCEDURE
    state = START  # SQLite: where COMPLETE is (a CREATE TRIGGER ends at ; END ;)
    case_depth = 0
    has_content = False
    fast = False  # a plain statement past its first words: see FAST_RUN

    def flush(end: int, copy_data: str | None = None) -> None:
        nonlocal has_content
        text = sql[start:end].strip()
        if has_content and text:
            statements.append(Statement(text=text, line=start_line, copy_data=copy_data))
        has_content = False

    while i < n:
        if fast:
            m = fast_run.match(sql, i)
            if m is not None:
                line += sql.count("\n", i, m.end())
                i = m.end()
                if i >= n:
                    break
        ch = sql[i]
        if ch == "\n":
            line += 1
            i += 1
            continue
        if ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "/" and sql.startswith("/*", i):
            j = comment_end(sql, i, pg)
            if j < 0:
                raise SplitError("unterminated /* comment", line)
            line += sql.count("\n", i, j)
            i = j
            continue
        if pg and ch == "\\" and not has_content:
            # A psql meta-command (pg_dump's \restrict): the rest of its line, for the
            # caller to judge (it is not SQL the server can run).
            j = sql.find("\n", i)
            j = n if j < 0 else j
            statements.append(Statement(sql[i:j].rstrip(), line))
            i = j
            if one:
                return statements, i
            continue
        if not has_content and not ch.isspace() and ch != "\ufeff":
            has_content = True
            start = i
            start_line = line
        if ch == "$":
            m = DOLLAR_TAG.match(sql, i)
            if m:  # PostgreSQL dollar quoting: $$ … $$ or $tag$ … $tag$ (function bodies)
                close = sql.find(m.group(0), m.end())
                if close < 0:
                    raise SplitError(f"unterminated {m.group(0)} quoted body", line)
                end = close + len(m.group(0))
                line += sql.count("\n", i, end)
                i = end
                state = COMPLETE[state][OTHER]
                continue
        if ch in "eE" and sql.startswith("'", i + 1) and (i == 0 or not ident_char(sql[i - 1])):
            end = escape_string_end(sql, i + 1)
            if end > n:
                raise SplitError("unterminated E'…' string", line)
            line += sql.count("\n", i, end)
            i = end
            state = COMPLETE[state][OTHER]
            continue
        if ch in quotes:
            end = quote_end(sql, i)
            if end > n:
                raise SplitError(f"unterminated quoted text starting with {ch}", line)
            line += sql.count("\n", i, end)
            i = end
            state = COMPLETE[state][OTHER]
            continue
        if ch.isalpha() or ch == "_":
            m = IDENT_RUN.match(sql, i)
            j = m.end() if m else i + 1
            word = sql[i:j].upper()
            if len(words) < 12:
                words.append(word)
                if len(words) == 4:
                    fast = not is_routine(words) and (pg or state == NORMAL)
            if is_routine(words):  # BEGIN ATOMIC … END
                if word == "ATOMIC" and prev_word == "BEGIN":
                    depth += 1
                elif depth and word == "CASE":
                    case_depth += 1
                elif depth and word == "END":
                    if case_depth:
                        case_depth -= 1
                    else:
                        depth -= 1
            prev_word = word
            if not pg and not fast:  # (PostgreSQL's triggers have no body)
                kind = KEYWORDS.get(word, OTHER)
                state = COMPLETE[state][kind if kind == OTHER else word_kind(sql, i, j)]
                # No trigger now (NORMAL lasts to the ;), nor a routine but after CREATE.
                fast = state == NORMAL and words[0] != "CREATE"
            i = j
            continue
        if pg and ch in "()":
            if ch == "(":
                paren += 1
                paren_line = paren_line if paren > 1 else line
            elif paren:
                paren -= 1
            i += 1
            continue
        if pg and ch == "\\":  # not SQL outside quotes: psql's (\gexec, \gset, \g)
            command = sql[i:].split(None, 1)[0]
            raise SplitError(
                f"psql meta-command '{command}' inside a statement is not SQL: the tool sends "
                "statements to the server, not through psql (write plain SQL: for \\gexec, a "
                "DO block that EXECUTEs each generated statement)",
                line,
            )
        if ch == ";" and not pg:
            state = COMPLETE[state][SEMI]
        if ch == ";" and depth == 0 and paren == 0 and (pg or state == START):
            text = sql[start:i]
            if has_content and COPY_STDIN.match(text):
                # The data follows on the next line, up to a line holding only "\.".
                nl = sql.find("\n", i)
                begin = n if nl < 0 else nl + 1
                stop = sql.find("\n\\.", begin - 1)
                while stop >= 0 and sql[stop + 3 : stop + 4] not in ("", "\n", "\r"):
                    stop = sql.find("\n\\.", stop + 1)
                if stop < 0:
                    raise SplitError("COPY … FROM stdin: no \\. line ends its data", start_line)
                data = sql[begin : stop + 1]
                flush(i, data)
                line += sql.count("\n", i, stop + 3)
                words, prev_word, case_depth, fast, state = [], "", 0, False, START
                i = start = stop + 3
                if ends is not None:
                    ends.append((i, len(statements)))
                if one:
                    return statements, i
                continue
            flush(i)
            if one:
                return statements, i + 1
            if ends is not None:
                ends.append((i + 1, len(statements)))
            fast = False
            words = []
            prev_word = ""
            case_depth = 0
            start = i + 1
            i += 1
            continue
        # Plain characters (digits, punctuation, blanks) inside a statement: skip the run.
        m = plain_run.match(sql, i + 1) if has_content else None
        j = m.end() if m else i + 1
        if state in OTHER_MATTERS and ch != ";" and NOT_BLANK.search(sql, i, j):
            state = COMPLETE[state][OTHER]
        i = j
    if paren:
        raise SplitError("a ( is never closed (a ; inside parentheses ends nothing)", paren_line)
    if depth:
        raise SplitError("a BEGIN … END body (trigger or function) has no END", start_line)
    if has_content and state in (IN_TRIGGER, TRIGGER_SEMI):
        raise SplitError(
            "a CREATE TRIGGER has no END; after its body (each statement in it ends with ;, "
            "then END;)",
            start_line,
        )
    flush(n)
    return statements, n
