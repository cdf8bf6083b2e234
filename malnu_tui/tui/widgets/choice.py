"""A radio button whose mark is a symbol, not only a colour: ``●`` chosen, blank not."""

from __future__ import annotations

from textual.widgets import RadioButton


class ChoiceButton(RadioButton):
    @property
    def BUTTON_INNER(self) -> str:
        return "●" if self.value else " "

    @BUTTON_INNER.setter
    def BUTTON_INNER(self, _value: str) -> None:
        pass
