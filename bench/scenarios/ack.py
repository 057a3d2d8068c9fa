"""9. Webhook ack latency under load, measured apart from the replies: signed WhatsApp
webhooks offered at 80 msg/s for 30 s (quick: 10 s), the fake Groq answering in 300 ms
(every 50th call in 3 s), so the pipeline behind the gateway is busy with the same traffic.

Every message is its own conversation, so no send waits for an earlier ack: the offered rate
stays 80 msg/s whatever the acks do (a provider does not slow down because we are slow), and
each latency runs from the moment the message was due, waiting for a free connection of the
64 included. Meta asks for an ack median ≤ 250 ms and < 1 % over 1 s.
"""

from __future__ import annotations

from typing import Any

from bench.context import Run
from bench.fakes import ModelDelay
from bench.scenarios.model import SLOW_MODEL

RATE = 80.0


async def run_ack(run: Run) -> dict[str, Any]:
    seconds = 10.0 if run.quick else 30.0
    count = int(RATE * seconds)
    messages = run.messages(max(1, count // len(run.tenants)), 1)[:count]
    try:
        sent, result = await run.send_and_collect(
            messages, RATE, SLOW_MODEL, send_timeout_s=seconds + 60, drain_timeout_s=240
        )
    finally:
        await run.reset_fakes(ModelDelay())
    acks = [entry.acked_at - entry.sent_at for entry in sent if entry.status == 200]
    starts = [entry.sent_at for entry in sent if entry.sent_at]
    span = max(starts) - min(starts) if len(starts) > 1 else 0.0
    return {
        "offered_rate": RATE,
        "offered_s": seconds,
        # what the generator managed to offer (it shares the cores with everything else)
        "sent_rate": round((len(starts) - 1) / span, 1) if span else None,
        "ack_over_1s_pct": round(100 * sum(1 for a in acks if a > 1.0) / len(acks), 2)
        if acks
        else None,
        "e2e": result.as_dict(),
    }
