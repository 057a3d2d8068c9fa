"""Which tenant a conversation key belongs to, for the per-tenant in-flight cap.

Keys are `channel:business:customer` (the gateway builds them): WhatsApp's business part
is the tenant's phone number id, Twilio's the tenant's number, the API's the business
number when the caller sent one. An API message without one (`api:-:<phoneNumber>`) names
its tenant only after identification, which the key does not carry; the seed's callers
put the tenant's own number in phoneNumber, so there the whole key is the tenant's, and
it is its own group. Putting every such key in one `api:-` group would make all those
tenants share one cap.
"""

from __future__ import annotations

_UNKNOWN_BUSINESS = b"-"


def tenant_group(key: bytes | None) -> bytes | None:
    if key is None:
        return None
    parts = key.split(b":", 2)  # a customer id may itself hold ':'
    if len(parts) < 3 or parts[1] == _UNKNOWN_BUSINESS:
        return key
    return parts[0] + b":" + parts[1]
