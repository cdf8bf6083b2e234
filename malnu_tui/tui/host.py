"""What screens need of the app, as small protocols: screens never import the app module (it
imports them), they check ``isinstance(self.app, OperationHost)`` instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target


@runtime_checkable
class OperationHost(Protocol):
    """The one operation at a time: a screen claims the app before it starts a destructive
    or long operation and releases it when done."""

    def begin_operation(self, name: str) -> bool:
        """Claim the app for ``name``; False (and a notice) when another one is running."""
        ...

    def end_operation(self) -> None: ...


@runtime_checkable
class TargetsHost(Protocol):
    """The configured targets (the command palette offers a switch to each)."""

    @property
    def targets(self) -> Sequence[Target]: ...


def begin_operation(app: object, name: str) -> bool:
    """Claim ``app`` for ``name`` (True when the app has no such rule, e.g. a test harness)."""
    return app.begin_operation(name) if isinstance(app, OperationHost) else True


def end_operation(app: object) -> None:
    if isinstance(app, OperationHost):
        app.end_operation()
