"""Error types carrying what an operator needs to act. The CLI maps ``exit_code`` to its exit
status; the TUI shows ``str(error)`` (and ``hint`` when set)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


class MalnuError(Exception):
    """Base of every expected failure. ``exit_code`` follows the CLI contract. ``report``: what
    the failed command left durable (the migrations applied before the one that failed, a
    recover's restore), as its JSON document; ``--json`` writes it on stdout before the
    ``error:`` line, where an error otherwise prints nothing on stdout (an interrupt carries
    one too: :func:`reporting`)."""

    exit_code = 1
    hint: str | None = None
    report: object = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


def durable_report(exc: BaseException) -> object:
    """What the command ``exc`` stopped left durable, as its JSON document (None: nothing
    said): a :class:`MalnuError`'s ``report``, or the one :func:`reporting` attached to an
    interrupt (Ctrl-C, SIGTERM) or a database driver's error."""
    return getattr(exc, "report", None)


@contextlib.contextmanager
def reporting(durable: Callable[[], object]) -> Iterator[None]:
    """Within the block, whatever stops the command (an error, Ctrl-C, SIGTERM) carries
    ``durable()``, what is durable as it stops (None: nothing), as its report, unless it
    carries one already (a failed file's, said where it failed)."""
    try:
        yield
    except BaseException as exc:
        if durable_report(exc) is None:
            with contextlib.suppress(Exception):  # (the stop goes on, said as it is)
                exc.report = durable()  # type: ignore[attr-defined]
        raise


class ConfigError(MalnuError):
    """Bad configuration, URL, option or usage (exit 2)."""

    exit_code = 2


class BadVersion(ConfigError, ValueError):
    """Text that is not a migration version (a ValueError too, for callers that probe)."""


class MigrationFileError(MalnuError):
    """A migration or rollback file is unusable; names the file (and line when known)."""

    exit_code = 2

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class MissingRollback(MalnuError):
    """A rollback file needed for the requested range is absent."""

    def __init__(self, filenames: list[str], gone: list[str] | None = None) -> None:
        hint = "write rollback/<version>_<name>.sql for each, or roll back fewer steps"
        if gone:  # rows whose migration file is gone too (a template's placeholder row…)
            hint += (
                f"; {', '.join(gone)} has no migration file either: if it never was a "
                "migration here, forget its row with `malnu-tui repair FILE` (audited)"
            )
        super().__init__("no rollback file for: " + ", ".join(filenames), hint=hint)
        self.filenames = filenames


class ChecksumDrift(MalnuError):
    """Applied files were edited after they ran."""

    def __init__(self, filenames: list[str]) -> None:
        super().__init__(
            "applied migration files changed since they ran: " + ", ".join(filenames),
            hint="restore the original file, or accept the edit with `malnu-tui repair` (audited)",
        )
        self.filenames = filenames


class RollbackEdited(MalnuError):
    """Rollback files changed since their migration was applied (engine/rollback_sums.py)."""

    def __init__(
        self,
        files: list[str],
        command: str = "rollback",
        sums: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        super().__init__(
            "rollback files changed since their migration was applied: "
            + "; ".join(files)
            + "; nothing was run",
            hint="read what changed (git log -p on the file) and restore the one reviewed, or "
            f"run the edited file with `{command} --accept-edited-rollback` (audited)",
        )
        self.files = files
        self.sums = sums  # (file, sha256 now, recorded), in full, for the console


class FailedMigrationPending(MalnuError):
    """Nothing to do but a recorded failure blocks or needs attention."""


@dataclass(frozen=True)
class LockHolder:
    owner: str
    host: str
    pid: int
    acquired_at: str
    expires_at: str | None = None
    note: str = ""
    # Seconds of lease left when the row was read, by the DATABASE's clock (D1's, the SQLite
    # file's host): a lease is never judged by the clock of the machine that reads it.
    lease_left: float | None = field(default=None, compare=False)
    # The lease's length and how often a running holder renews it, where a thread renews it
    # while the lock is held (D1): a lease renewed long ago says its holder has stopped.
    lease_seconds: float | None = field(default=None, compare=False)
    renewed_every: float | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, object]:
        """The lock as ``status --json`` and ``unlock --json`` print it (a contract)."""
        keys = ("owner", "host", "pid", "acquired_at", "expires_at", "note")
        return {k: getattr(self, k) for k in keys}

    def unrenewed(self) -> str | None:
        """Said of a lock whose lease its holder stopped renewing (three renewals missed:
        ended, killed, or cut off from the database, a failed command whose release could
        not reach D1), with when it lapses and what happens then; None while it is renewed
        (or where nothing renews it, or it has lapsed already: taken over as stale)."""
        if None in (self.lease_left, self.lease_seconds, self.renewed_every):
            return None
        assert self.lease_left is not None and self.lease_seconds is not None
        assert self.renewed_every is not None
        quiet = self.lease_seconds - self.lease_left
        if quiet < 3 * self.renewed_every or self.lease_left <= 0:
            return None
        return (
            f"its lease was last renewed {_minutes(quiet)} ago, and a running holder renews it "
            f"every {_minutes(self.renewed_every)}: that session has most likely ended (or "
            f"lost the database); the lease runs out in {_minutes(self.lease_left)} (at "
            f"{self.expires_at} UTC, by the database's clock), and the next command that "
            "takes the lock (`malnu-tui up`) then takes it over by itself, audited"
        )

    def describe(self) -> str:
        # UTC said: an operator on a WIB (UTC+7) box read a lock taken a minute ago as 7 h old
        text = f"{self.owner} on {self.host} (pid {self.pid}) since {self.acquired_at} UTC"
        if self.expires_at:
            text += f", lease until {self.expires_at} UTC"
        if self.note:
            text += f" [{self.note}]"
        return text


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class LockHeld(MalnuError):
    """Another operator holds the migration lock (exit 3)."""

    exit_code = 3

    def __init__(self, holder: LockHolder | None, detail: str = "") -> None:
        who = holder.describe() if holder else "another session"
        msg = f"another operator holds the migration lock: {who}"
        if detail:
            msg += f" ({detail})"
        quiet = holder.unrenewed() if holder else None
        # A lease no longer renewed: "wait for them to finish" waited on a command that had
        # ended (its release could not reach D1); the lock lapses by itself.
        hint = (
            f"{quiet}; to go on sooner, `malnu-tui unlock` once its owner confirms no one "
            "is working"
            if quiet
            else "wait for them to finish; if that process is dead, run `malnu-tui unlock`"
        )
        super().__init__(msg, hint=hint)
        self.holder = holder


class DatabaseBusy(MalnuError):
    """While this session holds the migration lock, another connection (an application, a
    ``sqlite3`` shell; not a malnu-tui operator) kept the database's write lock longer than
    the busy timeout (exit 3, as for a held lock). What was reported done stays applied."""

    exit_code = 3

    def __init__(
        self, path: str, seconds: float, *, doing: str = "", hint: str | None = None
    ) -> None:
        # ``doing`` names the step that waited when it is not a migration run (a restore, a
        # backup): the default message and hint are about ``up``/``rollback``.
        what = doing or "while this session held the migration lock"
        waited = f"for over {seconds:g} s " if seconds > 0 else ""  # 0: refused at once
        super().__init__(
            f"{path} is busy: another connection (not a malnu-tui operator) kept it locked "
            f"{waited}{what}",
            hint=hint
            or "what was reported done is applied; let that writer finish, then run again",
        )


class LockLeft(MalnuError):
    """The lock row could not be released: the database did not answer (D1 unreachable as a
    command ended). Its lease, no longer renewed, lapses by itself; the message is the
    database's error."""


class LockLost(MalnuError):
    """The migration lock row of this session was removed or taken over while it ran (an
    ``unlock`` from another session): what was not committed yet is rolled back and the run
    stops (exit 3), so nothing is ever committed without the lock."""

    exit_code = 3

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the migration lock of {path} was released by someone else while this session "
            "held it (`unlock` from another session?): the run stopped; what was not reported "
            "done was rolled back",
            hint="see `malnu-tui log` (the unlock is audited) and `malnu-tui status` before "
            "running again",
        )


