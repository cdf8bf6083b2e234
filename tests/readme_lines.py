"""The README's ``malnu-tui …`` command lines and its ``--json`` field lists, read as an operator
reads them (for ``tests/test_readme_commands.py``): the lines in fenced blocks (``$ `` prompts,
a systemd ``ExecStart=``, a cron line, a CI step), and those in inline code spans, spans read
as CommonMark pairs them (a span may wrap lines; a ````` ``…`…` `` ````` one quotes a message
holding commands)."""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from malnu_tui.cli import COMMANDS

WORDS = {c for names in COMMANDS.values() for c in names}

# One small table of what a README line holds that is not typed as it stands: a regex over the
# line (from ``malnu-tui`` on) and what is done, with why. ``SKIP`` leaves the line unchecked;
# a string replaces the match; a tuple expands the line into one per value.
SKIP = None
PLACEHOLDERS: list[tuple[str, str | tuple[str, ...] | None, str]] = [
    (r"^malnu-tui …$", SKIP, "any command (`sudo -u www-data malnu-tui …`)"),
    (r"^malnu-tui postgresql://", SKIP, "a URL typed where the command goes: refused on purpose"),
    (r"\bCOMMAND\b", tuple(sorted(WORDS)), "`malnu-tui COMMAND --help`: every command"),
    (r"<[^<>]+>", "X", "a named value (`<id>`, `<pre-recover id>`), not a shell redirection"),
    (r"--to TIME\b", "--to -2h", "a time, read as the command reads it"),
]
# Also, by rule rather than by line: `…` standing alone is something elided, a value or
# nothing (the line is accepted when either reading is); `[…]` is optional and `A|B` inside
# it (or in one word, `N|P%`) alternatives: every combination is checked; and in a message
# quoted inline (`the next malnu-tui run on this host`), `malnu-tui` followed by no command
# word and no option is the tool's name, not a command.


@dataclass(frozen=True)
class Line:
    number: int  # the README line where the command starts
    text: str  # from `malnu-tui` on (continuations joined, shell operators and comments kept)
    inline: bool


@dataclass
class ReadmeLines:
    commands: list[Line]  # `malnu-tui …`
    # Inline spans naming a command with an option, without `malnu-tui` (`backup verify
    # --deep`): the words and options must be the command's, its values may be left out.
    prose: list[Line]
    unclosed: list[int]  # lines with a backtick run that closes no span (shown as text)


_FENCED = re.compile(r"(?:^|(?<=\s)|(?<=/))malnu-tui(?=\s|$)")  # not `Description=malnu-tui`
_INLINE = re.compile(r"(?:^|(?<=\s)|(?<=/)|(?<=[(\"']))malnu-tui(?=\s|$)")
_RUN = re.compile(r"`+")


def read_readme(readme: str) -> ReadmeLines:
    lines = readme.split("\n")
    found = ReadmeLines([], [], [])
    paragraph: list[tuple[int, str]] = []
    paragraphs: list[list[tuple[int, str]]] = []
    fenced = False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            paragraphs.append(paragraph)
            paragraph = []
        elif fenced:
            text, follows = line, number
            while text.rstrip().endswith("\\") and follows < len(lines):  # a continuation
                text = text.rstrip()[:-1] + " " + lines[follows].strip()
                follows += 1
            # every command of the line (a cron line's `malnu-tui … && malnu-tui …`)
            found.commands += [
                Line(number, text[m.start() :], False) for m in _FENCED.finditer(text)
            ]
        elif line.strip():
            paragraph.append((number, line))
        else:
            paragraphs.append(paragraph)
            paragraph = []
    paragraphs.append(paragraph)
    for para in filter(None, paragraphs):
        body = "\n".join(text for _, text in para)
        for start, content in _spans(body, 0):
            number = para[0][0] + body.count("\n", 0, start)
            if content is None:
                found.unclosed.append(number)
                continue
            text = " ".join(content.split())
            m = _INLINE.search(content)
            if m is None:
                words = text.split(" ")
                if words[0] in WORDS and any(w.startswith("--") for w in words):
                    found.prose.append(Line(number, f"malnu-tui {text}", inline=True))
                continue
            number += content.count("\n", 0, m.start())
            text = " ".join(content[m.start() :].split())
            if m.start() and not _commandlike(text):
                continue  # the tool's name in a quoted message ("not a malnu-tui operator")
            found.commands.append(Line(number, text, inline=True))
    found.commands.sort(key=lambda line: line.number)
    return found


