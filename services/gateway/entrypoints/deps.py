"""The gateway's typed container, as its routes receive it: `deps: GatewayDeps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.adapters.inbound import Inbound
from services.gateway.adapters.outcomes import OutcomeListener, OutcomeWaiters
from services.gateway.settings import GatewaySettings
from shared.config_feed import ConfigFeed
from shared.consumer import KeyedBatchConsumer
from shared.contracts.conversations import TurnStarted
from shared.contracts.messages import MessageOutcome
from shared.crypto import SecretBox
from shared.service import container
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory


@dataclass(frozen=True)
class GatewayComponents:
    settings: GatewaySettings
    secret_box: SecretBox
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    inbound: Inbound
    waiters: OutcomeWaiters
    # What readiness looks at.
    engine: AsyncEngine
    broker: KafkaBroker
    feed: ConfigFeed
    listener: OutcomeListener
    outcomes: KeyedBatchConsumer[MessageOutcome | TurnStarted]


GatewayDeps = Annotated[GatewayComponents, Depends(container(GatewayComponents))]