# What a failed PostgreSQL statement's error ends with when the session's search_path names no
# schema that exists (backends/pg_sql.py): not the file's fault (engine/apply.py's hint).
NO_SCHEMA_ON_PATH = "names no schema that exists"


# A password a statement spells: quoted after PASSWORD (ALTER ROLE … PASSWORD '…', E'it\'s',
# CREATE USER … WITH ENCRYPTED PASSWORD "…", a user mapping's OPTIONS (password '…') or
# ("password" '…')), or unquoted in a role's statement (ALTER ROLE app PASSWORD s3cret).
_PASSWORD_WORD = r"(?i)\bpassword\"?\s+"
_QUOTED_PASSWORD = _PASSWORD_WORD + (
    r"(?:E'((?:[^'\\]|\\.|'')*)'|'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\")"
)
_ROLE_STATEMENT = r"(?i)^\s*(?:CREATE|ALTER)\s+(?:ROLE|USER|GROUP)\b"
_BARE_PASSWORD = _PASSWORD_WORD + r"([^\s;,()'\"]+)"


def _without_passwords(error: str, statement: str) -> str:
    """``error`` (what the server said of ``statement``) without the passwords ``statement``
    spells: the server quotes the word it stumbled on, and a password in double quotes (an
    identifier to PostgreSQL, MySQL's habit) or none was `syntax error at or near
    ""Hunter2""`, printed, kept in the tracking and audit rows, and quoted by `check` and
    its alerts (a Slack channel). The word stumbled on may be the password's first part
    only (`PASSWORD Sekolah#2024`: `at or near "Sekolah"`; `P@ssw0rd`: "P"), or the rest of
    the statement (a quote left open: `at or near "'Hunter2"`): masked too."""
    if "password" not in statement.lower():
        return error
    import re

    role = re.match(_ROLE_STATEMENT, statement) is not None
    values = ["".join(v) for v in re.findall(_QUOTED_PASSWORD, statement)]
    if role:
        values += re.findall(_BARE_PASSWORD, statement)
    for m in re.finditer(_PASSWORD_WORD, statement):
        rest = statement[m.end() :]
        if not (role or rest[:1] in ("'", '"', "$") or rest[:2].upper() == "E'"):
            continue  # (a column named password: the word after it is its type)
        for n in range(min(len(rest), len(error)), 0, -1):
            if (near := f'near "{rest[:n]}"') in error:
                error = error.replace(near, 'near "***"')
                break
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4 and value.upper() != "NULL":
            error = error.replace(value, "***")
    return error


