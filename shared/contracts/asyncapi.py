"""The AsyncAPI document of every event, generated from the pydantic contracts.

The services consume with shared.consumer (not FastStream subscribers), so this module
declares each channel with FastStream purely to let FastStream write the document.
`python -m shared.contracts.asyncapi` rewrites docs/asyncapi.json; `--check` fails when
the committed file no longer matches the code (make test runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.contracts.config_events import ConfigEvent
from shared.contracts.conversations import ConversationOwnerChanged
from shared.contracts.groq_health import GroqKeyFailed
from shared.contracts.media import MediaResolved
from shared.contracts.messages import (
    MessageOutcome,
    MessageReceived,
    ResponseGenerated,
    UserIdentified,
)
from shared.contracts.topics import (
    CONFIG_CHANGES,
    CONVERSATION_OWNERS,
    GROQ_HEALTH,
    MESSAGE_OUTCOMES,
    MESSAGES_IDENTIFIED,
    MESSAGES_MEDIA,
    MESSAGES_RECEIVED,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def build_specification() -> dict[str, Any]:
    broker = KafkaBroker(
        "kafka:9092", description="Keys: conversation key (order per conversation)"
    )

    @broker.subscriber(
        MESSAGES_RECEIVED.name, group_id="identity", title="identity: MessageReceived"
    )
    @broker.publisher(
        MESSAGES_IDENTIFIED.name, schema=UserIdentified, title="identity: UserIdentified"
    )
    async def identify(event: MessageReceived) -> None:
        """Maps the message to its tenant (WhatsApp config, then history, then none).
        Each record carries a `has-media: 0|1` header (whether `media` is set), so a reader
        that only wants media skips the others unparsed."""

    @broker.subscriber(
        MESSAGES_IDENTIFIED.name, group_id="media", title="media: UserIdentified with media"
    )
    @broker.publisher(MESSAGES_MEDIA.name, schema=MediaResolved, title="media: MediaResolved")
    async def resolve_media(event: UserIdentified) -> None:
        """Downloads each media item with the tenant's credentials and publishes what it
        became: a transcript, a document's text, what the tenant's vision model saw in an
        image, or the polite text (unsupported, failed with a reason). Never a token, a
        download URL or the media's bytes."""

    @broker.subscriber(
        MESSAGES_IDENTIFIED.name, group_id="responder", title="responder: UserIdentified"
    )
    @broker.publisher(
        MESSAGE_OUTCOMES.name,
        schema=MessageOutcome,
        title="responder: ResponseGenerated | ResponseFailed",
    )
    async def respond(event: UserIdentified) -> None:
        """Answers with the tenant's Groq config or the enabled system fallback."""

    @broker.publisher(GROQ_HEALTH.name, schema=GroqKeyFailed, title="responder: GroqKeyFailed")
    async def key_failed() -> None:
        """A call a tenant's key did not answer (401/403, 429, 5xx, decommissioned model)."""

    @broker.subscriber(GROQ_HEALTH.name, group_id="config-key-health", title="config: key health")
    async def key_health(event: GroqKeyFailed) -> None:
        """Marks refused keys invalid, records decommissioned models (tenant status)."""

    @broker.subscriber(MESSAGE_OUTCOMES.name, group_id="gateway", title="gateway: outcomes")
    async def deliver(event: ResponseGenerated) -> None:
        """Answers the waiting caller (every replica listens) and records the outcome."""

    @broker.publisher(
        MESSAGES_RECEIVED.name, schema=MessageReceived, title="gateway: MessageReceived"
    )
    async def accepted() -> None:
        """Every accepted inbound message (webhooks and the api-chatbot endpoint)."""

    @broker.subscriber(CONFIG_CHANGES.name, title="identity, responder, gateway: config view")
    async def config_view(event: ConfigEvent) -> None:
        """Compacted; read from the start at boot to rebuild each service's config view."""

    @broker.publisher(CONFIG_CHANGES.name, schema=ConfigEvent, title="config: changes")
    async def config_changes() -> None:
        """Every settings change, secrets as Fernet ciphertext only."""

    @broker.publisher(
        CONVERSATION_OWNERS.name,
        schema=ConversationOwnerChanged,
        title="config: ConversationOwnerChanged",
    )
    async def tenant_owner_changes() -> None:
        """A tenant pauses / resumes one conversation or all (changed_by=tenant_api);
        compacted, keyed by owner_key. The config projection reads the topic back."""

    spec = AsyncAPI(
        broker,
        title="WhatsApp AI reply: events",
        version="1",
        description="Versioned JSON events with a W3C traceparent header on every record.",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document


def render() -> str:
    return json.dumps(build_specification(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Write or check docs/asyncapi.json")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    rendered = render()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != rendered:
            print(f"{DOCUMENT} is out of date: run `make asyncapi` and commit it", file=sys.stderr)
            return 1
        print("asyncapi: docs/asyncapi.json matches the contracts")
        return 0
    DOCUMENT.write_text(rendered)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
