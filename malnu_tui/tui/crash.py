"""The console's crash report, secrets masked.

On an unhandled exception Textual prints a traceback with every frame's local variables. A
plain ``str`` local holding a database URL (``url``, ``dsn``, a ``--from`` source) printed its
password on the operator's terminal, and into whatever log or ticket the report was pasted.
The report built here is Textual's own (the same frames and locals), with the exception's
message, its notes and every local's repr masked as the CLI masks its ``error:`` lines:
registered secrets (the configured URLs' passwords, D1 tokens) and any ``user:password@``,
``password=`` or token. Strings are masked whole and only then shortened, so a long URL cut
at its password is never shown either.
"""

from __future__ import annotations

from rich.pretty import Node
from rich.traceback import Trace, Traceback

from malnu_tui.engine.monitor.debuglog import mask_secrets

# As Textual's report: containers of at most 5 items, strings of at most 80 characters.
LOCALS_MAX_LENGTH = 5
LOCALS_MAX_STRING = 80


def crash_report() -> Traceback:
    """The exception being handled, as Textual reports it, secrets masked (call it in the
    ``except`` block, as Textual does)."""
    import sys

    import rich

    exc_type, exc_value, tb = sys.exc_info()
    if exc_type is None or exc_value is None or tb is None:
        raise ValueError("crash_report() is called while an exception is handled")
    trace = Traceback.extract(
        exc_type,
        exc_value,
        tb,
        show_locals=True,
        locals_max_length=LOCALS_MAX_LENGTH,
        # Whole, so that a URL is masked whole; shortened after (rich's stub says int, its
        # code and docs take None: no limit).
        locals_max_string=None,  # type: ignore[arg-type]
    )
    mask_trace(trace)
    return Traceback(
        trace, show_locals=True, width=None, locals_max_length=LOCALS_MAX_LENGTH, suppress=[rich]
    )


def mask_trace(trace: Trace) -> None:
    """Mask, in place, what a rendered ``trace`` would print of values: messages and locals."""
    for stack in trace.stacks:
        stack.exc_value = mask_secrets(stack.exc_value)
        stack.notes = [mask_secrets(note) for note in stack.notes]
        if stack.syntax_error is not None:
            stack.syntax_error.line = mask_secrets(stack.syntax_error.line)
            stack.syntax_error.msg = mask_secrets(stack.syntax_error.msg)
        for frame in stack.frames:
            for node in (frame.locals or {}).values():
                _mask_node(node)
        for group in stack.exceptions:
            mask_trace(group)


def _mask_node(node: Node) -> None:
    node.key_repr = _shorten(mask_secrets(node.key_repr))
    node.value_repr = _shorten(mask_secrets(node.value_repr))
    for child in node.children or ():
        _mask_node(child)


def _shorten(text: str) -> str:
    """A string's repr over ``LOCALS_MAX_STRING`` characters cut as rich cuts it:
    ``'abc…'+N``."""
    if len(text) <= LOCALS_MAX_STRING + 2 or text[:1] not in ("'", '"') or text[-1] != text[0]:
        return text
    quote = text[0]
    inner = text[1:-1]
    return f"{quote}{inner[:LOCALS_MAX_STRING]}{quote}+{len(inner) - LOCALS_MAX_STRING}"
