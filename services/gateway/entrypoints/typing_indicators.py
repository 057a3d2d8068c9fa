"""Read receipt and typing indicator while a turn is being answered (cosmetic).

On `TurnStarted` the turn's last message is marked read and the typing indicator shown in
one Graph call (Twilio: its typing indicator resource, which marks read too, on WhatsApp
only: an SMS turn gets no call); the call is
repeated every `REFRESH_S` (WhatsApp drops the indicator after 25 s) until the turn's
reply or failure is seen, for at most `MAX_S`, and stops with the service. Each tenant
turns typing and read receipts off in its conversation settings: typing off and read on
sends a plain read receipt; WhatsApp shows no typing indicator without marking read.

Nothing here ever blocks or fails a reply: the calls run beside the consumer, with a short
timeout, and a refusal is logged and counted. The refreshers live in memory on purpose:
after a restart the reply still goes out, only without the indicator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from services.gateway.adapters.providers import Indicators, ProviderError
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.replies import SendFailure
from shared.consumer import BatchResult, Received
from shared.contracts.conversations import TurnStarted
from shared.contracts.messages import Channel
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.views.conversation_owners import ConversationOwners
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
INDICATOR_CALLS = Counter(
    "gateway_typing_indicator_calls_total",
    "Read receipt / typing indicator calls by outcome",
    ["channel", "outcome"],
)
REFRESH_S = 20.0
MAX_S = 120.0  # a model call that takes longer has failed or is retried: stop showing it
STALE = timedelta(seconds=25)  # a TurnStarted read again later (a rebalance) shows nothing


@dataclass(frozen=True)
class IndicatorSettings:
    graph_url: str
    graph_version: str
    twilio_messaging_url: str
    refresh_s: float = REFRESH_S
    max_s: float = MAX_S


class TypingIndicators:
    def __init__(
        self,
        provider: Indicators,
        whatsapp: WhatsAppDirectory,
        twilio: TwilioDirectory,
        box: SecretBox,
        conversations: ConversationSettingsView,
        owners: ConversationOwners,
        settings: IndicatorSettings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._provider = provider
        self._whatsapp, self._twilio, self._box = whatsapp, twilio, box
        self._conversations, self._owners = conversations, owners
        self._settings = settings
        self._now = now
        # conversation -> (refresher, its stop, the turn's message ids)
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event, frozenset[str]]] = {}

    async def __call__(self, batch: Sequence[Received[TurnStarted]]) -> BatchResult:
        for item in batch:
            self.start(item.event)
        return BatchResult()

    def start(self, turn: TurnStarted) -> None:
        """Show the indicator for this turn (replacing an earlier turn's of the conversation)."""
        self.stop(turn.conversation_key)
        if turn.channel not in (Channel.WHATSAPP, Channel.TWILIO) or turn.user_id is None:
            return
        if turn.channel == Channel.TWILIO and not twilio_can_type(turn):
            return
        if self._now() - turn.occurred_at > STALE:
            return
        if not self._owners.current(turn.user_id, turn.conversation_key, self._now()).bot_answers:
            return  # only show typing when a reply will follow
        settings = self._conversations.of(turn.user_id)
        if not (settings.typing_indicator or settings.read_receipts):
            return
        if turn.channel == Channel.TWILIO and not settings.typing_indicator:
            return  # Twilio has no read receipt of its own: only the typing resource
        done = asyncio.Event()
        task = asyncio.create_task(
            self._refresh(turn, settings.typing_indicator, done), name="typing-indicator"
        )
        ids = frozenset([*turn.turn_message_ids, turn.message_id])
        self._running[turn.conversation_key] = (task, done, ids)
        task.add_done_callback(lambda _: self._forget(turn.conversation_key, task))

    def stop(self, conversation_key: str, message_id: str | None = None) -> None:
        """The turn's reply (or failure) was seen: stop refreshing. With `message_id`, only
        if it answers the running turn (an outcome of an earlier message leaves it on)."""
        running = self._running.get(conversation_key)
        if running is None or (message_id is not None and message_id not in running[2]):
            return
        del self._running[conversation_key]
        running[1].set()

    async def close(self) -> None:
        """On shutdown: stop every refresher and wait for them."""
        running = list(self._running.values())
        self._running.clear()
        for task, done, _ in running:
            done.set()
            task.cancel()
        for task, _, _ in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __len__(self) -> int:
        return len(self._running)

    def _forget(self, conversation_key: str, task: asyncio.Task[None]) -> None:
        running = self._running.get(conversation_key)
        if running is not None and running[0] is task:
            del self._running[conversation_key]

    async def _refresh(self, turn: TurnStarted, typing: bool, done: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.max_s
        while not done.is_set():
            await self._call(turn, typing)
            if not typing:
                return  # a read receipt is needed once
            wait = min(self._settings.refresh_s, deadline - loop.time())
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), wait)

    async def _call(self, turn: TurnStarted, typing: bool) -> None:
        channel = turn.channel.value
        try:
            if turn.channel == Channel.WHATSAPP:
                await self._whatsapp_call(turn, typing)
            else:
                await self._twilio_call(turn)
        except ProviderError as exc:
            INDICATOR_CALLS.labels(channel, exc.failure.reason).inc()
            log.warning(
                "typing indicator refused",
                message_id=turn.message_id,
                reason=exc.failure.reason,
                status_code=exc.failure.status_code,
            )
            return
        except Exception as exc:  # cosmetic: a bug here must not stop the consumer
            INDICATOR_CALLS.labels(channel, "internal_error").inc()
            log.warning("typing indicator failed", error=type(exc).__name__)
            return
        INDICATOR_CALLS.labels(channel, "sent" if typing else "read").inc()

    async def _whatsapp_call(self, turn: TurnStarted, typing: bool) -> None:
        account = self._whatsapp.by_phone_number_id(turn.phone_number_id or "")
        token = self._box.try_decrypt(account.access_token_encrypted) if account else None
        if account is None or token is None:
            raise _no_account(turn)
        await self._provider.whatsapp_read(
            self._settings.graph_url,
            self._settings.graph_version,
            account.phone_number_id,
            token,
            turn.message_id,
            typing,
        )

    async def _twilio_call(self, turn: TurnStarted) -> None:
        account = self._twilio.by_number(turn.business_phone or "")
        auth_token = self._box.try_decrypt(account.auth_token_encrypted) if account else None
        if account is None or auth_token is None:
            raise _no_account(turn)
        await self._provider.twilio_typing(
            self._settings.twilio_messaging_url, account.account_sid, auth_token, turn.message_id
        )


def twilio_can_type(turn: TurnStarted) -> bool:
    """Twilio's typing resource takes a WhatsApp message's SID only: an SMS (source 'sms',
    or a turn that does not say it came over WhatsApp) gets no call at all."""
    return turn.source == "whatsapp" and turn.message_id.startswith(("SM", "MM"))


def _no_account(turn: TurnStarted) -> ProviderError:
    where = turn.phone_number_id or turn.business_phone
    return ProviderError(SendFailure("no_account", None, f"no active account for {where}"))
