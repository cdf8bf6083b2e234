"""``cached``: :func:`functools.cached_property` without its lock (as Python 3.12 has it);
``lazy_exports``: a package's ``__getattr__`` that imports a name's module on first use.

Python 3.11's ``cached_property`` takes a lock on every first access; statements and files
are read in thousands (an ``up`` of 1,000 migrations computes several values of each once),
and frozen values are computed from immutable data, so a rare double computation by two
threads gives the same value: no lock is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached", "lazy_exports"]

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


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` (PEP 562) for ``package``: ``name`` is imported from the
    submodule ``where[name]`` on first use, so importing the package loads none of them (a
    process that needs one light module does not pay for the heavy ones). The package imports
    the same names under ``TYPE_CHECKING`` for the type checker."""

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__
