"""Counting the named stops of one request: the distinct named project functions (under
services/ or shared/; lambdas and comprehensions are not stops) entered while it runs;
those of them first entered from another module (or from outside the project: a reader
opens another file to follow them); and the layers each call stack passes through, to check
that no layer is entered twice in one request (route -> adapter -> shared -> adapter is a
layer entered twice)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_PROJECT = (str(ROOT / "services") + "/", str(ROOT / "shared") + "/")


def _layer(filename: str) -> str | None:
    """services/<service>/<layer>/… -> '<service>.<layer>'; shared/… -> 'shared'."""
    if not filename.startswith(_PROJECT):
        return None
    parts = Path(filename).relative_to(ROOT).parts
    if parts[0] == "shared":
        return "shared"
    return f"{parts[1]}.{parts[2]}" if len(parts) > 3 else parts[1]


def _caller_file(frame: FrameType) -> str | None:
    """The file of the nearest project function below `frame` (None: none, the framework
    or the test called it)."""
    current = frame.f_back
    while current is not None and _layer(current.f_code.co_filename) is None:
        current = current.f_back
    return current.f_code.co_filename if current is not None else None


@dataclass
class Stops:
    functions: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    from_another_module: set[str] = field(default_factory=set)
    reentered: set[tuple[str, ...]] = field(default_factory=set)

    def _called(self, frame: FrameType) -> None:
        layer = _layer(frame.f_code.co_filename)
        if layer is None or frame.f_code.co_name.startswith("<"):
            return  # not project code, or a lambda or comprehension: no named stop
        module = Path(frame.f_code.co_filename).relative_to(ROOT).as_posix()
        self.modules.add(module)
        name = f"{module}:{frame.f_code.co_qualname}"
        if name not in self.functions and _caller_file(frame) != frame.f_code.co_filename:
            self.from_another_module.add(name)
        self.functions.add(name)
        path: list[str] = []
        current: FrameType | None = frame
        while current is not None:
            outer = _layer(current.f_code.co_filename)
            if outer is not None and (not path or path[-1] != outer):
                path.append(outer)
            current = current.f_back
        if len(set(path)) < len(path):
            self.reentered.add(tuple(reversed(path)))


@contextmanager
def counting() -> Iterator[Stops]:
    stops = Stops()

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event == "call":
            stops._called(frame)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield stops
    finally:
        sys.setprofile(previous)
