"""Counting the named stops of one request: the distinct named project functions (under
services/ or shared/; lambdas and comprehensions are not stops) entered while it runs;
those of them first entered from another module (or from outside the project: a reader
opens another file to follow them); and the layers each call stack passes through, to check
that no layer is entered twice in one request (route -> adapter -> shared -> adapter is a
layer entered twice)."""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
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


# -- the chain that carries a message forward (issue 12's "named stops") --------------------
#
# A named stop is a project function (under services/ or shared/) on the chain of calls that
# carries the message forward: the project frames on the call stack at each hand-off of the
# path (the real Kafka producer asked to send an event the next leg consumes; the Graph API
# HTTP request), united over the path, distinct by qualified name. A side trip that returned
# before a hand-off (parsing, a signature check, a lookup) is on no such stack. When the
# hand-off runs in an asyncio task, the chain goes on through the frames that created the task
# (recorded by a task factory), so a group commit or a consumer's batch task does not cut it.

Stop = tuple[str, str]  # (module:qualified name, layer)


def _chain_layer(filename: str) -> str | None:
    """As `_layer`, but shared/ is a library of separate parts, not one layer: its module
    families (shared/consumer*.py, shared/outbox*.py, shared/messaging.py, …) are layers of
    their own (batch_handlers.py is the consumer's). With one `shared` layer, every consumer
    leg would read as a re-entry: the shared consumer loop calls the service's handler,
    which publishes through shared."""
    layer = _layer(filename)
    if layer != "shared":
        return layer
    family = Path(Path(filename).relative_to(ROOT / "shared").parts[0]).stem.split("_")[0]
    return f"shared.{_FAMILIES.get(family, family)}"


_FAMILIES = {"batch": "consumer"}  # shared/batch_handlers.py: the consumer's handler types


def _project_frames(frame: FrameType | None) -> list[Stop]:
    """The named project frames from `frame` outwards, innermost first."""
    stops: list[Stop] = []
    while frame is not None:
        layer = _chain_layer(frame.f_code.co_filename)
        if layer is not None and not frame.f_code.co_name.startswith("<"):
            module = Path(frame.f_code.co_filename).relative_to(ROOT).as_posix()
            stops.append((f"{module}:{frame.f_code.co_qualname}", layer))
        frame = frame.f_back
    return stops


def reentries(chain: Sequence[Stop], *, one_shared: bool = False) -> list[str]:
    """The layers a chain (outermost first) leaves and later enters again (`one_shared`:
    counting shared/ as one layer, for information)."""
    path: list[str] = []
    for _, layer in chain:
        layer = "shared" if one_shared and layer.startswith("shared.") else layer
        if not path or path[-1] != layer:
            path.append(layer)
    return sorted({layer for layer in path if path.count(layer) > 1})


@dataclass
class Chains:
    """Each hand-off seen, as (label, chain outermost first)."""

    handoffs: list[tuple[str, tuple[Stop, ...]]] = field(default_factory=list)

    @property
    def stops(self) -> set[str]:
        return {name for _, chain in self.handoffs for name, _ in chain}

    @property
    def reentered(self) -> dict[str, list[str]]:
        return {label: r for label, chain in self.handoffs if (r := reentries(chain))}

    def report(self) -> str:
        lines = [f"{len(self.stops)} named stops over {len(self.handoffs)} hand-offs"]
        for label, chain in self.handoffs:
            lines.append(f"  {label}:")
            lines += [f"    {layer:<22} {name}" for name, layer in chain]
        return "\n".join(lines)


# A hand-off is a call of one of these; the label function names it, or returns None for
# a call that is not on the path followed (another conversation's record, a Groq call).
Label = Callable[[FrameType], "str | None"]


@contextmanager
def following(handoffs: Mapping[CodeType, Label]) -> Iterator[Chains]:
    """Record the chain at each hand-off while the block runs (on the running loop)."""
    chains = Chains()
    created: weakref.WeakKeyDictionary[asyncio.Task[Any], tuple[Stop, ...]] = (
        weakref.WeakKeyDictionary()
    )

    def chain_here(frame: FrameType | None) -> tuple[Stop, ...]:
        task = asyncio.current_task()
        outer = created.get(task, ()) if task is not None else ()
        return outer + tuple(reversed(_project_frames(frame)))

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, context: Any = None
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, context=context)
        created[task] = chain_here(sys._getframe(1))
        return task

    entered: set[FrameType] = set()  # a coroutine's every resumption is a "call" too

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event == "call" and (label := handoffs.get(frame.f_code)) is not None:
            if frame in entered:
                return
            entered.add(frame)
            name = label(frame)
            if name is not None:
                chains.handoffs.append((name, chain_here(frame.f_back)))

    loop = asyncio.get_running_loop()
    previous_factory, previous_profile = loop.get_task_factory(), sys.getprofile()
    loop.set_task_factory(factory)
    sys.setprofile(profile)
    try:
        yield chains
    finally:
        sys.setprofile(previous_profile)
        loop.set_task_factory(previous_factory)
