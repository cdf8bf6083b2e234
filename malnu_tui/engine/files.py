"""Migration files on disk: discovery, naming, headers, pairing with rollbacks, checksums."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from malnu_tui.engine.errors import BadVersion, MigrationFileError
from malnu_tui.engine.filestatements import FileStatements, read_large_parts, text_pieces
from malnu_tui.engine.filestream import Streamed, checkout_checksums_of, read_or_stream
from malnu_tui.engine.foreign_files import prose_dependencies, rename_hint
from malnu_tui.engine.lazy import cached
from malnu_tui.engine.sqlcheck import check_statement, down_section, meta_command
from malnu_tui.engine.sqlsplit import (
    SplitError,
    Statement,
    line_ends,
    split_statements,
)
from malnu_tui.engine.sqltemplate import TemplateParts, strip_template

__all__ = [
    "Migration",
    "MigrationSet",
    "RollbackFile",
    "checkout_checksums",
    "checksum_bytes",
    "dependencies_line",
    "discover",
    "normalise_version",
    "parse_sql_file",
    "read_sql_file",
    "read_sql_text",
]

# 20251124_120500_name.sql (the seed's style) or 20251124120500_name.sql (Supabase's).
_NAME = re.compile(r"^(?P<date>\d{8})_?(?P<time>\d{6})_(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$")
_VERSION = re.compile(r"^(\d{8})_?(\d{6})$")
_HEADER = re.compile(r"^\s*--\s*(Description|Author|Dependencies)\s*:\s*(.*?)\s*$", re.IGNORECASE)
KEEP_TEXT_BYTES = 256 * 1024  # larger files are read again when their statements are needed
KEEP_TEXT_TOTAL = 64 * 1024 * 1024  # and no more than this is kept for one set
_NONE_WORDS = {"", "none", "-", "n/a", "na", "nil"}


def checksum_bytes(data: bytes) -> str:
    """sha256 hex of ``data`` with a UTF-8 BOM stripped and CRLF folded to LF.

    A Windows checkout of the same file therefore has the same checksum; any other edit differs.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def checkout_checksums(data: bytes) -> frozenset[str]:
    """sha256 hex of each form a checkout of the file ``data`` may take: LF or CRLF line
    ends, with or without a UTF-8 BOM, and ``data`` as it is. A tracking row written by
    another runner that hashes the raw file (the school guide's ``calculateChecksum``, on a
    Windows checkout) holds one of these: the same content, not drift."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    lf = body.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    forms = (data, lf, crlf, b"\xef\xbb\xbf" + lf, b"\xef\xbb\xbf" + crlf)
    return frozenset(hashlib.sha256(f).hexdigest() for f in forms)


def normalise_version(text: str) -> str:
    """``20251124120500`` or ``20251124_120500`` (or a full filename) → ``20251124_120500``."""
    text = text.strip()
    m = _NAME.match(text if text.endswith(".sql") else text + "_x.sql")
    if m:
        return f"{m['date']}_{m['time']}"
    m = _VERSION.match(text)
    if m:
        return f"{m[1]}_{m[2]}"
    raise BadVersion(
        f"not a migration version: {text!r}",
        hint="a version is YYYYMMDD_HHMMSS or YYYYMMDDHHMMSS (see `malnu-tui status`)",
    )


def _decode(path: Path, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # (Notepad's "Unicode", PowerShell's >)
        raise MigrationFileError(
            str(path), "saved as UTF-16, not UTF-8: save it again as UTF-8", line=1
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MigrationFileError(
            str(path), f"not UTF-8 (byte 0x{data[exc.start]:02x})", line=line
        ) from None
    return line_ends(text)


def parse_sql_file(path: Path, text: str, dialect: str = "sqlite") -> TemplateParts:
    """Split a file's text (written in ``dialect``) into statements and strip the seed
    template's own transaction and tracking insert. Raises :class:`MigrationFileError` naming
    the file and line."""
    down_section(path, text)
    try:
        statements = split_statements(text, dialect)
    except SplitError as exc:
        raise MigrationFileError(str(path), str(exc), line=exc.line) from None
    if dialect == "postgresql" and any(st.text.startswith("\\") for st in statements):
        # (the splitter made each meta-command a statement of its line alone)
        statements = [
            st for st in statements if not st.text.startswith("\\") or not meta_command(path, st)
        ]
    for st in statements:
        check_statement(path, st)
    # A file of comments only is a valid no-op (SQLite runs it; a rollback file that undoes
    # nothing is diesel's convention): callers say so in their plans.
    return strip_template(statements)


def read_sql_text(path: Path) -> str:
    """The text of the SQL file at ``path`` as migration files are read: a BOM dropped (a
    Notepad file's first statement read as SQL), a Windows file's CRLF folded, not UTF-8 a
    MigrationFileError naming its line."""
    return _decode(path, _read(str(path)))


def read_sql_file(path: Path, dialect: str) -> TemplateParts:
    """:func:`parse_sql_file` of the file at ``path``, read as :func:`read_sql_text` reads it."""
    return parse_sql_file(path, read_sql_text(path), dialect)


@dataclass(frozen=True)
class RollbackFile:
    """A rollback file; read only when a rollback is planned (status never needs it)."""

    path: Path
    dialect: str = "sqlite"  # the set's (Target.files_dialect): how its statements split

    @cached
    def filename(self) -> str:
        return self.path.name

    def _bytes(self) -> bytes:
        """The file's bytes, read once when small (the lint's cache key and the lint itself
        both want them)."""
        data: bytes | None = self.__dict__.get("_data")
        if data is None:
            data = _read(str(self.path))
            if len(data) <= KEEP_TEXT_BYTES:
                self.__dict__["_data"] = data  # as @cached does (frozen dataclass)
        return data

    @cached
    def checksum(self) -> str:
        return checksum_bytes(self._bytes())

    def read_text(self) -> str:
        return _decode(self.path, self._bytes())

    def parts(self) -> TemplateParts:
        return parse_sql_file(self.path, self.read_text(), self.dialect)


@dataclass(frozen=True)
class Migration:
    """One migration file with its parsed header and its paired rollback file (if any)."""

    version: str  # normalised: YYYYMMDD_HHMMSS
    name: str
    path: Path
    checksum: str
    description: str = ""
    author: str = ""
    dependencies: tuple[str, ...] = ()
    rollback: RollbackFile | None = None
    # The text as discovery read it (files up to KEEP_TEXT_BYTES): the plan, the lint and the
    # run use the very text the checksum was taken of, and no file is read twice.
    text: str | None = field(default=None, repr=False, compare=False)
    dialect: str = "sqlite"  # the set's (Target.files_dialect): how its statements split

    @cached
    def filename(self) -> str:
        return self.path.name

    def read_text(self) -> str:
        if self.text is not None:
            return self.text
        return _decode(self.path, _read(str(self.path)))

    def text_pieces(self) -> Iterator[str]:
        """The text in pieces that end at a line end: a large file's read from the file
        (filestatements.py), never held whole; else :meth:`read_text` whole."""
        statements = self._parts.statements if self.text is None else ()
        if isinstance(statements, FileStatements):  # read as its statements are
            yield from text_pieces(self.path, statements.mode, self.checksum)
        else:
            yield self.read_text()

    def same_content(self, recorded: str | None) -> bool:
        """Whether a tracking row's checksum is this file's: the tool's own (BOM stripped,
        CRLF folded), or another runner's hash of a checkout of the same content
        (:func:`checkout_checksums`; the file is read again only then)."""
        if recorded is None:
            return False
        recorded = recorded.strip().lower()
        if recorded == self.checksum:
            return True
        if len(recorded) != 64:  # not a sha256 at all ('checksum_hash', a template's)
            return False
        try:
            return recorded in checkout_checksums_of(str(self.path))
        except MigrationFileError:
            return False

    @cached
    def _parts(self) -> TemplateParts:
        if self.text is None and _size(self.path) > KEEP_TEXT_BYTES:
            # A large file (a legacy seed): its statements are read from the file each time
            # they are walked, never held (filestatements.py); checked here as a whole.
            return read_large_parts(self.path, self.dialect, self.checksum)
        return parse_sql_file(self.path, self.read_text(), self.dialect)

    def parts(self) -> TemplateParts:
        """Statements to run (template transaction/tracking statements stripped)."""
        return self._parts

    def statements(self) -> Sequence[Statement]:
        return self._parts.statements


@dataclass(frozen=True)
class MigrationSet:
    """Every migration in version order, with the warnings found while reading them."""

    migrations: tuple[Migration, ...]
    migrations_dir: Path
    rollback_dir: Path
    warnings: tuple[str, ...] = field(default=())
    dialect: str = "sqlite"  # what the files are written in (Target.files_dialect)

    def by_filename(self) -> dict[str, Migration]:
        return {m.filename: m for m in self.migrations}

    def find(self, version_or_name: str) -> Migration:
        """The migration named by version (either style) or by filename."""
        key = version_or_name.strip()
        for m in self.migrations:
            if key in (m.filename, m.filename.removesuffix(".sql")):
                return m
        try:
            v = normalise_version(key)
        except ValueError:
            named = [m for m in self.migrations if m.name == key.removesuffix(".sql")]
            if len(named) == 1:  # its name alone (create_users_table), when only one has it
                return named[0]
            raise MigrationFileError(key or "''", "no such migration") from None
        for m in self.migrations:
            if m.version == v:
                return m
        raise MigrationFileError(key, f"no migration with version {v}")


def _header(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("--"):
            break  # headers are the leading comment block
        m = _HEADER.match(line)
        if m:
            found[m[1].lower()] = m[2]
    return found


def _split_deps(value: str) -> list[str]:
    if not value:
        return []
    return [t for t in re.split(r"[,\s]+", value.strip()) if t.lower() not in _NONE_WORDS]


def _sql_files(directory: Path) -> list[tuple[str, str]]:
    """(name, path) of the ``.sql`` files in ``directory`` (hidden ones skipped), sorted by
    name (scandir: no stat).

    Anything else named ``*.sql`` (a directory, a dangling symlink, a symlink loop) is an error
    naming it: skipping it silently would make ``up`` say "up to date" with a migration unread.
    """
    if not directory.is_dir():
        return []
    found: list[tuple[str, str]] = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.startswith("."):
                # Hidden, as `ls` and git hide them: an editor's lock (emacs's `.#name.sql`, a
                # dangling symlink while a buffer is edited) or macOS's AppleDouble `._name.sql`
                # (copied from a Mac to a share or a tarball). Each stopped every command.
                continue
            if not e.name.endswith(".sql"):
                if e.name.lower().endswith(".sql"):  # 20240101120000_init.SQL (Windows tools)
                    raise MigrationFileError(
                        e.path, "the name ends in .SQL, not .sql: rename it (it was never read)"
                    )
                continue
            try:
                regular = e.is_file()
            except OSError as exc:  # ELOOP: a symlink loop
                raise MigrationFileError(e.path, f"cannot read: {exc.strerror}") from None
            if not regular:
                raise MigrationFileError(e.path, _not_a_file(e))
            found.append((e.name, e.path))
    found.sort()
    return found


def _not_a_file(entry: os.DirEntry[str]) -> str:
    if entry.is_dir():
        return "a directory, not a SQL file (rename or remove it)"
    if entry.is_symlink():
        try:
            to = os.readlink(entry.path)
        except OSError:
            to = "?"
        return f"a dangling symlink (to {to}); restore its target or remove it"
    return "not a regular file"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read whole: the read names the error


def _read(path: str) -> bytes:
    """The file's bytes (os-level calls: a third of open()'s cost, for thousands of files)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            chunks: list[bytes] = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MigrationFileError(path, f"cannot read: {exc.strerror or exc}") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parse_name(path: Path, fname: str, kind: str) -> tuple[str, str]:
    """(version, name) of a migration or rollback file ``fname`` (``path``), or a
    MigrationFileError."""
    m = _NAME.match(fname)
    if not m:
        error = MigrationFileError(
            str(path), f"bad {kind} file name (expected YYYYMMDD_HHMMSS_name.sql)"
        )
        error.hint = rename_hint(fname)
        raise error
    return f"{m['date']}_{m['time']}", m["name"]


