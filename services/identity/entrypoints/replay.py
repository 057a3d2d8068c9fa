"""Rebuild identity's customer history from messages.identified.v1 and compare (or swap).

    python -m services.identity.entrypoints.replay [--compare | --swap] [--force]

Every UserIdentified that found a tenant goes through `CustomerHistory.record`, the rule the
live handler applies after publishing it; README, "Event log and replay".
"""

from __future__ import annotations

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.adapters.history import CustomerHistory
from services.identity.adapters.tables import identity_customer_history
from services.identity.main import SERVICE
from shared.contracts.messages import UserIdentified
from shared.contracts.topics import MESSAGES_IDENTIFIED
from shared.db import Statements
from shared.replay.command import ReplayPlan, main
from shared.replay.log import Apply
from shared.replay.shadow import ReadModel


def projection(engine: AsyncEngine) -> Apply:
    history = CustomerHistory(Statements(engine))

    async def apply(record: ConsumerRecord) -> bool:
        try:
            event = UserIdentified.model_validate_json(record.value)
        except ValidationError:
            return False  # unreadable: no live handler wrote anything for it either
        await history.record([event])
        return event.user_id is not None

    return apply


PLAN = ReplayPlan(
    service=SERVICE,
    topics=(MESSAGES_IDENTIFIED.name,),
    read_models=(ReadModel(identity_customer_history, key=("customer_phone",)),),
    writers=(SERVICE,),
    projection=projection,
)

if __name__ == "__main__":
    raise SystemExit(main(PLAN))
