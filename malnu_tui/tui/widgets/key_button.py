"""A button that says in words when it cannot be pressed: greyed alone, it read as usable with
NO_COLOR, in mono or on 16 colours ("Release lock", "Next ▶ (n)" looked like any other button,
and their key did nothing). While disabled, its key in brackets gives way to why:
"Next ▶ (blocked)", "Release lock (blocked)", "◀ Back (wait)". Every wizard's buttons and every
dialog's typed-confirmation button are one."""

from __future__ import annotations

import re

from textual.widgets import Button
from textual.widgets.button import ButtonVariant

_KEY = re.compile(r"\s*\([^()]*\)$")


def unavailable(label: str, why: str) -> str:
    """``label`` as shown while its key does nothing: "Next ▶ (n)" → "Next ▶ (blocked)"."""
    return f"{_KEY.sub('', label)} ({why})"


class KeyButton(Button):
    """A :class:`Button` whose label, while it is disabled, ends in ``(why)`` in place of its
    key (``why`` is "blocked" until the step or the typed word allows it, "wait" while work
    runs). Set its usable label with :meth:`show` (not ``label``), enable it as any widget."""

    def __init__(
        self,
        label: str,
        *,
        why: str = "blocked",
        id: str | None = None,
        variant: ButtonVariant = "default",
        disabled: bool = False,
    ) -> None:
        super().__init__(label, id=id, variant=variant, compact=True, disabled=disabled)
        self.ready_label = label
        self.why = why
        self._relabel()

    def show(self, label: str | None = None, why: str | None = None) -> None:
        """The label when usable and the reason when not; shown as the state says now."""
        if label is not None:
            self.ready_label = label
        if why is not None:
            self.why = why
        self._relabel()

    def watch_disabled(self, disabled: bool) -> None:
        super().watch_disabled(disabled)
        self._relabel()

    def _relabel(self) -> None:
        # (A hidden one keeps its usable label: the wizards hide Back on their first step.)
        off = self.disabled and self.display
        shown = unavailable(self.ready_label, self.why) if off else self.ready_label
        if str(self.label) != shown:
            self.label = shown
            if self.is_attached:
                self.refresh(layout=True)  # its width, in a row aligned right
