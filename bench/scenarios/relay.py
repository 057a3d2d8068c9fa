"""3. The transport ceiling: a raw aiokafka relay over 3 topics on the same broker."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.analysis import ms
from bench.context import Run
from bench.procs import Child

PARTITIONS = 12  # as the message topics


async def _create_topics(servers: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


async def _wait_file(path: Path, children: list[Child], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(path.exists):
        for child in children:
            if child.proc is not None and child.proc.poll() not in (None, 0):
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} not written within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def run_relay(run: Run) -> dict[str, Any]:
    count = run.scale(20_000, 5_000)
    servers = run.stack.infra.kafka
    tag = uuid.uuid4().hex[:8]
    topics = [f"bench.relay.{tag}.t{n}" for n in (1, 2, 3)]
    await _create_topics(servers, topics)
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        out = Path(tmp)
        env = {"KAFKA_BOOTSTRAP_SERVERS": servers}

        def child(name: str, *args: str) -> Child:
            return Child(
                f"relay-{name}", "bench.relay", 0, env, run.log_dir, [*args, "--out", str(out)]
            )

        consumers = [
            child("stage1", "stage", "--src", topics[0], "--dst", topics[1], "--group",
                  f"relay1-{tag}", "--name", "stage1"),
            child("stage2", "stage", "--src", topics[1], "--dst", topics[2], "--group",
                  f"relay2-{tag}", "--name", "stage2"),
            child("sink", "sink", "--topic", topics[2], "--group", f"sink-{tag}",
                  "--count", str(count)),
        ]  # fmt: skip
        source = child("source", "source", "--topic", topics[0], "--count", str(count))
        try:
            for process in consumers:
                process.start()
            for name in ("stage1", "stage2", "sink"):
                await _wait_file(out / f"{name}.ready", consumers, 60)
            source.start()
            await _wait_file(out / "sink.json", [*consumers, source], 120)
            sink = json.loads((out / "sink.json").read_text())
            started = json.loads((out / "source.json").read_text())["started"]
        finally:
            for process in [source, *consumers]:
                process.stop()
    seconds = float(sink["last"]) - float(started)
    return {
        "records": int(sink["count"]),
        "hops": 3,
        "rate": round(int(sink["count"]) / seconds, 1) if seconds > 0 else None,
        "seconds": round(seconds, 2),
        "latency_ms_under_flood": ms(sink["latencies"]),
    }
