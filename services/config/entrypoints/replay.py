"""Rebuild the config service's message projection (behind monitoring and the timelines)
and its conversations read models from the message topics and conversations.owner.v1, and
compare (or swap).

    python -m services.config.entrypoints.replay [--compare | --swap] [--force]

Every record goes through `ProjectionHandler`, the live projector's handler, into a fresh
`message_events`, `conversations` and `conversation_tenant_owner`; README, "Event log and
replay".
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.config.adapters.projection_store import MessageEventStore, ProjectionHandler
from services.config.adapters.tables import (
    conversation_tenant_owner,
    conversations,
    message_events,
)
from services.config.adapters.tenancy import DbRole
from services.config.domain.projection import PROJECTED_TOPICS
from services.config.entrypoints.projector import GROUP_ID
from shared.db import make_sessionmaker
from shared.replay.command import ReplayPlan, main
from shared.replay.log import Apply
from shared.replay.shadow import ReadModel


def projection(engine: AsyncEngine) -> Apply:
    # The replay connects as the schema owner: the fresh table has no row-level security,
    # so no role is chosen for writing it. The live table is read as config_admin and
    # swapped in as config_worker, the roles the service itself uses for them.
    return ProjectionHandler(MessageEventStore(make_sessionmaker(engine)))


PLAN = ReplayPlan(
    service="config",
    topics=PROJECTED_TOPICS,
    read_models=(
        ReadModel(
            message_events,
            key=("event_id",),
            ignored={
                "id": "a serial number in insertion order; topics and partitions are replayed "
                "side by side, so it differs (the timeline uses it only to break time ties)",
                "recorded_at": "when the row was written, by definition not in the event",
            },
            read_role=DbRole.ADMIN.value,
            write_role=DbRole.WORKER.value,
        ),
        # Written in the transaction that records their events in message_events.
        ReadModel(
            conversations,
            key=("user_id", "conversation_key"),
            read_role=DbRole.ADMIN.value,
            write_role=DbRole.WORKER.value,
        ),
        ReadModel(
            conversation_tenant_owner,
            key=("user_id",),
            read_role=DbRole.ADMIN.value,
            write_role=DbRole.WORKER.value,
        ),
    ),
    writers=(GROUP_ID,),
    projection=projection,
)

if __name__ == "__main__":
    raise SystemExit(main(PLAN))
