"""Business echoes accepted exactly once: the echo is recorded in `inbound_messages` (kind
`echo`, never answered) and its `ConversationOwnerChanged` staged on the gateway's outbox in
the same transaction; a redelivered echo finds its row and changes nothing again."""

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
from shared.outbox import Outbox
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
ECHOES = Counter(
    "gateway_business_echoes_total", "Business replies echoed from the phone", ["outcome"]
)
ECHO_KIND = "echo"


class EchoRecorder:
    def __init__(
        self,
        outbox: Outbox,
        whatsapp: WhatsAppDirectory,
        settings: ConversationSettingsView,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._whatsapp = whatsapp
        self._settings = settings
        self._now = now

    async def accept(self, echoes: Sequence[Echo]) -> None:
        """Record new echoes and publish a human takeover for each one of a known tenant
        (committed before this returns; published right after, else by the relay)."""
        if not echoes:
            return
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
        async with self._outbox.unit() as unit:
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
            for echo in echoes:
                if echo.wamid not in new:
                    ECHOES.labels("duplicate").inc()
                    continue
                new.discard(echo.wamid)
                account = self._whatsapp.by_phone_number_id(echo.phone_number_id)
                if account is None:
                    ECHOES.labels("unknown_number").inc()
                    continue
                expiry = self._settings.of(account.user_id).human_expiry_s
                change = human_takes_over(echo, account.user_id, self._now(), expiry)
                unit.stage(CONVERSATION_OWNERS.name, owner_key(change), change)
                ECHOES.labels("human").inc()
                log.info(
                    "business answered from the phone: a human owns the conversation",
                    message_id=echo.wamid,
                    user_id=str(account.user_id),
                    until=change.until.isoformat() if change.until else None,
                )