def _spans(text: str, offset: int, top: bool = True) -> Iterator[tuple[int, str | None]]:
    """(start, content) of the code spans of ``text``, as CommonMark pairs backtick runs (a
    run that closes none: content None; in a span, one is text); a span quoting a message
    with commands in it (````` ``… `malnu-tui unlock` …`` `````) gives those inner spans."""
    pos = 0
    while (opening := _RUN.search(text, pos)) is not None:
        closing = next(
            (c for c in _RUN.finditer(text, opening.end()) if len(c.group()) == len(opening[0])),
            None,
        )
        if closing is None:
            if top:
                yield offset + opening.start(), None
            pos = opening.end()
            continue
        content = text[opening.end() : closing.start()]
        if "`" in content.strip("` "):
            yield from _spans(content, offset + opening.end(), top=False)
        else:
            yield offset + opening.end(), content
        pos = closing.end()


def _commandlike(text: str) -> bool:
    after = text.split(" ")[1:2]
    return not after or after[0] in WORDS or after[0].startswith("-") or after[0] == "…"


def argv_readings(line: Line) -> list[list[list[str]]] | str:
    """The command lines ``line`` stands for: a list of forms (each to be accepted), each a
    list of readings (one to be accepted: `…` as a value or as nothing); or why it is not
    checked (a ``PLACEHOLDERS`` row)."""
    texts = [line.text]
    for pattern, action, why in PLACEHOLDERS:
        if not any(re.search(pattern, t) for t in texts):
            continue
        if action is SKIP:
            return why
        if isinstance(action, tuple):
            texts = [re.sub(pattern, value, t) for t in texts for value in action]
        else:
            texts = [re.sub(pattern, action, t) for t in texts]
    forms: list[list[list[str]]] = []
    for text in texts:
        for words in _optional_forms(_words(text)):
            forms.append(_elided(words))
    return forms


_OR = "\x00"  # `N|P%`: one word, either value
_GROUP_OR = "\x01"  # `[--target NAME …|--all]`: either group of words


