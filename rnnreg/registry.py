"""A name → class registry that remembers where each name came from.

Hooks *register* classes here (as tox and simonw/llm do); picking one by name is the registry's job, not
a hook call. A duplicate name is an error naming both origins; an unknown name suggests the closest ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rnnreg.errors import RnnregError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    cls: T
    origin: str  # "built-in", "dist==version" or a file path


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # "regularizer", "task" or "observer", used in messages
        self._entries: dict[str, Entry[T]] = {}
        self.built: dict[tuple, Any] = {}  # what was built from these entries, once (rnnreg.regularizer)

    def add(self, cls: T, origin: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise RnnregError(f"{self.kind} class {cls!r} from {origin} has no `name` attribute")
        if "+" in name or "=" in name or name != name.strip():
            raise RnnregError(f"{self.kind} name {name!r} from {origin} may not contain '+', '=' or spaces")
        if name in self._entries:
            first = self._entries[name].origin
            raise RnnregError(f"duplicate {self.kind} name {name!r}: registered by {first} and by {origin}")
        self._entries[name] = Entry(name, cls, origin)

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise RnnregError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._entries))})"

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)


def check_declares_only(cls: type, interface: tuple[str, ...], own: tuple[type, ...], where: str, kind: str,
                        verb: str = "use") -> None:
    """A plugin class declares only what rnnreg reads (`interface`): any other public name would be a
    promise rnnreg does not keep, so it is an error naming it. rnnreg's own base classes (`own`) are
    not checked; helpers start with '_'."""
    for klass in cls.__mro__:
        if klass in own or klass is object:
            continue
        for attr in vars(klass):
            if not attr.startswith("_") and attr not in interface:
                raise RnnregError(f"{where}: defines {attr!r}, which rnnreg does not {verb} "
                                  f"({kind} declares {', '.join(interface)}; helpers start with '_')")
