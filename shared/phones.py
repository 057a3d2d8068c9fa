"""Phone numbers compared in E.164, as the seed's lookups and the contract require."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

_FORMATTING = str.maketrans("", "", " -().")


# A pure function of its input; customers write again and again, so each number is parsed
# once (phonenumbers' parsing was ~140 calls per webhook).
@lru_cache(maxsize=65_536)
def to_e164(raw: str | None) -> str | None:
    """E.164 form of a number written with a leading + (or 00), else None.

    WhatsApp sends numbers without '+', so a bare run of digits is read as international.
    """
    if not raw:
        return None
    text = raw.strip()
    bare = text.translate(_FORMATTING)
    if bare.startswith("00"):
        text = "+" + bare[2:]
    elif not text.startswith("+") and bare.isdigit():
        text = "+" + bare
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str) -> str:
    """E.164 when it parses, else the trimmed input (an opaque id we still key on)."""
    return to_e164(raw) or raw.strip()
