"""Business echoes accepted exactly once, inside the provider delivery's own outbox unit
(`adapters/inbound.InboundStore`): the echo is recorded in `inbound_messages` (kind `echo`,
never answered) and its `ConversationOwnerChanged` staged in the same transaction as the
delivery's messages and receipts; a redelivered echo finds its row and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert

from services.gateway.adapters.tables import inbound_messages as inbound
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.echoes import Echo, human_takes_over
from shared.contracts.conversations import owner_key
from shared.contracts.topics import CONVERSATION_OWNERS
from shared.logging import get_logger
from shared.outbox import OutboxUnit
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
ECHOES = Counter(
    "gateway_business_echoes_total", "Business replies echoed from the phone", ["outcome"]
)
ECHO_KIND = "echo"


def count_echoes(outcomes: Sequence[str]) -> None:
    """Counted once the unit committed: `duplicate`, `unknown_number` or `human`."""
    for outcome in outcomes:
        ECHOES.labels(outcome).inc()


class EchoRecorder:
    def __init__(
        self,
        whatsapp: WhatsAppDirectory,
        settings: ConversationSettingsView,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._whatsapp = whatsapp
        self._settings = settings
        self._now = now

    async def stage(self, unit: OutboxUnit, echoes: Sequence[Echo]) -> list[str]:
        """Record new echoes and stage a human takeover for each one of a known tenant, in
        the caller's unit; returns each echo's outcome, for `count_echoes` after commit."""
        if not echoes:
            return []
        rows = {
            echo.wamid: {
                "message_id": echo.wamid,
                "channel": "whatsapp",
                "kind": ECHO_KIND,
                "answered": False,
                "fingerprint": "provider",
            }
            for echo in echoes
        }
        new = set(
            (
                await unit.session.execute(
                    insert(inbound)
                    .values(list(rows.values()))
                    .on_conflict_do_nothing(index_elements=[inbound.c.message_id])
                    .returning(inbound.c.message_id)
                )
            ).scalars()
        )
        outcomes = []
        for echo in echoes:
            if echo.wamid not in new:
                outcomes.append("duplicate")
                continue
            new.discard(echo.wamid)
            account = self._whatsapp.by_phone_number_id(echo.phone_number_id)
            if account is None:
                outcomes.append("unknown_number")
                continue
            expiry = self._settings.of(account.user_id).human_expiry_s
            change = human_takes_over(echo, account.user_id, self._now(), expiry)
            unit.stage(CONVERSATION_OWNERS.name, owner_key(change), change)
            outcomes.append("human")
            log.info(
                "business answered from the phone: a human owns the conversation",
                message_id=echo.wamid,
                user_id=str(account.user_id),
                until=change.until.isoformat() if change.until else None,
            )
        return outcomes
