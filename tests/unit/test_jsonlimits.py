from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.jsonlimits import JSONRefused, loads_limited, may_need_scrub, nesting_depth, scrub

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(documents, st.booleans())
@settings(max_examples=300, deadline=None, database=None)
def test_the_raw_scan_agrees_with_the_parsed_document(document: object, ascii_only: bool) -> None:
    raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert nesting_depth(raw) == _depth(document)


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'["[[[", {"a": "]]]}"}]', 2),
        (b'["\\\\", [["\\\\\\"[", []]]]', 4),  # an escaped backslash ends no string
        (b'"\\"[[[["', 0),
        (b"[" * 40, 40),  # invalid, still counted: a parser would descend that far
        (b'["unterminated [[[[', 1),
        (b"", 0),
    ],
)
def test_brackets_inside_strings_do_not_count(raw: bytes, depth: int) -> None:
    assert nesting_depth(raw) == depth


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1_000_000,
        b"[" * 30_000 + b"]" * 30_000,
        b'{"text": ' + b"[" * 20_000 + b'"x"' + b"]" * 20_000 + b"}",
        b'{"a": "x"}' + b"[" * 33,
        b'[1, "\xff"]',  # not UTF-8
        b'["\xed\xa0\x80"]',  # a surrogate encoded as UTF-8: not UTF-8 either
        "[1]".encode("utf-16"),  # json.loads would guess UTF-16; we read UTF-8 only
        b"[NaN]",
        b"[1e999]",
        b"[-Infinity]",
        b"[" + b"9" * 5000 + b"]",  # over Python's 4,300 digits
        b"{not json",
        b"",
    ],
)
def test_hostile_documents_are_refused_not_raised(raw: bytes) -> None:
    with pytest.raises(JSONRefused):
        loads_limited(raw)


def test_a_document_at_the_limit_is_read() -> None:
    assert loads_limited(b"[" * 32 + b"]" * 32) == json.loads(b"[" * 32 + b"]" * 32)
    with pytest.raises(JSONRefused, match="deeper than 32"):
        loads_limited(b"[" * 33 + b"]" * 33)


def test_invalid_utf8_can_be_replaced_instead() -> None:
    assert loads_limited(b'["a\xffb"]', errors="replace") == ["a\ufffdb"]


def test_scrub_makes_every_string_storable() -> None:
    raw = b'{"\\u0000k": ["\\ud800", {"x": "a\\uDFFFb"}], "ok": "\\ud83d\\ude00", "n": 1}'
    assert may_need_scrub(raw)
    clean = scrub(loads_limited(raw))
    assert clean == {"\ufffdk": ["\ufffd", {"x": "a\ufffdb"}], "ok": "😀", "n": 1}
    json.dumps(clean, ensure_ascii=False).encode()  # encodes: no surrogate left
    assert not may_need_scrub(b'{"a": "\\u00e9 plain"}')
