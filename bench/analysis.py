"""From client-side send/ack times and the fakes' records to rates, percentiles and checks."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.fakes import GraphSend, ModelCall
from bench.load import Sent


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(values: Sequence[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for pct in (50, 95, 99):
        value = percentile(values, pct)
        out[f"p{pct}"] = None if value is None else round(value * 1000, 1)
    out["max"] = None if not values else round(max(values) * 1000, 1)
    return out


@dataclass
class EndToEnd:
    offered_rate: float | None
    sent: int
    acked: int
    ack_errors: int
    replies: int
    missing: int
    duplicates: int
    rate: float  # replies per second, first send → last reply
    steady_rate: float  # replies per second while sending, after a warm-up (see steady)
    send_rate: float  # acknowledged webhooks per second, first send → last ack
    tail_s: float  # last send → last reply: how far behind the pipeline was at the end
    overhead_ms: dict[str, float | None]  # ack → reply at Graph, minus model time waited on
    overhead_own_ms: dict[str, float | None]  # ack → reply at Graph, minus its own call only
    ack_ms: dict[str, float | None]  # send → 200
    total_ms: dict[str, float | None]  # send → reply at Graph (model time included)
    conversations: int
    out_of_order: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def steady(first_send: float, last_send: float, reply_times: list[float]) -> float:
    """Replies per second between the end of a warm-up (a tenth of the sending time, at
    most 5 s) and the last send: the offered rate if the pipeline keeps up, else its
    capacity, without the start-up and the drain at the end."""
    span = last_send - first_send
    skip = min(5.0, span / 10)
    start = first_send + skip
    if last_send <= start:
        return 0.0
    return sum(1 for at in reply_times if start <= at <= last_send) / (last_send - start)


def model_time_waited(start: float, end: float, calls: Sequence[ModelCall]) -> float:
    """How much of [start, end] its conversation spent in model calls (their union): a
    message that arrives while its conversation's previous call is still running waits for
    that call too, since replies keep their conversation's order. That wait is the model's
    time, not the pipeline's."""
    spans = sorted((max(start, c.started_at), min(end, c.started_at + c.seconds)) for c in calls)
    total, reached = 0.0, start
    for low, high in spans:
        low = max(low, reached)
        if high > low:
            total += high - low
            reached = high
    return total


def end_to_end(
    sent: list[Sent],
    graph: list[GraphSend],
    model: dict[str, ModelCall],
    offered_rate: float | None,
) -> EndToEnd:
    acked = [entry for entry in sent if entry.status == 200]
    counts = Counter(send.wamid for send in graph)
    first_reply: dict[str, GraphSend] = {}
    arrival: dict[str, int] = {}
    for index, send in enumerate(graph):
        if send.wamid not in first_reply:
            first_reply[send.wamid] = send
            arrival[send.wamid] = index
    calls: dict[str, list[ModelCall]] = defaultdict(list)
    for entry in acked:
        call = model.get(entry.message.wamid)
        if call is not None:
            calls[entry.message.conversation].append(call)
    overhead, overhead_own, total = [], [], []
    for entry in acked:
        reply = first_reply.get(entry.message.wamid)
        if reply is None:
            continue
        own = model.get(entry.message.wamid)
        waited = model_time_waited(entry.acked_at, reply.at, calls[entry.message.conversation])
        overhead.append(reply.at - entry.acked_at - waited)
        overhead_own.append(reply.at - entry.acked_at - (own.seconds if own else 0.0))
        total.append(reply.at - entry.sent_at)
    ours = {entry.message.wamid for entry in sent}
    replies = [first_reply[w] for w in ours if w in first_reply]
    first_send = min((entry.sent_at for entry in sent if entry.sent_at), default=0.0)
    last_reply = max((reply.at for reply in replies), default=first_send)
    last_ack = max((entry.acked_at for entry in acked), default=first_send)
    last_send = max((entry.sent_at for entry in sent), default=first_send)
    # order: per conversation, replies must arrive in the order the messages were sent
    by_conversation: dict[str, list[Sent]] = defaultdict(list)
    for entry in acked:
        by_conversation[entry.message.conversation].append(entry)
    out_of_order = 0
    for entries in by_conversation.values():
        order = [arrival[e.message.wamid] for e in entries if e.message.wamid in arrival]
        if order != sorted(order):
            out_of_order += 1
    return EndToEnd(
        offered_rate=offered_rate,
        sent=len(sent),
        acked=len(acked),
        ack_errors=len(sent) - len(acked),
        replies=len(replies),
        missing=sum(1 for entry in acked if entry.message.wamid not in first_reply),
        duplicates=sum(counts[w] - 1 for w in ours if counts[w] > 1),
        rate=len(replies) / (last_reply - first_send) if last_reply > first_send else 0.0,
        steady_rate=steady(first_send, last_send, [reply.at for reply in replies]),
        send_rate=len(acked) / (last_ack - first_send) if last_ack > first_send else 0.0,
        tail_s=round(max(0.0, last_reply - last_send), 2),
        overhead_ms=ms(overhead),
        overhead_own_ms=ms(overhead_own),
        ack_ms=ms([entry.acked_at - entry.sent_at for entry in acked]),
        total_ms=ms(total),
        conversations=len(by_conversation),
        out_of_order=out_of_order,
    )
