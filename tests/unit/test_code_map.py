"""The README's code map stays true: every folder, table and topic it names exists, and
every one that exists is named (as test_deploy.py keeps the manifests true)."""

from __future__ import annotations

import re
from pathlib import Path

from shared.contracts.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("bench", "deploy", "devstack", "docs", "fakes", "infra", "migrations", "tests")


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Code map")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


def _mapped_paths() -> set[str]:
    return {m.group(1).rstrip("/") for m in re.finditer(r"^- `([^`]+)`", _section(), re.M)}


def _table_rows(header: str) -> dict[str, list[str]]:
    """Rows of the Markdown table whose header row starts with `| <header> |`."""
    lines = _section().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def _packages() -> set[str]:
    found = set()
    for base in ("services", "shared"):
        for init in (ROOT / base).rglob("__init__.py"):
            folder = init.parent.relative_to(ROOT).as_posix()
            if folder != "services":
                found.add(folder)
    return found


def test_every_named_path_exists() -> None:
    missing = sorted(p for p in _mapped_paths() if not (ROOT / p).exists())
    assert not missing, f"the code map names paths that do not exist: {missing}"


def test_every_package_and_top_level_folder_is_named() -> None:
    mapped = _mapped_paths()
    unnamed = sorted((_packages() | set(TOP_LEVEL)) - mapped)
    assert not unnamed, f"add these to the README's code map: {unnamed}"


def test_tables_and_their_owners_match_the_code() -> None:
    owners: dict[str, str] = {}
    for module in sorted((ROOT / "services").glob("*/adapters/*tables.py")):
        source = module.read_text()
        for name in re.findall(r'(?:Table|outbox_table)\(\s*"([a-z_]+)"', source):
            owners[name] = module.parts[-3]
    assert owners, "no table definitions found"
    mapped = {name: cells[0] for name, cells in _table_rows("table").items()}
    assert mapped == owners


def test_topics_match_the_contracts() -> None:
    assert set(_table_rows("topic")) == {spec.name for spec in ALL_TOPICS}
