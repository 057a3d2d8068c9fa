"""8. The fake Groq answering in 300 ms (every 50th call in 3 s): a fixed offered rate of
conversations of 5 messages, each sent after the previous one's ack; msg/s, overhead
(latency minus the model's time) and order within each conversation."""

from __future__ import annotations

from typing import Any

from bench.context import Run
from bench.fakes import ModelDelay

SLOW_MODEL = ModelDelay(seconds=0.3, slow_every=50, slow_seconds=3.0)
RATE = 100.0


async def run_model(run: Run) -> dict[str, Any]:
    seconds = 4.0 if run.quick else 8.0
    per_customer = 5
    count = int(RATE * seconds)
    customers = max(1, count // (per_customer * len(run.tenants)))
    messages = run.messages(customers, per_customer)
    try:
        _, result = await run.send_and_collect(
            messages, RATE, SLOW_MODEL, send_timeout_s=seconds + 60, drain_timeout_s=120
        )
    finally:
        await run.reset_fakes(ModelDelay())
    return {"model": SLOW_MODEL.__dict__, "e2e": result.as_dict()}
