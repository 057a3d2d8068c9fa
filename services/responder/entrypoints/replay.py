"""Rebuild the responder's conversation store from the log and compare (or swap).

    python -m services.responder.entrypoints.replay [--compare | --swap] [--force]

Inbound rows come from messages.identified.v1 (UserIdentified, `admit`) and a voice note's
transcript from messages.media.v1 (MediaResolved, `transcribe`), bot rows from
messages.outcomes.v1 (ResponseGenerated, `save_reply`): the methods the live handler
writes them with. The turn tables are the responder's working state, not a read model. Why the store can be rebuilt: adapters/conversations.py; README, "Event
log and replay".
"""

from __future__ import annotations

from datetime import timedelta

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.conversations import SqlConversationStore
from services.responder.adapters.tables import customer_conversations
from services.responder.domain.media import spoken_message
from services.responder.domain.outcomes import reply_of
from services.responder.main import SERVICE
from shared.contracts.media import MediaResolved
from shared.contracts.messages import MessageOutcome, ResponseGenerated, UserIdentified
from shared.contracts.topics import MESSAGE_OUTCOMES, MESSAGES_IDENTIFIED, MESSAGES_MEDIA
from shared.db import Statements
from shared.replay.command import ReplayPlan, main
from shared.replay.log import Apply
from shared.replay.shadow import ReadModel

outcomes: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)


def projection(engine: AsyncEngine) -> Apply:
    # The live store's statements, on the shadow table (raw SQL: the engine's schema
    # translation does not reach it); the context it reads back is not needed here.
    schema = engine.get_execution_options()["schema_translate_map"][None]
    store = SqlConversationStore(
        Statements(engine),
        context_messages=0,
        context_window=timedelta(0),
        table=f"{schema}.{customer_conversations.name}",
    )

    async def apply(record: ConsumerRecord) -> bool:
        try:
            if record.topic == MESSAGES_IDENTIFIED.name:
                await store.admit(UserIdentified.model_validate_json(record.value))
                return True
            if record.topic == MESSAGES_MEDIA.name:
                spoken = spoken_message(MediaResolved.model_validate_json(record.value))
                if spoken is None:
                    return False  # no transcript: the inbound row is the message's own
                await store.transcribe(spoken)
                return True
            outcome = outcomes.validate_json(record.value)
        except ValidationError:
            return False  # unreadable: no live handler wrote anything for it either
        if not isinstance(outcome, ResponseGenerated):
            return False  # a failure leaves no bot row
        await store.save_reply(outcome, reply_of(outcome))
        return True

    return apply


PLAN = ReplayPlan(
    service=SERVICE,
    topics=(MESSAGES_IDENTIFIED.name, MESSAGES_MEDIA.name, MESSAGE_OUTCOMES.name),
    read_models=(
        ReadModel(
            customer_conversations,
            key=("message_id", "sender"),
            ignored={
                "id": "a serial number in insertion order; partitions are replayed side by "
                "side, so it differs (readers use it only to break created_at ties)",
            },
        ),
    ),
    writers=(SERVICE,),
    projection=projection,
)

if __name__ == "__main__":
    raise SystemExit(main(PLAN))
