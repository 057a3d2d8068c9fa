"""CPU the media service spends per text-only record of messages.identified.v1, before
deciding to skip it: `python -m bench.media_parse [--records N]`.

Builds the records identity publishes (a typical WhatsApp text message, with the headers
identity writes) and times the media service's `parse_identified` on them in this one
process (process CPU time, best of 5 rounds, so a busy machine inflates it least). Most
records are text: this is what every one of them costs the media service before its
handler returns. Run it on a branch before and after a change to compare.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from services.media.entrypoints.consumers import parse_identified
from shared.contracts.messages import Channel, IdentifiedBy, UserIdentified
from shared.contracts.topics import MESSAGES_IDENTIFIED


def text_record(offset: int, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    event = UserIdentified(
        message_id=f"wamid.HBgL{uuid.uuid4().hex}",
        conversation_key="whatsapp:PN123456789012:+33612345678",
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone="+33612345678",
        phone_number_id="PN123456789012",
        text="Bonjour, est-ce que vous livrez à Lyon demain matin ? Merci d'avance !",
        received_at=datetime.now(UTC).isoformat(),
        message_type="text",
        user_id=uuid.uuid4(),
        identified_by=IdentifiedBy.WHATSAPP_CONFIG,
    )
    value = event.model_dump_json().encode()
    return ConsumerRecord(
        topic=MESSAGES_IDENTIFIED.name,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=event.conversation_key.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(event.conversation_key),
        serialized_value_size=len(value),
        headers=headers,
    )


def cpu_us_per_record(records: list[ConsumerRecord[bytes, bytes]], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for record in records:
            parse_identified(record)
        best = min(best, time.process_time() - started)
    return best * 1e6 / len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    base = [("content-type", b"application/json"), ("event-type", b"UserIdentified")]
    cases = {
        "headers as identity writes them": [*base, ("has-media", b"0")],
        "no has-media header (older records)": base,
    }
    for name, headers in cases.items():
        records = [text_record(i, headers) for i in range(args.records)]
        print(f"{name}: {cpu_us_per_record(records):.2f} µs CPU per text record")


if __name__ == "__main__":
    main()
