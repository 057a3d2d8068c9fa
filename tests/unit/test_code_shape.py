"""Issue 12's size rules kept: no module under services/ or shared/ over 300 lines, and no
function over 50 lines (signature included), so a reader sees each step by name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services", "shared")
MAX_LINES = 300
MAX_FUNCTION_LINES = 50
# A module that must stay longer would be named here, with the reason; none does.
ALLOWED: set[str] = set()
# Functions that may stay longer, each off the request path, with the reason ("path:name").
ALLOWED_FUNCTIONS: dict[str, str] = {
    # The AsyncAPI document is the list of every topic's subscriber and publisher
    # declarations, read top to bottom like the table it generates; run by `make asyncapi`.
    "shared/contracts/asyncapi.py:build_specification": "a declaration list, offline only",
    # The replay commands' log reader: one consumer loop with its end-of-log and idle
    # conditions side by side; an operator's rebuild, never a request.
    "shared/replay/log.py:read_log": "one loop whose exits read together, replay only",
    # One SQL statement (full outer join of the live and the rebuilt table) built in one
    # place; run by the shadow replay, never a request.
    "shared/replay/shadow.py:compare": "one statement built in one place, replay only",
}


def _modules() -> list[tuple[str, Path]]:
    return [
        (path.relative_to(ROOT).as_posix(), path)
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]


def _too_long() -> dict[str, int]:
    found = {}
    for name, path in _modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in ALLOWED:
            found[name] = lines
    return found


def _function_lengths() -> dict[str, int]:
    """Every function's length, `path:name` (nested functions and methods included)."""
    lengths: dict[str, int] = {}
    for name, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                key = f"{name}:{node.name}"
                lengths[key] = max(lengths.get(key, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_module_over_300_lines() -> None:
    assert _too_long() == {}, "split these modules (one job each)"


def test_allow_list_names_existing_files() -> None:
    assert all((ROOT / name).is_file() for name in ALLOWED)


def test_no_function_over_50_lines() -> None:
    too_long = {
        name: lines
        for name, lines in _function_lengths().items()
        if lines > MAX_FUNCTION_LINES and name not in ALLOWED_FUNCTIONS
    }
    assert too_long == {}, "split these functions into named steps"


def test_function_allow_list_is_current() -> None:
    """Each allowed function exists and is still over the limit (else its entry goes)."""
    lengths = _function_lengths()
    stale = [name for name in ALLOWED_FUNCTIONS if lengths.get(name, 0) <= MAX_FUNCTION_LINES]
    assert stale == []