class StatementFailed(MalnuError):
    """A statement of a migration failed; the whole migration was rolled back, except what
    ``left`` names (a statement outside a transaction that stopped half-way and could not be
    undone: a DROP INDEX CONCURRENTLY leaves its index INVALID)."""

    def __init__(
        self,
        filename: str,
        line: int,
        statement: str,
        error: str,
        left: str = "",
        *,
        hint: str | None = None,  # the database's own word on it (a full disk: which one)
    ) -> None:
        error = _without_passwords(error, statement)  # printed, kept, alerted on
        super().__init__(f"{filename}:{line}: {error}", hint=hint)
        self.filename = filename
        self.line = line
        self.statement = statement
        self.error = error
        self.left = left


class GroupCommitFailed(MalnuError):
    """The COMMIT of a group of migrations failed (engine/grouped.py): the whole group was
    rolled back; the engine runs its migrations again one per transaction, which names the
    one at fault. Never reaches an operator."""


class PlanChanged(MalnuError):
    """Under the lock the plan is no longer what the operator confirmed (another operator
    applied or rolled back meanwhile): nothing ran."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the database changed before the lock was taken ({detail}); nothing was run",
            hint="read `malnu-tui status` and run the command again if it is still wanted",
        )


class RecoverHalfDone(MalnuError):
    """A ``recover --to TIME`` stopped between its restore and its migrations (killed): the
    database holds neither its old state nor TIME's; work other than the recover is refused
    (engine/recover_state.py)."""


class NotConfirmed(MalnuError):
    """A destructive operation was not confirmed (no TTY and no --yes, or the answer was no)."""

    exit_code = 2


class OutputNotWritten(MalnuError):
    """The command's output could not be written to stdout (a full disk, a file it may not
    write): said in one line, exit 1, where every command printed a traceback (or Python's
    own exit 120 at its last flush). What the command did stands: its audit row says it."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(
            f"the output could not be written to stdout: {exc.strerror or exc}",
            hint="what the command did stands (`malnu-tui log` shows it); free the disk (or "
            "mend the file) stdout goes to, and ask for the output again",
        )