def discover(migrations_dir: Path, rollback_dir: Path, dialect: str = "sqlite") -> MigrationSet:
    """Read every migration and rollback file, written in ``dialect`` (the target's
    ``files_dialect``). Raises :class:`MigrationFileError` for a bad name, a duplicate
    version, non-UTF-8 content, or an unknown or later dependency."""
    migrations_dir = Path(migrations_dir)
    rollback_dir = Path(rollback_dir)
    if not migrations_dir.is_dir():
        raise MigrationFileError(str(migrations_dir), "migrations directory does not exist")
    warnings: list[str] = []

    rollbacks: dict[str, RollbackFile] = {}
    for fname, _fpath in _sql_files(rollback_dir):
        path = rollback_dir / fname
        if not _NAME.match(fname):
            # An operator's own script beside the rollback files (`rollback_all.sql`) pairs
            # with no migration: said, not fatal (it stopped every command, `status` too). A
            # rollback file whose name lost its version leaves its migration without one,
            # which a rollback refuses, naming it.
            warnings.append(
                f"{path}: not a rollback file name (YYYYMMDD_HHMMSS_name.sql): ignored, it "
                "pairs with no migration"
            )
            continue
        version, _name = _parse_name(path, fname, "rollback")
        if version in rollbacks:
            raise MigrationFileError(
                str(path),
                f"duplicate rollback for version {version} (also {rollbacks[version].filename})",
            )
        rollbacks[version] = RollbackFile(path=path, dialect=dialect)

    found: list[Migration] = []
    budget = KEEP_TEXT_TOTAL
    seen: dict[str, Path] = {}
    for fname, fpath in _sql_files(migrations_dir):
        path = migrations_dir / fname
        version, name = _parse_name(path, fname, "migration")
        if name.endswith(".down"):  # golang-migrate's pair: 2024…_x.up.sql + 2024…_x.down.sql
            raise MigrationFileError(
                str(path),
                "a down file (golang-migrate's .down.sql) among the migrations: it would run as "
                f"one; move it into the rollback directory as {version}_{name[:-5]}.sql",
            )
        if version in seen:
            raise MigrationFileError(
                str(path), f"duplicate version {version} (also {seen[version].name})"
            )
        seen[version] = path
        read = read_or_stream(fpath, KEEP_TEXT_BYTES)
        if read is None:  # not UTF-8: read whole, for _decode to name the line
            read = _read(fpath)
        text: str | None
        if isinstance(read, Streamed):  # a large file: not held in memory (filestream.py)
            text, keep, blank, checksum = None, False, read.blank, read.checksum
            head = _header(read.head)
        else:
            text = _decode(path, read)
            blank, checksum, head = not text.strip(), checksum_bytes(read), _header(text)
            keep = len(read) <= budget
            budget -= len(read) if keep else 0
        if blank:
            raise MigrationFileError(str(path), "the file is empty")
        found.append(
            Migration(
                version=version,
                name=name,
                path=path,
                checksum=checksum,
                description=head.get("description", ""),
                author=head.get("author", ""),
                dependencies=tuple(_split_deps(head.get("dependencies", ""))),
                rollback=rollbacks.pop(version, None),
                text=text if keep else None,
                dialect=dialect,
            )
        )
    if not found:
        _no_nested_set(migrations_dir)
    for version, rb in sorted(rollbacks.items()):
        warnings.append(f"{rb.path}: rollback file has no migration with version {version}")

    found.sort(key=lambda m: m.version)  # the two naming styles sort differently by name
    _check_dependencies(found, warnings)
    return MigrationSet(tuple(found), migrations_dir, rollback_dir, tuple(warnings), dialect)


