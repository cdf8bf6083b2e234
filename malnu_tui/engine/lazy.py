"""``cached``: :func:`functools.cached_property` without its lock (as Python 3.12 has it).

Python 3.11's ``cached_property`` takes a lock on every first access; statements and files
are read in thousands (an ``up`` of 1,000 migrations computes several values of each once),
and frozen values are computed from immutable data, so a rare double computation by two
threads gives the same value: no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached"]

T = TypeVar("T")


class cached(Generic[T]):
    """The value is computed on first access and stored in the instance's ``__dict__`` (which
    then answers every later access), also on frozen dataclasses."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | cached[T]:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value
