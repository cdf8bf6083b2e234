"""What a sync, its plan, its dry run and ``sync verify`` say when D1 stops one of their
requests at its 30 s (code 7429, :func:`.backends.d1.errors.is_timeout`). The client's hint is
a migration's ("split it into batches, each well under 30 s (a data migration …)"), which none
of them can do: a plan (the tables' counts), a dry run and a verification only read, a sync
writes chunks it sizes itself."""

from __future__ import annotations

from typing import Literal

__all__ = ["reworded"]

Doing = Literal["plan", "dry run", "verify", "sync", "whole"]

_HINTS: dict[Doing, str] = {
    "plan": (
        "D1 stops a request after 30 s and stopped one of the reads a sync and its dry run "
        "begin with ({t}'s rows counted, its columns read), before any row is copied: nothing "
        "was written. Run it again at a quieter hour (D1 serves the application's requests "
        "too), or leave {t} out with --tables"
    ),
    "dry run": (
        "D1 stops a request after 30 s and stopped one of this dry run's reads of {t} (a dry "
        "run only reads: nothing was written). The sync reads {t} the same way and would be "
        "stopped too: run it again at a quieter hour (D1 serves the application's requests "
        "too), or leave {t} out with --tables"
    ),
    "verify": (
        "D1 stops a request after 30 s and stopped one of this verification's reads of {t} "
        "(`sync verify` only reads: nothing was written): run it again at a quieter hour (D1 "
        "serves the application's requests too), or verify the other tables with --tables"
    ),
    "sync": (
        "D1 stops a request after 30 s and stopped one of this sync's on {t} (a chunk of rows "
        "written, or a read), rolled back whole: the chunks written before it stay, and the "
        "next sync resumes after them. A chunk into D1 is one request: lower the pair's "
        "chunk_rows, or look for a trigger of the copy's that makes each row slow; else run it "
        "again at a quieter hour, or leave {t} out with --tables"
    ),
    "whole": (
        "D1 stops a request after 30 s and stopped one of this sync's on {t}, rolled back "
        "whole: a table without a key is copied in one unit, so the copy was left as it was. "
        "Run it again at a quieter hour (D1 serves the application's requests too), give {t} "
        "a key at the source (then it is synced by chunks), or leave it out with --tables"
    ),
}


def reworded(exc: BaseException, table: str, doing: Doing) -> None:
    """Give ``exc``, D1 stopping a request of ``doing`` on ``table`` at its 30 s, the hint
    that fits what was being done: only where it still has the client's (a migration's); a
    hint of its own (a keyless table's swap: :data:`.whole_d1.SLOW_HINT`) is kept."""
    from malnu_tui.engine.backends.d1.errors import TIMEOUT_HINT, is_timeout

    if getattr(exc, "hint", None) == TIMEOUT_HINT and is_timeout(str(exc)):
        exc.hint = _HINTS[doing].format(t=table)  # type: ignore[attr-defined]
