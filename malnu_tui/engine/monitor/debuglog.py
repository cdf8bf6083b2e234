"""Debug mode: one line per statement as it runs and per D1 HTTP request, on stderr and (when
``[log] file`` is set) in a rotating log file; stdlib logging, secrets masked.

Turned on by ``MIGRATION_DEBUG=1`` (the guide's name), ``MALNU_DEBUG=1`` or ``--debug``. The
backends call :func:`statement` / :func:`http_request` only when :func:`enabled` is true, so the
normal path pays one attribute check per migration.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from malnu_tui.engine.private import hand_over, make_dirs

if TYPE_CHECKING:
    import logging

__all__ = [
    "ENV_VARS",
    "LOGGER_NAME",
    "configure",
    "debug_wanted",
    "enabled",
    "exception_text",
    "http_request",
    "mask_secrets",
    "one_line",
    "register_secret",
    "statement",
]

LOGGER_NAME = "malnu_tui.debug"
ENV_VARS = ("MIGRATION_DEBUG", "MALNU_DEBUG")
# logging is imported only when debug mode is configured: every CLI run imports this module
# (the backends do), and start-up time is measured.
_LOG: logging.Logger | None = None
_SECRETS: set[str] = set()
_ENABLED = False

_PATTERN_TEXT = (
    # user:password@ in any URL, up to its last @ (a password may hold a raw @ / ? # or :);
    # the user may be empty (postgresql://:password@host/db)
    (r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):\S*@", r"\1:***@"),
    # secret query / key=value parameters (sslpassword= too); one masked already (a URL
    # shown by mask_url) keeps the punctuation after it ("…?password=***: connection failed")
    (
        r"(?i)((?:password|passwd|pwd|token|secret|apikey|api_key|key)=)"
        r"(?!\*\*\*[:;,.!?)\]'\"]*(?:\s|$))[^&\s]+",
        r"\1***",
    ),
    (r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", r"\1***"),
    # incoming-webhook URLs carry their secret in the path
    (r"(?i)(https?://hooks\.slack\.com/)\S+", r"\1***"),
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = []  # compiled on first use (start-up time)


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it would appear in debug output and run-log errors."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def one_line(text: str) -> str:
    """``text``'s lines joined with ``; `` (each stripped, blank ones dropped): a message quoted
    from a driver over several lines (libpq's "Connection refused" and its tab-indented "Is the
    server running…") as the one line an `error:` line or a monitoring plugin's summary is."""
    if "\n" not in text and "\r" not in text:
        return text
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def exception_text(exc: BaseException) -> str:
    """``exc`` as a catch-all says it (a run's error in the run log, a doctor check, a health
    reading): a PostgreSQL error through :func:`.pg_sql.error_text` (psycopg's own text holds
    its detail whole: ``Key (api_token)=(…)``, "Failing row contains (…)"), else its text, or
    its type's name when it has none."""
    import sys

    psycopg = sys.modules.get("psycopg")  # (never imported here just to ask)
    if psycopg is not None and isinstance(exc, psycopg.Error):
        from malnu_tui.engine.backends.pg_sql import error_text

        return error_text(exc)
    return str(exc) or type(exc).__name__


def mask_secrets(text: str) -> str:
    """``text`` with registered secrets, URL passwords, tokens and webhook paths masked."""
    if not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    if not _PATTERNS:
        _PATTERNS.extend((re.compile(p), r) for p, r in _PATTERN_TEXT)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def debug_wanted(env: Mapping[str, str], flag: bool = False) -> bool:
    """Whether ``--debug`` or one of :data:`ENV_VARS` asks for debug mode."""
    from malnu_tui.engine.switches import switch

    wanted = [switch(name, env) for name in ENV_VARS]  # (a bad value refused, flag or not)
    return flag or any(wanted)


def configure(
    *,
    debug: bool,
    log_file: Path | None = None,
    max_bytes: int = 5 * 1024 * 1024,
    backups: int = 3,
    stream: TextIO | None = None,
    to_stderr: bool = True,
    said: Callable[[str], None] | None = None,
) -> str | None:
    """Set the debug logger up: stderr when ``debug``, plus a rotating ``log_file`` when given.
    The file gets the same lines (with a timestamp); without ``debug`` it is not written.
    A log file that cannot be opened is a warning returned, never a stop: debug lines are an
    aid (a cron job with ``MALNU_DEBUG=1`` still checks, migrates, backs up). One that cannot
    be written later (its disk full) is let go, said once through ``said``."""
    import io
    import logging
    import logging.handlers
    import sys

    where = "stderr only" if to_stderr else "nowhere"

    class MaskingFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return mask_secrets(super().format(record))

    class _OwnerOnlyFile(logging.handlers.RotatingFileHandler):
        """The debug log, readable by its owner only (as backups are): its lines name tables,
        files and the rows statements touched. Each file it opens, rotated ones too."""

        def _open(self) -> io.TextIOWrapper:
            fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)  # one left by an earlier run keeps its mode otherwise
            hand_over(fd, Path(self.baseFilename).parent)
            return io.TextIOWrapper(
                io.FileIO(fd, "a"), encoding=self.encoding, errors=self.errors, write_through=True
            )

        def handleError(self, record: logging.LogRecord) -> None:
            """A line the file cannot take (a full disk or quota, a file size limit): the file
            is let go and that said once. stdlib logging printed `--- Logging error ---` and a
            traceback to stderr for every later statement, the command going on under them."""
            exc = sys.exc_info()[1]
            if not isinstance(exc, OSError):
                super().handleError(record)
                return
            log.removeHandler(self)
            with contextlib.suppress(OSError):
                self.close()
            if said is not None:
                why = exc.strerror or exc
                said(f"[log] file {log_file} cannot be written ({why}): debug lines go to {where}")

    global _ENABLED, _LOG
    log = logging.getLogger(LOGGER_NAME)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    _ENABLED = debug
    _LOG = log if debug else None
    if not debug:
        log.setLevel(logging.WARNING)
        return None
    log.setLevel(logging.DEBUG)
    if to_stderr:
        err: logging.Handler = logging.StreamHandler(stream)
        err.setFormatter(MaskingFormatter("debug: %(message)s"))
        log.addHandler(err)
    if log_file is None:
        return None
    try:
        make_dirs(log_file.parent)
        fh = _OwnerOnlyFile(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as exc:
        why = exc.strerror or exc
        return f"[log] file {log_file} cannot be written ({why}): debug lines go to {where}"
    fh.setFormatter(MaskingFormatter("%(asctime)s %(message)s"))
    log.addHandler(fh)
    return None


def enabled() -> bool:
    """True when debug mode is on (cheap: the backends ask once per migration)."""
    return _ENABLED


_NAMES: dict[str, str] = {}


def name_target(display_url: str, name: str) -> None:
    """Remember the config name of the target at ``display_url`` (for ``target=`` in lines)."""
    _NAMES[display_url] = name


def statement(
    target: str, file: str, line: int, duration_ms: float, rows: int | None, error: str = ""
) -> None:
    """Log one statement that ran: ``target=… file=… line=… duration_ms=N rows=N`` (and
    ``FAILED: error`` for the one that failed). ``target`` is the backend's display URL (shown
    as the config name when known)."""
    if _LOG is None:
        return
    shown = "-" if rows is None or rows < 0 else str(rows)
    _LOG.debug(
        "statement target=%s file=%s line=%d duration_ms=%d rows=%s%s",
        _NAMES.get(target, target),
        file,
        line,
        round(duration_ms),
        shown,
        f" FAILED: {error}" if error else "",
    )


def http_request(method: str, url: str, status: int | str, duration_ms: float) -> None:
    """Log one HTTP request to D1: method, URL (no token is ever in it), status and time."""
    if _LOG is None:
        return
    _LOG.debug(
        "http %s %s status=%s duration_ms=%d", method, mask_secrets(url), status, round(duration_ms)
    )


def note(message: str) -> None:
    """Any other debug line (masked like the rest)."""
    if _LOG is not None:
        _LOG.debug("%s", message)
