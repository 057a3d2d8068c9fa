from __future__ import annotations

from shared.consumer import _PartitionProgress


def test_commit_point_stops_at_the_first_unfinished_offset() -> None:
    progress = _PartitionProgress()
    progress.pending.extend([10, 11, 12, 13])
    progress.finished.update({11, 12})
    assert progress.committable() is None  # 10 still running: nothing may be committed
    progress.finished.add(10)
    assert progress.committable() == 13  # 10..12 done, 13 still running
    progress.finished.add(13)
    assert progress.committable() == 14
    assert not progress.pending and not progress.finished
