"""PostgreSQL refuses every UPDATE and DELETE of a table that a publication publishes updates
and deletes of, when the table has no primary key and no ``REPLICA IDENTITY FULL`` / ``USING
INDEX`` ("cannot update table "t" because it does not have a replica identity and publishes
updates"): the app's writes fail right after the deploy. Measured on PostgreSQL 15: a
``CREATE PUBLICATION … FOR ALL TABLES`` (those made later too), ``ALTER PUBLICATION … ADD
TABLE`` / ``SET TABLE`` (the Supabase dashboard's Realtime toggle), ``CREATE PUBLICATION … FOR
TABLE`` / ``FOR TABLES IN SCHEMA``, a keyless ``CREATE TABLE`` under a ``FOR ALL TABLES`` (or
``TABLES IN SCHEMA``) publication, and a ``DROP CONSTRAINT <pkey>``, ``DROP COLUMN`` of a key
column or ``REPLICA IDENTITY NOTHING`` on a published table all pass, and the next UPDATE
fails. A ``publish = 'insert'`` publication, a temporary or unlogged table, a view, a
partitioned table with a primary key are safe. Each partition is checked by itself: its own
key or REPLICA IDENTITY, or the key its partitioned table gives it (that table's own
REPLICA IDENTITY FULL does not reach it), whether the publication names the partition, its
partitioned table or every table, with ``publish_via_partition_root`` or not; a keyless
partition made (``PARTITION OF``) or attached (``ATTACH PARTITION``) under a published table
is refused from then on; a partitioned table with no partition yet is not (its UPDATE and DELETE
run, whatever its key).

Followed across the set's migrations in order; a plain ``lint`` starts from the live catalog's
tables and publications (:class:`LivePublications`, read by lint/target.py), ``lint --all``
from the set's own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import (
    IDENT,
    PG_DROP_TABLE,
    PG_RENAME_TO,
    PG_TABLE_NAMED,
    Op,
    key,
    pg_key,
    split_top_level,
    strip_comments,
)
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "PUBLICATION_RULES",
    "LivePub",
    "LivePublications",
    "LiveRel",
    "Publications",
    "folded_key",
]

PUBLICATION_RULES = (
    Rule(
        "PG-PUBLISHED-WITHOUT-IDENTITY",
        "error",
        "a publication publishes the updates or deletes of a table with no primary key nor "
        "replica identity",
        'PostgreSQL then refuses every UPDATE and DELETE of the table ("cannot update table … '
        "because it does not have a replica identity and publishes updates\"): the app's "
        "writes fail right after the deploy",
        "give the table a primary key in the same migration (ALTER TABLE t ADD PRIMARY KEY "
        "(id)); or ALTER TABLE t REPLICA IDENTITY USING INDEX i (a unique index on NOT NULL "
        "columns), or REPLICA IDENTITY FULL (each UPDATE and DELETE then writes the whole old "
        "row to the WAL, and a subscriber without a key scans the table per row; a partitioned "
        "table's does not reach its partitions); or publish only inserts: WITH (publish = "
        "'insert')",
    ),
)
register(*PUBLICATION_RULES)

_F = re.IGNORECASE | re.DOTALL
_QN = rf"(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<name>{IDENT})"
_CREATE_PUB = re.compile(rf"^CREATE\s+PUBLICATION\s+(?P<pub>{IDENT})\s*(?P<rest>.*)$", _F)
_ALTER_PUB = re.compile(
    rf"^ALTER\s+PUBLICATION\s+(?P<pub>{IDENT})\s+(?P<verb>ADD|SET|DROP|RENAME\s+TO)\s*(?P<rest>.*)$",
    _F,
)
_DROP_PUB = re.compile(
    r"^DROP\s+PUBLICATION\s+(?:IF\s+EXISTS\s+)?(?P<names>.*?)(?:\s+(?:CASCADE|RESTRICT))?\s*$", _F
)
_ALL = re.compile(r"^FOR\s+ALL\s+TABLES\b", re.IGNORECASE)
_FOR = re.compile(r"^FOR\s+", re.IGNORECASE)
_WITH = re.compile(r"\s*\bWITH\s*\((?P<opts>[^()]*)\)\s*$", _F)
_PUBLISH = re.compile(r"\bpublish\s*=\s*'(?P<what>[^']*)'", re.IGNORECASE)
_ITEM = re.compile(rf"^(?:TABLE\s+)?(?:ONLY\s+)?{_QN}", _F)
_NAMED = re.compile(_QN, _F)
_SCHEMA_ITEM = re.compile(r"^TABLES\s+IN\s+SCHEMA\b", re.IGNORECASE)
_TABLE_PK = re.compile(
    rf"^(?:CONSTRAINT\s+{IDENT}\s+)?PRIMARY\s+KEY\s*\((?P<cols>[^()]*)\)", re.IGNORECASE
)
_KEY_COLS = re.compile(r"\bPRIMARY\s+KEY\s*\((?P<cols>[^()]*)\)", re.IGNORECASE)
_COLUMN = re.compile(rf"\s*({IDENT})")
_TABLE_ITEM = re.compile(r"^TABLE\b", re.IGNORECASE)
_PK = re.compile(r"\bPRIMARY\s+KEY\b", re.IGNORECASE)
_PK_NAMED = re.compile(rf"\bCONSTRAINT\s+(?P<c>{IDENT})\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_LIKE_KEYED = re.compile(r"\bLIKE\b[^,)]*\bINCLUDING\s+(?:ALL|INDEXES)\b", re.IGNORECASE)
_NOT_PUBLISHED = re.compile(r"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\b", _F)
_PARTITION_OF = re.compile(rf"^PARTITION\s+OF\s+{_QN}", re.IGNORECASE)
_ATTACH = re.compile(rf"^(?P<verb>ATTACH|DETACH)\s+PARTITION\s+{_QN}", re.IGNORECASE)
_PARTITIONED = re.compile(r"\)\s*PARTITION\s+BY\b", re.IGNORECASE)
_IDENTITY = re.compile(
    r"^REPLICA\s+IDENTITY\s+(?P<how>FULL|DEFAULT|NOTHING|USING\s+INDEX)\b", re.IGNORECASE
)
_CHANGES = frozenset({"update", "delete"})
_DEFAULT_KINDS = frozenset({"insert", "update", "delete", "truncate"})


@dataclass
class LiveRel:
    """A table as the live catalog (or the set's migrations) leave it."""

    name: str  # display form
    pkey: str | None  # its primary key constraint's name (folded), None: none
    identity: str = "d"  # relreplident: d(efault), f(ull), i(ndex), n(othing)
    partitioned: bool = False
    key_columns: tuple[str, ...] = ()  # its primary key's (folded): a DROP COLUMN drops it
    parent: str | None = None  # a partition's partitioned table (its key)


@dataclass
class LivePub:
    all_tables: bool
    kinds: frozenset[str]  # what it publishes: insert, update, delete, truncate
    tables: set[str] = field(default_factory=set)  # folded table keys (not FOR ALL TABLES)
    schemas: set[str] = field(default_factory=set)  # FOR TABLES IN SCHEMA (folded)

    def covers(self, t: str) -> bool:
        """Whether it publishes table ``t`` (a key as :func:`_table_key` makes it)."""
        return self.all_tables or t in self.tables or _schema_of(t) in self.schemas


@dataclass
class LivePublications:
    """The live database's tables (by folded name; another schema's as ``schema.name`` when the
    search path finds one of that name first) and publications, before the pending migrations."""

    tables: dict[str, LiveRel] = field(default_factory=dict)
    publications: dict[str, LivePub] = field(default_factory=dict)


_SEP = "\0"  # between a key's schema and name: no name holds it ("audit.log" may be public's)


def folded_key(schema: str, name: str) -> str:
    """A table's key from its schema ("": public) and name as PostgreSQL holds them:
    public's by its name alone (as the migrations name them), another schema's with it."""
    return name if schema in ("", "public") else f"{schema}{_SEP}{name}"


def _table_key(schema: str | None, name: str) -> str:
    """A table's key from its schema and name as written, folded as PostgreSQL does (unquoted
    lower-cased, quoted as written); constraint and column names keep :func:`key`."""
    return folded_key(pg_key(schema) if schema else "", pg_key(name))


def _kinds(rest: str) -> frozenset[str]:
    m = _PUBLISH.search(rest)
    if m is None:
        return _DEFAULT_KINDS
    return frozenset(w.strip().lower() for w in m["what"].split(",") if w.strip())


def _schema_of(t: str) -> str:
    return t.partition(_SEP)[0] if _SEP in t else "public"


def _shown_key(t: str) -> str:
    return t.replace(_SEP, ".")


def _items(text: str) -> tuple[list[str], list[str]]:
    """The tables (folded keys) and schemas of a ``[FOR] TABLE a, b (cols) WHERE (…), TABLES IN
    SCHEMA s, t`` list (a bare name is of the kind before it)."""
    tables: list[str] = []
    schemas: list[str] = []
    in_schema = False
    for part in split_top_level(text):
        if (s := _SCHEMA_ITEM.match(part)) is not None:
            in_schema, part = True, part[s.end() :].strip()
        elif _TABLE_ITEM.match(part):
            in_schema = False
        if in_schema:
            name = pg_key(part.split()[0]) if part else ""
            schemas.append("public" if name == "current_schema" else name)
        elif (m := _ITEM.match(part)) is not None:
            tables.append(_table_key(m["schema"], m["name"]))
    return tables, schemas


def _columns(text: str) -> tuple[str, ...]:
    return tuple(key(c.strip()) for c in text.split(",") if c.strip())


def _key_columns(body: str) -> tuple[str, ...]:
    """The primary key's columns in a CREATE TABLE's column list (folded)."""
    inner = body[1 : body.rfind(")")] if body.startswith("(") else ""
    for part in split_top_level(inner):
        if (m := _TABLE_PK.match(part)) is not None:
            return _columns(m["cols"])
        if _PK.search(part) and (c := _COLUMN.match(part)) is not None:
            return (key(c[1]),)
    return ()


@dataclass
class Publications:
    """The tables and publications across a set's migrations (PostgreSQL), from the live
    catalog's when read; per migration, the (table, publication) pairs a statement starts to
    break, judged at its end (a ``CREATE TABLE`` then ``ALTER TABLE … ADD PRIMARY KEY`` in the
    same migration is clean)."""

    live: LivePublications | None = None
    tables: dict[str, LiveRel] = field(default_factory=dict)
    pubs: dict[str, LivePub] = field(default_factory=dict)
    _file: str = ""
    _pending: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.live is not None:
            self.tables = {k: LiveRel(**vars(v)) for k, v in self.live.tables.items()}
            self.pubs = {
                k: LivePub(v.all_tables, v.kinds, set(v.tables), set(v.schemas))
                for k, v in self.live.publications.items()
            }

    def begin(self, file: str) -> None:
        self._file = file
        self._pending.clear()

    def _ancestors(self, t: str) -> list[str]:
        """``t``'s partitioned tables, nearest first (a partition of a partition)."""
        out: list[str] = []
        while (rel := self.tables.get(t)) is not None and rel.parent and rel.parent not in out:
            t = rel.parent
            out.append(t)
        return out

    def _covers(self, pub: LivePub, t: str) -> bool:
        """Whether ``pub`` publishes ``t``'s changes: itself, or a partitioned table above it
        (measured: each partition's writes are checked, publish_via_partition_root or not)."""
        return any(pub.covers(x) for x in (t, *self._ancestors(t)))

    def _partitions(self, t: str) -> list[str]:
        return [k for k, rel in self.tables.items() if rel.parent == t]

    def _units(self, t: str) -> list[str]:
        """What is refused when ``t`` is published: its partitions, as far down as they go
        (a partitioned table with none yet: nothing, measured on PostgreSQL 15: its UPDATE and
        DELETE run; a keyless partition is named when it is made or attached)."""
        if t in self.tables and self.tables[t].partitioned:
            return [u for c in self._partitions(t) for u in self._units(c)]
        return [t]

    def _identified(self, t: str) -> bool:
        """A partition is judged by its own REPLICA IDENTITY and its own or inherited primary
        key (measured on PostgreSQL 15: its partitioned table's FULL does not reach it)."""
        rel = self.tables[t]
        if rel.identity in ("f", "i") and not rel.partitioned:
            return True
        keyed = any(self.tables[x].pkey is not None for x in (t, *self._ancestors(t)))
        return rel.identity != "n" and keyed

    def _broken(self, t: str, p: str) -> bool:
        rel, pub = self.tables.get(t), self.pubs.get(p)
        if rel is None or pub is None or not (pub.kinds & _CHANGES) or self._units(t) != [t]:
            return False
        return not self._identified(t) and self._covers(pub, t)

    def _broken_now(self, t: str) -> set[str]:
        """The publications whose UPDATEs or DELETEs of ``t`` PostgreSQL refuses now."""
        return {p for p in self.pubs if self._broken(t, p)}

    def _watch(self, t: str, p: str, line: int, cause: str, was: set[str]) -> None:
        """``t`` in ``p`` may be broken by the statement at ``line`` (it was not before, unless
        ``p`` is in ``was``): judged at the migration's end, at the last statement that may have
        (an ADD TABLE of a table with a key, its key dropped after: the drop)."""
        if p not in was:
            self._pending[(t, p)] = (line, cause)

    def _watch_table(self, t: str, line: int, cause: str, was: dict[str, set[str]]) -> None:
        """Watch ``t`` (or its partitions) in each publication of it (``was``: each one's
        publications that refused it before)."""
        for u in self._units(t):
            for p, pub in self.pubs.items():
                if self._covers(pub, u):
                    self._watch(u, p, line, cause, was.get(u, set()))

    def _was(self, t: str) -> dict[str, set[str]]:
        return {u: self._broken_now(u) for u in self._units(t)}

    def see(self, st: Statement, op: Op) -> None:
        """Follow one statement (``watch`` it only in a migration being linted)."""
        if op.kind == "create_table":
            self._created(st, op)
        elif op.kind == "alter_table":
            self._altered(st, op)
        elif op.kind == "drop_table":
            d = PG_DROP_TABLE.match(strip_comments(st.text))
            for n in split_top_level(d["names"]) if d is not None else op.names:
                if (q := _NAMED.match(n.strip())) is not None:  # (a quoted name read whole)
                    self._dropped(_table_key(q["schema"], q["name"]))
        elif op.kind == "other" and "PUBLICATION" in st.first_words.upper():
            self._publication(st)

    def _dropped(self, t: str) -> None:
        """``t`` dropped, and its partitions with it (each leaves its publications: a table
        made again under its name is not published)."""
        for part in self._partitions(t):
            self._dropped(part)
        self.tables.pop(t, None)
        for pub in self.pubs.values():
            pub.tables.discard(t)

    def _created(self, st: Statement, op: Op) -> None:
        text = strip_comments(st.text)
        body = op.body.strip()
        if _NOT_PUBLISHED.match(text):
            return  # (not published)
        of = _PARTITION_OF.match(body)
        # (its schema as PostgreSQL reads it: CREATE TABLE "School"."Student" was school's)
        s = op.pg_schema
        t = folded_key(s, op.pg_name)
        if t in self.tables:
            return  # (IF NOT EXISTS: a no-op)
        named = _PK_NAMED.search(body)
        keyed = bool(_PK.search(body) or _LIKE_KEYED.search(body)) and not op.source
        pkey = (key(named["c"]) if named else f"{key(op.name)}_pkey") if keyed else None
        partitioned = bool(_PARTITIONED.search(body))
        columns = _key_columns(body) if keyed else ()
        shown = op.name if _SEP not in t else f"{_schema_of(t)}.{op.name}"
        parent = _table_key(of["schema"], of["name"]) if of else None
        self.tables[t] = LiveRel(shown, pkey, "d", partitioned, columns, parent)
        if of is not None and parent is not None:  # (published with its partitioned table)
            above = self.tables[parent].name if parent in self.tables else of["name"]
            cause = f"CREATE TABLE {{t}} PARTITION OF {above} while {{pubs}} {above}"
            self._watch_table(t, st.line, cause, {})
            return
        for p, pub in self.pubs.items():
            if pub.covers(t):  # (FOR ALL TABLES, or TABLES IN SCHEMA)
                self._watch(t, p, st.line, "CREATE TABLE {t} while {pubs} every new table", set())

    def _altered(self, st: Statement, op: Op) -> None:
        h = PG_TABLE_NAMED.match(strip_comments(st.text))
        t = _table_key(h["schema"] if h else None, h["name"] if h else op.name)
        rel = self.tables.get(t)
        if rel is None:
            return
        for a in op.actions:
            d = a.definition
            was = self._was(t)
            if a.kind == "other" and (m := _ATTACH.match(d)) is not None:
                self._attached(t, m, st.line)
            elif a.kind == "add_pk" or (a.kind in ("attach_index", "add_column") and _PK.search(d)):
                rel.pkey = key(a.new) if a.new else f"{key(op.name)}_pkey"
                cols = _KEY_COLS.search(d)
                column = (key(a.column),) if a.kind == "add_column" else ()
                rel.key_columns = _columns(cols["cols"]) if cols else column
            elif a.kind == "drop_column" and rel.pkey and key(a.column) in rel.key_columns:
                rel.pkey = None
                self._watch_table(t, st.line, f"{rel.name}'s key column {a.column} dropped", was)
            elif a.kind == "drop_constraint" and rel.pkey is not None and key(a.new) == rel.pkey:
                rel.pkey = None
                self._watch_table(t, st.line, f"{rel.name}'s primary key dropped", was)
            elif a.kind == "rename_table":
                self.tables.pop(t)
                r = PG_RENAME_TO.search(strip_comments(st.text))
                new = _table_key(h["schema"] if h else None, r["new"] if r else a.new)
                self.tables[new] = rel
                for part in self.tables.values():
                    part.parent = new if part.parent == t else part.parent
                rel.name = a.new
                for pub in self.pubs.values():
                    if t in pub.tables:
                        pub.tables.discard(t)
                        pub.tables.add(new)
                t = new
            elif a.kind == "other" and (m := _IDENTITY.match(d)) is not None:
                how = m["how"].split()[0].upper()
                rel.identity = {"FULL": "f", "DEFAULT": "d", "NOTHING": "n", "USING": "i"}[how]
                if how in ("NOTHING", "DEFAULT"):
                    said = f"{rel.name} set to REPLICA IDENTITY {how}"
                    self._watch_table(t, st.line, said, was)

    def _shown(self, t: str) -> str:
        rel = self.tables[t]
        parent = self.tables.get(rel.parent or "")
        return f"{rel.name} (a partition of {parent.name})" if parent else rel.name

    def _attached(self, t: str, m: re.Match[str], line: int) -> None:
        """``ALTER TABLE t ATTACH PARTITION x``: x is published with t from then on (and
        gets t's primary key); ``DETACH``: x keeps that key as its own."""
        x = _table_key(m["schema"], m["name"])
        rel = self.tables.get(x)
        if rel is None:
            return
        if m["verb"].upper() == "DETACH":
            if rel.pkey is None and any(self.tables[a].pkey for a in self._ancestors(x)):
                rel.pkey = f"{key(m['name'])}_pkey"  # (its copy of the inherited key)
            rel.parent = None
            return
        was = self._was(x)
        rel.parent = t
        shown = self.tables[t].name if t in self.tables else _shown_key(t)
        self._watch_table(x, line, f"ALTER TABLE {shown} ATTACH PARTITION {{t}}", was)

    def _publication(self, st: Statement) -> None:
        text = strip_comments(st.text)
        if (m := _CREATE_PUB.match(text)) is not None:
            p, rest = key(m["pub"]), m["rest"]
            w = _WITH.search(rest)
            kinds = _kinds(w["opts"]) if w else _DEFAULT_KINDS
            what = rest[: w.start()] if w else rest
            if _ALL.match(what):
                self.pubs[p] = LivePub(True, kinds)
                how = "FOR ALL TABLES"
            else:
                tables, schemas = _items(_FOR.sub("", what)) if _FOR.match(what) else ([], [])
                self.pubs[p] = LivePub(False, kinds, set(tables), set(schemas))
                how = "FOR TABLES IN SCHEMA" if schemas else "FOR TABLE"
            for t in list(self.tables):
                if self._covers(self.pubs[p], t):
                    self._watch(t, p, st.line, f"CREATE PUBLICATION {{p}} {how}", set())
        elif (m := _ALTER_PUB.match(text)) is not None:
            p, verb, rest = key(m["pub"]), m["verb"].upper(), m["rest"]
            pub = self.pubs.setdefault(p, LivePub(False, _DEFAULT_KINDS))  # (made outside)
            if verb.startswith("RENAME"):
                self.pubs[key(rest.strip())] = self.pubs.pop(p)
            elif verb == "SET" and rest.startswith("("):
                tables = [t for t in self.tables if self._covers(pub, t)]
                was = {t for t in tables if self._broken(t, p)}
                pub.kinds = _kinds(rest)
                for t in tables:
                    self._watch(t, p, st.line, "ALTER PUBLICATION {p} SET (publish …)",
                                {p} if t in was else set())  # fmt: skip
            elif verb == "DROP":
                tables, schemas = _items(rest)
                pub.tables -= set(tables)
                pub.schemas -= set(schemas)
            else:
                named, schemas = _items(rest)
                listed = named + [t for t in self.tables if _schema_of(t) in schemas]
                tables = [u for t in listed for u in self._units(t)]  # (a partition's own)
                was = {t for t in tables if self._broken(t, p)}
                if verb == "SET" and not pub.all_tables:
                    pub.tables, pub.schemas = set(), set()
                pub.tables.update(named)
                pub.schemas.update(schemas)
                what = "TABLES IN SCHEMA" if schemas and not named else "TABLE"
                for t in tables:
                    self._watch(t, p, st.line, f"ALTER PUBLICATION {{p}} {verb} {what}",
                                {p} if t in was else set())  # fmt: skip
        elif (m := _DROP_PUB.match(text)) is not None:
            for n in split_top_level(m["names"]):
                self.pubs.pop(key(n), None)

    def end(self, out: list[Finding]) -> None:
        """The migration's findings: the pairs it broke that are still broken at its end, one
        finding per statement (its tables, or its table's publications)."""
        grouped: dict[tuple[int, str], tuple[set[str], set[str]]] = {}
        for (t, p), (line, cause) in self._pending.items():
            if self._broken(t, p):
                tables, pubs = grouped.setdefault((line, cause), (set(), set()))
                tables.add(t)
                pubs.add(p)
        r = PUBLICATION_RULES[0]
        for (line, cause), (keys, pubs) in sorted(grouped.items()):
            names = [self._shown(t) for t in sorted(keys)]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            many = " and ".join(sorted(pubs))
            pubs_said = (
                f"publications {many} publish" if len(pubs) > 1 else f"publication {many} publishes"
            )
            first = self.tables[min(keys)].name
            said = cause.replace("{pubs}", pubs_said).replace("{p}", many).replace("{t}", first)
            kinds = {p: _changes(self.pubs[p].kinds) for p in sorted(pubs)}
            if len(kinds) == 1:
                ((p, what),) = kinds.items()
                who = f"publication {p} publishes the {what} of {shown}"
            else:
                each = " and ".join(f"{p} ({what})" for p, what in kinds.items())
                who = f"publications {each} publish the changes of {shown}"
            union = frozenset(k for p in pubs for k in self.pubs[p].kinds)
            verbs = " and ".join(v for v in ("UPDATE", "DELETE") if v.lower() in union)
            plural = len(names) > 1
            why = (
                f"{said}: {who}, which {'have' if plural else 'has'} no primary key nor replica "
                f"identity: PostgreSQL refuses every {verbs} of {'them' if plural else 'it'} "
                'from then on ("cannot update table … because it does not have a replica '
                "identity and publishes updates\"), the app's writes fail right after the deploy"
            )
            out.append(Finding(r.id, r.severity, self._file, line, why, r.instead))
        self._pending.clear()


def _changes(kinds: frozenset[str]) -> str:
    """``updates and deletes``, ``updates`` or ``deletes``: what of ``kinds`` needs an
    identity."""
    return " and ".join(v for v in ("updates", "deletes") if v[:-1] in kinds)