def _words(text: str) -> list[str]:
    """The command's words after ``malnu-tui``, as the shell splits them: up to its end (a
    ``#`` comment, ``&&``, ``;``, a pipe, a redirection); a ``|`` in brackets or in a word is
    an alternative, not a pipe."""
    marked, depth = [], 0
    for i, c in enumerate(text):
        depth += {"[": 1, "]": -1}.get(c, 0)
        if c == "|" and depth:
            c = f" {_GROUP_OR} "
        elif c == "|" and text[i - 1 : i].strip() and text[i + 1 : i + 2].strip():
            c = _OR
        marked.append(c)
    lex = shlex.shlex("".join(marked), posix=True, punctuation_chars=";&|<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    words: list[str] = []
    for word in itertools.islice(lex, 1, None):
        if set(word) <= set(";&|<>"):
            if word[:1] in ("<", ">") and words and words[-1].isdigit():
                words.pop()  # `2>&1`, `2>>log`: the descriptor of a redirection
            break
        words.append(word)
    return words


def _optional_forms(words: list[str]) -> list[list[str]]:
    """``[--json]`` present and absent, ``[--target NAME …|--all]`` each way, ``N|P%`` each."""
    if "[" not in " ".join(words):
        return [list(form) for form in itertools.product(*[w.split(_OR) for w in words])]
    start = next(i for i, w in enumerate(words) if w.startswith("["))
    depth, end = 0, start
    while True:
        depth += words[end].count("[") - words[end].count("]")
        if depth == 0:
            break
        end += 1
    inside = " ".join(words[start : end + 1])[1:-1].split()
    choices: list[list[str]] = [[]]
    for bar, group in itertools.groupby(inside, key=lambda w: w == _GROUP_OR):
        if not bar:
            choices.append(list(group))
    head, tail = words[:start], words[end + 1 :]
    return [head + form for choice in choices for form in _optional_forms(choice + tail)]


def _elided(words: list[str]) -> list[list[str]]:
    """Each reading of the `…` in ``words``: a value (``--config …``) or nothing (``unlock
    …``: the rest of it)."""
    spots = [i for i, w in enumerate(words) if w in ("…", "...")]
    readings = []
    for kept in itertools.product((True, False), repeat=len(spots)):
        keep = dict(zip(spots, kept, strict=True))
        readings.append([("X" if keep[i] else "") if i in keep else w for i, w in enumerate(words)])
    return [[w for w in r if w] for r in readings]


# -- the --json field lists -------------------------------------------------------------------

Spec = dict[str, "Spec | None"]
_TOKEN = re.compile(r'"[^"]*"|[{}\[\]():,|]|[^\s{}\[\]():,|"]+')


def flat_readme(readme: str) -> str:
    """The README's text with a console block's continued comments (``#   "lag_seconds", …``)
    joined to their line, backticks gone and whitespace one space: a field list reads as one."""
    text = re.sub(r"\n[ \t]*#[ \t]+", " ", readme)
    return " ".join(text.replace("`", "").split())


def documented_fields(flat: str, anchor: str) -> Spec:
    """The field list the README gives right after ``anchor`` (``{"ok", "findings": [{"rule",
    …}]}``) as keys → the list or object each holds (None: a value); ``NAME:`` (a target's
    name) is ``*``; ``"a" | "b"`` is ``a|b`` (either); values (``"OK|WARNING"``, ``true |
    false``), parenthesized words and prose between the fields (``the warning below, or
    null``) are not fields."""
    at = flat.index(anchor) + len(anchor.rstrip("{["))
    start = min(i for i in (flat.find("{", at), flat.find("[", at)) if i >= 0)
    assert start - at < 8, f"README: no field list right after {anchor!r}"
    tokens = _TOKEN.findall(flat[start : start + 4000])
    spec, _ = _container(tokens, 0)
    return spec or {}


def _container(tokens: list[str], i: int) -> tuple[Spec | None, int]:
    """The spec of the ``{…}`` or ``[…]`` at ``tokens[i]`` and the index after it."""
    close = "}" if tokens[i] == "{" else "]"
    spec: Spec = {}
    items: Spec | None = None
    key: str | None = None
    value = either = False
    i += 1
    while tokens[i] != close:
        t = tokens[i]
        if t == "(":
            depth = 1
            while depth:
                i += 1
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        elif t in "{[":
            inner, i = _container(tokens, i)
            if close == "]":
                items = inner
            elif key is not None:
                spec[key] = inner
            continue
        elif t == ",":
            key, value = None, False
        elif t == ":":
            value = True
        elif t == "|" and key is not None and not value:
            either = True  # `"applied" | "rolled_back": […]`: one or the other
        elif close == "}" and not value and (t.startswith('"') or tokens[i + 1] == ":"):
            name = t.strip('"') if t.startswith('"') else "*"  # `NAME: {…}`: every key
            if either and key is not None:
                spec.pop(key)
                name, either = f"{key}|{name}", False
            key = name
            spec.setdefault(key, None)
        i += 1
    return (items if close == "]" else spec), i + 1


def compare(doc: object, spec: Spec | None, path: str = "") -> tuple[list[str], set[str]]:
    """The documented fields ``doc`` lacks, by path (``findings.rule``: a list's items are
    its path), and the paths of the documented objects ``doc`` had (an empty list has none:
    its items' fields were not seen)."""
    if spec is None:
        return [], set()
    missing: list[str] = []
    reached: set[str] = set()
    if isinstance(doc, list):
        for item in doc:
            m, r = compare(item, spec, path)
            missing, reached = missing + m, reached | r
        return missing, reached
    if not isinstance(doc, dict):
        return [], set()
    reached.add(path)
    if set(spec) == {"*"}:  # `{NAME: {…}}`: each value
        for value in doc.values():
            m, r = compare(value, spec["*"], f"{path}.*".lstrip("."))
            missing, reached = missing + m, reached | r
        return missing, reached
    for key, inner in spec.items():
        where = f"{path}.{key}".lstrip(".")
        have = next((k for k in key.split("|") if k in doc), None)
        if have is None:
            missing.append(where)
            continue
        m, r = compare(doc[have], inner, where)
        missing, reached = missing + m, reached | r
    return missing, reached


def spec_paths(spec: Spec | None, path: str = "") -> set[str]:
    """The paths of the objects ``spec`` documents (``compare``'s ``reached`` when each was
    seen)."""
    if spec is None:
        return set()
    inner = [spec_paths(v, f"{path}.{k}".lstrip(".")) for k, v in spec.items()]
    return {path}.union(*inner)
