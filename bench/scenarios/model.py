"""8. The fake Groq answering in 300 ms (every 50th call in 3 s) at 80 msg/s offered for
60 s (quick: 20 s): msg/s achieved, overhead (latency minus the model's time), and order
within each conversation.

Conversations of 5 messages, each sent after the previous one's ack. They come in waves
of 80 conversations (one second of load per round), so a customer's messages are about a
second apart: a 3 s call makes the next two or three wait behind it, which is what the
order check is for. Their wait is the model's time, not the pipeline's: the overhead
subtracts the model time a message waited on (its own call and what remained of its
conversation's earlier ones); the figure that subtracts its own call only is kept beside it.
Under that older figure no order-keeping system could meet p99 < 1 s here: the message acked
1 s into a 3 s call cannot be answered before that call ends, 1.7 s of "overhead" for 2 % of
messages.
"""

from __future__ import annotations

from typing import Any

from bench.context import Run
from bench.fakes import ModelDelay
from bench.webhook import Message

SLOW_MODEL = ModelDelay(seconds=0.3, slow_every=50, slow_seconds=3.0)
RATE = 80.0
PER_CUSTOMER = 5


def waves(run: Run, rate: float, seconds: float) -> list[Message]:
    """`rate * seconds` messages in waves of `rate` conversations of PER_CUSTOMER each."""
    customers = max(1, int(rate) // len(run.tenants))  # per tenant and wave
    per_wave = customers * len(run.tenants) * PER_CUSTOMER
    out: list[Message] = []
    for _ in range(max(1, round(rate * seconds / per_wave))):
        out.extend(run.messages(customers, PER_CUSTOMER))
    return out


async def run_model(run: Run) -> dict[str, Any]:
    seconds = 20.0 if run.quick else 60.0
    messages = waves(run, RATE, seconds)
    before = run.cpu_now()
    try:
        _, result = await run.send_and_collect(
            messages, RATE, SLOW_MODEL, send_timeout_s=seconds + 60, drain_timeout_s=240
        )
    finally:
        await run.reset_fakes(ModelDelay())
    after = run.cpu_now()
    per = max(result.replies, 1)
    return {
        "model": SLOW_MODEL.__dict__,
        "offered_rate": RATE,
        "offered_s": seconds,
        "e2e": result.as_dict(),
        "cpu_ms_per_message": {
            name: round((after[name] - before.get(name, 0.0)) * 1000 / per, 2) for name in after
        },
    }
