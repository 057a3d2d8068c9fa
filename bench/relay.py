"""The transport ceiling: a raw aiokafka relay through as many topics as the pipeline
(received → identified → outcomes), on the same broker, each hop its own process.

  source → t1 → stage → t2 → stage → t3 → sink

Producers are set up like the services' (acks=all, idempotence, linger 1 ms) and consumers
poll like theirs (fetch_max_wait 10 ms); but a stage forwards a whole fetched batch and
commits once per batch, with no database, no parsing and no per-record tasks.

  python -m bench.relay source --topic T --count N --out DIR
  python -m bench.relay stage --src T1 --dst T2 --group G --out DIR --name NAME
  python -m bench.relay sink --topic T --group G --count N --out DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

PAYLOAD_BYTES = 600  # about the size of a MessageReceived event
KEYS = 1000


def _producer(servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=servers, acks="all", enable_idempotence=True, linger_ms=1
    )


def _consumer(servers: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )


async def _wait_assigned(consumer: AIOKafkaConsumer, ready: Path) -> None:
    for _ in range(1200):  # a minute at most
        if consumer.assignment():
            break
        await asyncio.sleep(0.05)
    # the first fetch resolves the start positions; then we are really ready
    await consumer.getmany(timeout_ms=200)
    await asyncio.to_thread(ready.touch)


async def source(servers: str, topic: str, count: int, out: Path) -> None:
    producer = _producer(servers)
    await producer.start()
    padding = "x" * PAYLOAD_BYTES
    try:
        started = time.time()
        pending = []
        for index in range(count):
            value = json.dumps({"i": index, "t": time.time(), "pad": padding}).encode()
            pending.append(await producer.send(topic, value, key=str(index % KEYS).encode()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        (out / "source.json").write_text(json.dumps({"started": started, "done": time.time()}))
    finally:
        await producer.stop()


async def stage(servers: str, src: str, dst: str, group: str, out: Path, name: str) -> None:
    consumer = _consumer(servers, src, group)
    producer = _producer(servers)
    await producer.start()
    await consumer.start()
    try:
        await _wait_assigned(consumer, out / f"{name}.ready")
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            futures = [
                await producer.send(dst, record.value, key=record.key)
                for records in batches.values()
                for record in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def sink(servers: str, topic: str, group: str, count: int, out: Path) -> None:
    consumer = _consumer(servers, topic, group)
    await consumer.start()
    try:
        await _wait_assigned(consumer, out / "sink.ready")
        seen, first, latencies = 0, 0.0, []
        while seen < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            now = time.time()
            for records in batches.values():
                for record in records:
                    if not first:
                        first = now
                    seen += 1
                    latencies.append(now - json.loads(record.value)["t"])
            if batches:
                await consumer.commit()
        result = {"count": seen, "first": first, "last": time.time(), "latencies": latencies}
        tmp = out / "sink.json.tmp"
        tmp.write_text(json.dumps(result))
        os.replace(tmp, out / "sink.json")
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw aiokafka relay")
    parser.add_argument("role", choices=["source", "stage", "sink"])
    parser.add_argument("--servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    parser.add_argument("--topic", default="")
    parser.add_argument("--src", default="")
    parser.add_argument("--dst", default="")
    parser.add_argument("--group", default="")
    parser.add_argument("--name", default="stage")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.role == "source":
        asyncio.run(source(args.servers, args.topic, args.count, args.out))
    elif args.role == "stage":
        asyncio.run(stage(args.servers, args.src, args.dst, args.group, args.out, args.name))
    else:
        asyncio.run(sink(args.servers, args.topic, args.group, args.count, args.out))


if __name__ == "__main__":
    main()
