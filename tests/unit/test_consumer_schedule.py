"""The consumer's scheduler without a broker: one head per key, slot caps, solo retries,
and revoked partitions forgotten."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from shared.batch_handlers import ConsumerOptions, tenant_of
from shared.consumer_schedule import Entry, KeySchedule

TP = TopicPartition("t", 0)


def _entry(key: str, offset: int, tp: TopicPartition = TP) -> Entry:
    record = ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=b"",
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=0,
        headers=(),
    )
    return Entry(record, tp)


def _keys(batch: list[Entry]) -> list[tuple[str, int]]:
    return [(entry.record.key.decode(), entry.record.offset) for entry in batch]


def _schedule(**options: int | bool | None) -> KeySchedule:
    return KeySchedule(ConsumerOptions(**options), tenant_of)  # type: ignore[arg-type]


def test_only_a_keys_head_runs_and_its_next_record_follows_when_it_finishes() -> None:
    schedule = _schedule()
    a0, a1, b0 = _entry("w:1:a", 0), _entry("w:1:a", 1), _entry("w:1:b", 2)
    for entry in (a0, a1, b0):
        schedule.enqueue(entry)

    assert [_keys(batch) for batch in schedule.batches()] == [[("w:1:a", 0), ("w:1:b", 2)]]
    assert list(schedule.batches()) == []  # a1 waits behind a0, holding no slot
    assert (schedule.running, schedule.buffered) == (2, 3)

    schedule.release(a0)
    assert schedule.finish(a0)
    assert [_keys(batch) for batch in schedule.batches()] == [[("w:1:a", 1)]]
    assert (schedule.running, schedule.buffered) == (2, 2)


def test_without_key_order_a_keys_records_run_in_one_batch_and_finish_in_any_order() -> None:
    schedule = _schedule(ordered_by_key=False, max_in_flight_per_group=3)
    a0, a1, a2 = (_entry("w:1:a", n) for n in range(3))
    b0 = _entry("w:1:b", 3)
    for entry in (a0, a1, a2, b0):
        schedule.enqueue(entry)

    # three of tenant w:1's records (its cap), then its fourth once one is released
    assert [_keys(batch) for batch in schedule.batches()] == [
        [("w:1:a", 0), ("w:1:a", 1), ("w:1:a", 2)]
    ]
    schedule.release(a1)
    assert schedule.finish(a1)
    assert [_keys(batch) for batch in schedule.batches()] == [[("w:1:b", 3)]]
    for entry in (a2, a0, b0):
        schedule.release(entry)
        assert schedule.finish(entry)
    assert (schedule.running, schedule.buffered) == (0, 0)
    assert list(schedule.batches()) == []


def test_batches_respect_the_slot_caps_in_total_and_per_tenant() -> None:
    schedule = _schedule(max_in_flight=3, max_in_flight_per_group=2, max_batch=2)
    for n in range(4):
        schedule.enqueue(_entry(f"w:tenant-a:c{n}", n))
    schedule.enqueue(_entry("w:tenant-b:c0", 9))

    batches = [_keys(batch) for batch in schedule.batches()]

    assert batches == [[("w:tenant-a:c0", 0), ("w:tenant-a:c1", 1)], [("w:tenant-b:c0", 9)]]
    assert schedule.running == 3


def test_a_record_retried_alone_runs_in_a_batch_of_its_own() -> None:
    schedule = _schedule()
    a, b = _entry("w:1:a", 0), _entry("w:1:b", 1)
    schedule.enqueue(a)
    schedule.enqueue(b)
    [first] = schedule.batches()
    for entry in first:  # the batch failed: each of its records is tried alone
        schedule.release(entry)
        entry.solo = True
        schedule.ready_again(entry)

    assert [_keys(batch) for batch in schedule.batches()] == [[("w:1:a", 0)], [("w:1:b", 1)]]


def test_revoked_partitions_are_forgotten_and_their_retries_never_finish() -> None:
    schedule = _schedule()
    mine, theirs = _entry("w:1:a", 0), _entry("w:1:b", 0, TopicPartition("t", 1))
    schedule.enqueue(mine)
    schedule.enqueue(theirs)
    list(schedule.batches())

    schedule.forget({TopicPartition("t", 1)})

    assert theirs.gone and not mine.gone
    assert schedule.buffered == 1
    assert not schedule.finish(theirs)  # its next owner handles it again
    assert schedule.finish(mine) and schedule.buffered == 0
