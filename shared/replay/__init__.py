"""Rebuilding a read model from the event log, to compare it with the live one or replace it.

- `log.read_log`: a throw-away consumer (no group, nothing committed) reads topics from
  their first record up to the end offsets captured when it starts, in offset order per
  partition, handing each record to the same projection code the live consumer runs.
- `shadow`: the rebuilt rows go to `replay_<service>.<table>`, created from the same table
  definitions; compared with the live table row by row and by checksum, and swapped in.
- `command.main`: the CLI each owner exposes as `python -m services.<svc>.entrypoints.replay`.
"""