def _no_nested_set(directory: Path) -> None:
    """A directory with no migration file of its own but SQL files one level down (Prisma's
    ``<version>_<name>/migration.sql``) is an error: read as empty, `up` said "up to date"."""
    with os.scandir(directory) as it:
        folders = sorted(e.path for e in it if e.is_dir())
    for folder in folders:
        nested = _sql_files(Path(folder))
        if nested:
            name, _path = nested[0]
            raise MigrationFileError(
                str(directory),
                f"no migration file here, but {Path(folder).name}/{name} is one level down "
                "(Prisma's layout): the tool reads YYYYMMDD_HHMMSS_name.sql files in the "
                f"directory itself, e.g. {Path(folder).name}.sql for that folder's {name}",
            )


def _check_dependencies(found: list[Migration], warnings: list[str]) -> None:
    if not any(m.dependencies for m in found):
        return
    index: dict[str, int] = {}
    names: dict[str, list[int]] = {}
    for i, mig in enumerate(found):
        names.setdefault(mig.name, []).append(i)
    for name, at in names.items():  # a file's name alone (create_users_table), when unique
        if len(at) == 1:
            index[name] = index[name + ".sql"] = at[0]
    for i, mig in enumerate(found):
        index[mig.filename] = i
        index[mig.filename.removesuffix(".sql")] = i
        index[mig.version] = i
        index[mig.version.replace("_", "")] = i

    def resolves(dep: str) -> bool:
        try:
            return dep in index or normalise_version(dep) in index
        except ValueError:
            return False

    for i, mig in enumerate(found):
        unresolved = not all(resolves(d) for d in mig.dependencies)
        line, value = _dependencies_header(mig) if unresolved else (None, "")
        if unresolved and prose_dependencies(value, resolves):
            warnings.append(
                f"{mig.path}:{line}: '-- Dependencies: {value}' reads as prose, not as "
                "migrations: not checked (to have it checked, list the files or versions it "
                "needs, comma-separated)"
            )
            found[i] = mig = replace(mig, dependencies=())
        for dep in mig.dependencies:
            j = index.get(dep)
            version = None
            if j is None:
                try:
                    version = normalise_version(dep)
                except ValueError:
                    version = None
                j = None if version is None else index.get(version)
            if j is None and version is not None and version < mig.version:
                # An older migration with no file: deleted (archived, squashed) after it
                # ran? Only the database can tell; `up` checks it (engine/plan.py), and
                # `status` still shows the database instead of stopping on the file.
                continue
            if j is None:
                raise MigrationFileError(
                    str(mig.path), f"unknown dependency {dep!r}", line=dependencies_line(mig)
                )
            if j >= i:
                raise MigrationFileError(
                    str(mig.path),
                    f"dependency {dep!r} is this migration itself"
                    if j == i
                    else f"dependency {dep!r} does not come before this migration",
                    line=dependencies_line(mig),
                )


def dependencies_line(mig: Migration) -> int | None:
    """The line of the ``-- Dependencies:`` header, for error messages."""
    return _dependencies_header(mig)[0]


def _dependencies_header(mig: Migration) -> tuple[int | None, str]:
    """The ``-- Dependencies:`` header's line and value as written."""
    for number, line in enumerate(mig.read_text().splitlines(), 1):
        m = _HEADER.match(line)
        if m and m[1].lower() == "dependencies":
            return number, m[2]
    return None, ""
