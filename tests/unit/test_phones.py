from __future__ import annotations

import pytest

from shared.phones import normalize_phone, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 415 555 0101", "+14155550101"),
        ("14155550101", "+14155550101"),  # WhatsApp writes numbers without '+'
        ("0033 6 12 34 56 78", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("not a number", None),
        ("", None),
    ],
)
def test_to_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw) == expected


def test_normalize_keeps_unparseable_ids_as_they_are() -> None:
    assert (
        normalize_phone(" 1029384756 ") == "+1029384756"
        or normalize_phone(" 1029384756 ") == "1029384756"
    )
    assert normalize_phone("+1234567890") == normalize_phone("+1234567890 ")
