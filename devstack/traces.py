"""Print the span tree of one message or trace from the local trace sink.

python -m devstack.traces <trace id | message id> [--sink http://127.0.0.1:4318]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from typing import Any

import httpx


def fetch(sink: str, key: str) -> list[dict[str, Any]]:
    param = "trace_id" if re.fullmatch(r"[0-9a-f]{32}", key) else "message_id"
    spans: list[dict[str, Any]] = httpx.get(f"{sink}/spans", params={param: key}, timeout=10).json()
    return spans


def render(spans: list[dict[str, Any]]) -> str:
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in by_id else None
        children[parent].append(span)
    lines: list[str] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        took = (span["end_ns"] - span["start_ns"]) / 1e6
        status = "" if span["status"] in ("STATUS_CODE_UNSET", "STATUS_CODE_OK") else " ERROR"
        lines.append(
            f"{'  ' * depth}{span['service'] or '?':<10} {span['name']}  {took:.1f} ms{status}"
        )
        for child in sorted(children[span["span_id"]], key=lambda s: s["start_ns"]):
            walk(child, depth + 1)

    for root in sorted(children[None], key=lambda s: s["start_ns"]):
        lines.append(f"trace {root['trace_id']}")
        walk(root, 1)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("id", help="a trace id (32 hex) or a message id")
    parser.add_argument("--sink", default="http://127.0.0.1:4318")
    args = parser.parse_args()
    try:
        spans = fetch(args.sink, args.id)
    except httpx.HTTPError as exc:
        print(f"cannot reach the trace sink at {args.sink}: {exc}", file=sys.stderr)
        return 2
    if not spans:
        print(f"no spans for {args.id} (spans are exported a few seconds after the work)")
        return 1
    print(render(spans))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
