"""The replay command every read-model owner exposes (services/<svc>/entrypoints/replay.py).

    python -m services.<svc>.entrypoints.replay [--compare | --swap] [--force] [--keep-shadow]

Rebuilds the owner's read models from the topics into `replay_<svc>.*`, compares them with
the live tables and prints the differences. Exit codes: 0 identical (after --swap: swapped
and now identical), 1 different, 2 the replay could not run, 3 --swap refused because the
live writers are running (their consumer groups have members; --force overrides).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.logging import configure_logging
from shared.replay.log import Apply, TopicRead, read_log
from shared.replay.shadow import Diff, ReadModel, Shadow
from shared.settings import load_settings

IDENTICAL, DIFFERENT, FAILED, REFUSED = 0, 1, 2, 3


@dataclass(frozen=True)
class ReplayPlan:
    service: str
    topics: tuple[str, ...]
    read_models: tuple[ReadModel, ...]
    # Consumer groups whose handlers write the live tables: --swap waits for them to stop.
    writers: tuple[str, ...]
    # Builds the live consumer's projection code on the engine it is given (the shadow one).
    projection: Callable[[AsyncEngine], Apply]


class ReplaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = Field(min_length=1)
    database_url: str = Field(pattern=r"^postgresql\+asyncpg://")
    log_level: str = "WARNING"


def main(plan: ReplayPlan, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{plan.service}.entrypoints.replay",
        description=f"Rebuild {plan.service}'s read models "
        f"({', '.join(m.table.name for m in plan.read_models)}) from {', '.join(plan.topics)} "
        "and compare them with the live tables.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compare", action="store_true", help="compare only (the default)")
    mode.add_argument("--swap", action="store_true", help="replace the live rows by the rebuilt")
    parser.add_argument("--force", action="store_true", help="swap even while writers run")
    parser.add_argument("--keep-shadow", action="store_true", help="keep replay_<svc>.* after")
    args = parser.parse_args(argv)
    settings = load_settings(ReplaySettings)
    configure_logging(f"{plan.service}-replay", "console", settings.log_level)
    try:
        return asyncio.run(_run(plan, settings, args.swap, args.force, args.keep_shadow))
    except Exception as exc:
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"replay {plan.service}: failed: {type(exc).__name__}: {reason}")
        return FAILED


async def _run(
    plan: ReplayPlan, settings: ReplaySettings, swap: bool, force: bool, keep: bool
) -> int:
    say = _printer(plan.service)
    if swap and not force:
        running = await active_members(settings.kafka_bootstrap_servers, plan.writers)
        if running:
            groups = ", ".join(f"{group} ({n})" for group, n in running.items())
            say(
                f"refusing to swap while the live writers run: {groups} have members; stop "
                "them first (their new rows would be lost) or pass --force"
            )
            return REFUSED
    engine = make_engine(settings.database_url, pool_size=5)
    shadow = Shadow(engine, f"replay_{plan.service}", plan.read_models)
    try:
        async with engine.connect() as lock:
            # One replay per owner at a time: they would share the shadow schema.
            if not await lock.scalar(
                text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": shadow.schema}
            ):
                say("another replay of this service is running")
                return FAILED
            await lock.commit()
            await shadow.create()
            try:
                reads = await read_log(
                    settings.kafka_bootstrap_servers, plan.topics, plan.projection(shadow.engine)
                )
                for read in reads:
                    say(_read_line(read))
                diffs = [await shadow.compare(model) for model in plan.read_models]
                for model, diff in zip(plan.read_models, diffs, strict=True):
                    _report(say, diff)
                    for column, why in model.ignored.items():
                        say(f"  not compared: {model.table.name}.{column}: {why}")
                if swap:
                    await shadow.swap(plan.read_models)
                    diffs = [await shadow.compare(model) for model in plan.read_models]
                    for model, diff in zip(plan.read_models, diffs, strict=True):
                        say(f"swapped in: {model.table.name} now {diff.live_rows} rows")
                        _report(say, diff)
            finally:
                if keep:
                    say(f"rebuilt tables kept in schema {shadow.schema}")
                else:
                    await shadow.drop()
        return IDENTICAL if all(diff.identical for diff in diffs) else DIFFERENT
    finally:
        await engine.dispose()


async def active_members(bootstrap_servers: str, groups: Sequence[str]) -> dict[str, int]:
    """Members per consumer group, for the groups that have any."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        found: dict[str, int] = {}
        # One group per request: aiokafka 0.14 fails to decode a DescribeGroups answer
        # that describes several (Buffer underrun), seen against Kafka 4.1.
        for name in groups:
            for response in await admin.describe_consumer_groups([name]):
                for group in response.to_object()["groups"]:
                    if group["members"]:
                        found[group["group"]] = len(group["members"])
        return found
    finally:
        await admin.close()


def _printer(service: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"replay {service}: {line}", flush=True)

    return say


def _read_line(read: TopicRead) -> str:
    line = (
        f"read {read.topic} ({read.partitions} partitions) up to the end offsets taken at "
        f"start: {read.records} records, {read.records - read.skipped} projected"
    )
    if read.deleted:
        line += (
            f"; WARNING: {read.deleted} records before the log start were deleted by "
            "retention, the rebuild cannot include them"
        )
    return line


def _report(say: Callable[[str], None], diff: Diff) -> None:
    sums = f"checksum live {diff.live_checksum[:12]} rebuilt {diff.rebuilt_checksum[:12]}"
    counts = f"live {diff.live_rows} rows, rebuilt {diff.rebuilt_rows} rows, {sums}"
    if diff.identical:
        say(f"{diff.table}: identical ({counts})")
    else:
        say(
            f"{diff.table}: DIFFERENT ({counts}): {diff.only_live} only in live, "
            f"{diff.only_rebuilt} only in rebuilt, {diff.changed} changed"
        )
        for sample in diff.samples:
            say(f"  {sample}")