class NoTerminal(MalnuError):
    """The console was asked for (no command) where there is no terminal to draw on or read
    keys from: cron, CI, ``ssh host malnu-tui`` without ``-t`` (exit 2, a usage error)."""

    exit_code = 2


DAMAGED_HINT = (
    "the SQLite file itself is damaged: restore a backup over it (`malnu-tui backup restore "
    "ID` keeps the damaged file's copy as its pre-restore backup, not verified); if the "
    "restore cannot open it either, move it aside with its -wal and -shm files and restore "
    "again: the missing file is created and restored into"
)


def damaged_hint(detail: str) -> str:
    """The way out for SQLite's words ``detail``: a schema this SQLite cannot parse may be a
    sound file written by a newer SQLite (the app's, D1's), never to be restored over unseen."""
    if "malformed database schema" not in detail:
        return DAMAGED_HINT
    import sqlite3

    return (
        f"SQLite {sqlite3.sqlite_version} here cannot read this database's schema; if the "
        "application's SQLite is newer (syntax added since), the file may well be sound: "
        "check it with the application's own sqlite3 (`PRAGMA quick_check`) before restoring "
        "anything over it, and run malnu-tui with a Python whose SQLite is as new"
    )


def sqlite_damaged(exc: BaseException) -> bool:
    """Whether SQLite said the file is damaged (``database disk image is malformed``, ``file
    is not a database``), not busy, full or unreadable by permission."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


class DatabaseDamaged(MalnuError):
    """A SQLite database file that SQLite reads as damaged (exit 1), with the way out."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}", hint=damaged_hint(detail))


class BackendError(MalnuError):
    """The database could not be reached or answered with an error. ``sqlstate``: the
    PostgreSQL error's, where it says one (what it was, in any language the server speaks)."""

    sqlstate: str | None = None


class NotPermitted(BackendError):
    """The database refused for want of a privilege, or by a setting of the role's or the
    server's (a read-only session, row level security): the hint says what to grant or
    change. Exit 2, as for configuration: running again changes nothing."""

    exit_code = 2


class RowTooLarge(BackendError):
    """A row or value the destination cannot take (over D1's 2 MB a row), named by table, row
    and column before its batch is sent. Exit 2, as for bad input: the data has to change,
    running again changes nothing."""

    exit_code = 2


