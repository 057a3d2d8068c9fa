"""Dead letters: list, inspect and re-publish the records consumers parked on `<topic>.dlq`.

    python -m shared.deadletters list messages.outcomes.v1.dlq
    python -m shared.deadletters show messages.outcomes.v1.dlq 3
    python -m shared.deadletters republish messages.outcomes.v1.dlq --offset 3
    python -m shared.deadletters republish messages.outcomes.v1.dlq --all

A record goes back to the topic it came from (the `dlq-source` header), with its key and
original headers, once the cause is fixed. `--all` remembers what it re-published in the
consumer group `deadletters-republisher.<dlq topic>`, so running it again sends nothing
twice. Values are printed as stored, cut to `--width` characters (events hold ciphertext,
never a secret in clear).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.messaging import partitions_of

DLQ_HEADERS = ("dlq-reason", "dlq-error", "dlq-group", "dlq-source")


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    source: str
    group: str
    reason: str
    record: ConsumerRecord


def _header(record: ConsumerRecord, name: str) -> str:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return ""


def _letter(record: ConsumerRecord) -> DeadLetter:
    return DeadLetter(
        record.partition,
        record.offset,
        _header(record, "dlq-source"),
        _header(record, "dlq-group"),
        _header(record, "dlq-reason") or _header(record, "dlq-error"),
        record,
    )


async def read_all(servers: str, topic: str, group: str | None = None) -> list[DeadLetter]:
    """Every dead letter up to the end offsets seen at start (after `group`'s commits)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(servers, topic)]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                break
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                letters.extend(_letter(r) for r in records if r.offset < ends[tp])
        return letters
    finally:
        # aiokafka's stop of a manually assigned consumer can surface the cancellation of
        # its own background task; nothing is left to clean up then.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def republish(servers: str, letters: Sequence[DeadLetter]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for letter in letters:
            topic = letter.source.rsplit("/", 2)[0]
            if not topic:
                raise SystemExit(f"offset {letter.offset}: no dlq-source header, cannot tell")
            headers = [(k, v) for k, v in letter.record.headers or () if k not in DLQ_HEADERS]
            futures.append(
                await producer.send(
                    topic, letter.record.value, key=letter.record.key, headers=headers
                )
            )
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def _commit_through(
    servers: str, group: str, letters: Sequence[DeadLetter], topic: str
) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = {}
        for letter in letters:
            tp = TopicPartition(topic, letter.partition)
            offsets[tp] = max(offsets.get(tp, 0), letter.offset + 1)
        if offsets:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _main(args: argparse.Namespace) -> int:
    servers: str = args.bootstrap_servers
    if args.command == "list":
        for letter in await read_all(servers, args.topic):
            print(
                f"{letter.partition}/{letter.offset}\t{letter.source}\t{letter.group}\t"
                f"{letter.reason[: args.width]}"
            )
        return 0
    letters = await read_all(servers, args.topic)
    if args.command == "show":
        chosen = [letter for letter in letters if letter.offset == args.offset]
        for letter in chosen:
            print(f"partition/offset: {letter.partition}/{letter.offset}")
            print(f"source: {letter.source}  group: {letter.group}")
            print(f"reason: {letter.reason}")
            key = letter.record.key.decode("utf-8", "replace") if letter.record.key else None
            print(f"key: {key}")
            print(
                "value: "
                + bytes(letter.record.value or b"").decode("utf-8", "replace")[: args.width]
            )
        return 0 if chosen else 1
    group = f"deadletters-republisher.{args.topic}"
    if args.all:
        chosen = await read_all(servers, args.topic, group)
    else:
        chosen = [letter for letter in letters if letter.offset == args.offset]
    count = await republish(servers, chosen)
    if args.all:
        await _commit_through(servers, group, chosen, args.topic)
    print(f"re-published {count} record(s)")
    return 0 if chosen or args.all else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.deadletters", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--width", type=int, default=200, help="characters of each value shown")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per dead letter")
    listing.add_argument("topic")
    show = commands.add_parser("show", help="one dead letter in full")
    show.add_argument("topic")
    show.add_argument("offset", type=int)
    again = commands.add_parser("republish", help="send dead letters back to their topic")
    again.add_argument("topic")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int)
    which.add_argument("--all", action="store_true", help="every one not re-published before")
    args = parser.parse_args(argv)
    if not args.topic.endswith(".dlq"):
        parser.error("the topic must be a dead-letter topic (<topic>.dlq)")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
