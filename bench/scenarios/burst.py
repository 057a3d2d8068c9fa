"""7. 1,000 messages at once across 10 tenants (100 conversations of 10): drain time, and
every message answered exactly once, in order within its conversation."""

from __future__ import annotations

from typing import Any

from bench.context import Run
from bench.fakes import ModelDelay


async def run_burst(run: Run) -> dict[str, Any]:
    per_tenant = 10  # customers; 10 messages each → 1,000 across 10 tenants
    messages = run.messages(per_tenant, 10)
    sent, result = await run.send_and_collect(
        messages, None, ModelDelay(), send_timeout_s=120, drain_timeout_s=180, grace_s=3.0
    )
    first = min(entry.sent_at for entry in sent)
    last_ack = max(entry.acked_at for entry in sent)
    drain_s = result.replies / result.rate if result.rate else None
    return {
        "messages": len(messages),
        "tenants": len(run.tenants),
        "e2e": result.as_dict(),
        "ingest_s": round(last_ack - first, 2),
        "drain_s": round(drain_s, 2) if drain_s else None,
        "exactly_once": result.missing == 0
        and result.duplicates == 0
        and result.acked == len(sent),
    }