class NotInitialised(MalnuError):
    """A read-only command (``check``, ``history``) found no tracking table: malnu-tui has
    never used this database, or the URL names another one. It creates nothing there."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where} is not initialised by malnu-tui (no migrations table); nothing was "
            "created or changed",
            hint="check that the target's url names the database you mean; `malnu-tui status` "
            "on it creates the tool's tables",
        )


class ToolTablesElsewhere(ConfigError):
    """The target's configured PostgreSQL schema has no tool tables while another schema of
    the same database has them: most likely a typo in ``schema = "…"`` (or a line lost from
    the config). Creating fresh tables there would show every migration as pending and let
    ``up`` run the whole set again, so nothing is created."""

    def __init__(self, where: str, schema: str, found: list[tuple[str, int]]) -> None:
        names = ", ".join(f"{name!r} ({rows} tracking row(s))" for name, rows in found)
        first = found[0][0]
        super().__init__(
            f"{where}: schema {schema!r} has no malnu-tui tables, but {names} has them: "
            f"is the target's schema = {schema!r} a typo? nothing was created or changed",
            hint=f'set schema = "{first}" in the target\'s config; to keep a separate set of '
            f"migrations in {schema!r}, create its tracking table first: CREATE SCHEMA IF NOT "
            f'EXISTS "{schema}"; CREATE TABLE "{schema}".migrations (LIKE "{first}".migrations '
            "INCLUDING ALL)",
        )


class ForeignTrackingTable(ConfigError):
    """The database has a table named ``migrations`` that is not the tool's (no ``filename``
    and ``checksum`` columns): Laravel's and TypeORM's own history is kept in a table of that
    name. Nothing is read from or added to it."""

    def __init__(self, where: str, table: str, columns: str, hint: str) -> None:
        super().__init__(
            f"{where}: the table {table} there is not malnu-tui's (its columns: {columns}; "
            "Laravel and TypeORM keep their own migration history in a table of that name); "
            "nothing was changed",
            hint=hint,
        )


class SyncRefused(MalnuError):
    """A sync cannot run as asked: a destination table does not match the source's mapped
    schema, or a table has no key to match rows by. Nothing was written.

    Exit 2, as bad input and configuration are: nothing runs until the operator changes the
    schema, the config, a grant or the source's rows, so a retry of the same command fails
    the same way (it was 1, a sync that failed or found differences: cron and CI could not
    tell the two apart). ``failed``: the refusal reports what an earlier sync left (a full
    copy stopped before its key was built), exit 1."""

    exit_code = 2

    MISMATCH = (
        "make the destination table match the source's columns and mapped types (or drop it "
        "to have it created), then sync again"
    )
    NULL_KEY = (
        "give each such row a key value at the source (UPDATE … SET key = … WHERE key IS "
        "NULL) and make the column NOT NULL, or give the table a primary key; or leave the "
        "table out with --tables"
    )
    NO_KEY = (
        "give the source table a primary key or a unique index (rows are matched by it), or "
        "leave the table out with --tables"
    )
    CASE_CLASH = (
        "sync one of them (--tables), or rename one at the source; a PostgreSQL destination "
        "keeps both"
    )
    MIRROR_CASE = (
        "SQLite's names ignore case, and the sync finds a copy's table and columns so: drop "
        "or rename at the destination the one that is not the copy (the exact name is taken "
        "first), or leave the table out with --tables"
    )
    MIXED_KEY = (
        "store every key of the table as the one type its declared type says, at the source "
        "(SQLite keeps whatever it is given), or leave the table out with --tables"
    )

    def __init__(
        self, problems: list[str], hints: list[str] | None = None, *, failed: bool = False
    ) -> None:
        told = list(dict.fromkeys(hints or [self.MISMATCH]))
        super().__init__("sync refused: " + "; ".join(problems), hint="; also ".join(told))
        self.problems = problems
        if failed:
            self.exit_code = 1


class LintRefused(MalnuError):
    """A target with ``lint = "enforce"`` refuses ``up`` while a lint error remains."""

    def __init__(self, target: str, findings: list[str]) -> None:
        super().__init__(
            f'target {target} has lint = "enforce" and {len(findings)} lint error(s) remain: '
            + "; ".join(findings[:5])
            + ("; …" if len(findings) > 5 else ""),
            hint="fix them, accept one with `-- lint:ignore RULE reason` in the file, or run "
            "`malnu-tui up --accept-lint` (audited)",
        )
        self.findings = findings
