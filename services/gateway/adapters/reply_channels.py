"""Where a reply leaves: the tenant's WhatsApp Cloud number or Twilio number, with the
credentials the provider directories hold (decrypted only for the call)."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.adapters.providers import Provider
from shared.contracts.messages import Channel, ResponseGenerated
from shared.crypto import SecretBox
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppAccount, WhatsAppDirectory


class NoAccount(Exception):
    """The tenant has no active provider account (or no readable credentials) for it."""


@dataclass(frozen=True)
class ProviderUrls:
    graph_url: str
    graph_version: str
    twilio_url: str
    twilio_status_callback: str | None = None  # where Twilio posts each send's statuses


@dataclass(frozen=True)
class ReplyChannels:
    provider: Provider
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    box: SecretBox
    urls: ProviderUrls

    async def send_part(self, outcome: ResponseGenerated, body: str) -> str:
        """One part of a reply as free text; the provider's message id."""
        if outcome.channel == Channel.WHATSAPP:
            account, token = self._whatsapp_account(outcome)
            return await self.provider.send_whatsapp_text(
                self.urls.graph_url,
                self.urls.graph_version,
                account.phone_number_id,
                token,
                outcome.customer_phone.removeprefix("+"),
                body,
            )
        twilio = self.twilio.by_number(outcome.business_phone or "")
        auth_token = self.box.try_decrypt(twilio.auth_token_encrypted) if twilio else None
        if twilio is None or auth_token is None:
            raise NoAccount(f"no active Twilio account for {outcome.business_phone}")
        prefix = "whatsapp:" if outcome.source == "whatsapp" else ""
        return await self.provider.send_twilio_message(
            self.urls.twilio_url,
            twilio.account_sid,
            auth_token,
            f"{prefix}{twilio.phone_number}",
            f"{prefix}{outcome.customer_phone}",
            body,
            self.urls.twilio_status_callback,
        )

    async def send_template(self, outcome: ResponseGenerated, name: str, language: str) -> str:
        """An approved WhatsApp template (the re-engagement past the 24-hour window)."""
        account, token = self._whatsapp_account(outcome)
        return await self.provider.send_whatsapp_template(
            self.urls.graph_url,
            self.urls.graph_version,
            account.phone_number_id,
            token,
            outcome.customer_phone.removeprefix("+"),
            name,
            language,
        )

    def _whatsapp_account(self, outcome: ResponseGenerated) -> tuple[WhatsAppAccount, str]:
        account = self.whatsapp.by_phone_number_id(outcome.phone_number_id or "")
        token = self.box.try_decrypt(account.access_token_encrypted) if account else None
        if account is None or token is None:
            raise NoAccount(f"no active WhatsApp account for {outcome.phone_number_id}")
        return account, token
