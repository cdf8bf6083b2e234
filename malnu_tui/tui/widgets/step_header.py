"""The title line of a wizard: where the operator is and what comes next."""

from __future__ import annotations

from rich.text import Text

from malnu_tui.tui.widgets.plain import Static


class StepHeader(Static):
    DEFAULT_CLASSES = "step-header"

    def __init__(self, title: str, steps: tuple[str, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.steps = steps

    def on_mount(self) -> None:
        self.show_step(0)

    def show_step(self, index: int) -> None:
        text = Text()
        text.append(f"{self.title} ", style="bold")
        text.append(f"· step {index + 1} of {len(self.steps)}: ")
        text.append(self.steps[index], style="bold reverse")
        if index + 1 < len(self.steps):
            text.append(f"  → next: {self.steps[index + 1]}", style="dim")
        self.update(text)
