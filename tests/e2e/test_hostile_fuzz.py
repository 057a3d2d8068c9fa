"""Fuzzing the gateway's three public doors with hostile input (hypothesis), against the
running process: never a 5xx, and nothing stored or published for what was refused.

Each example starts from a valid request (a signed WhatsApp delivery, a signed Twilio form,
a chatbot call), replaces, removes or adds one field with an odd value (deep, huge, a lone
surrogate, NUL, undecodable bytes, NaN, a 5,000-digit number, the wrong type), may corrupt
the bytes, and is sent unsigned, forged or correctly signed. Every example carries a marker;
the markers of refused examples must appear in no accepted message and no staged event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import WHATSAPP_APP_SECRET
from tests.support.hostile import (
    TwilioTenant,
    WhatsAppTenant,
    stored_markers,
    twilio_tenant,
    whatsapp_tenant,
)
from tests.support.providers import meta_signature, twilio_signature, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
RAW = "@@RAW@@"  # a placeholder replaced by raw bytes after json.dumps

strings = (
    st.text(max_size=40)
    | st.integers(0xD800, 0xDFFF).map(chr)
    | st.sampled_from(
        ["\x00", "a\x00b", "a\ud83db", "\ufffe", "😀", "\u202e", "", "  ", "x" * 5000, "9" * 300]
    )
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=8,
)
raw_tokens = st.sampled_from(
    [
        b"NaN",
        b"-Infinity",
        b"1e999",
        b"9" * 5000,
        b"[" * 40 + b"]" * 40,
        b"[" * 30_000 + b"]" * 30_000,
        b'{"a":' * 200 + b"1" + b"}" * 200,
        b'"\xff\xfe"',
        b'"\xed\xa0\x80"',
        b'"\\ud800"',
        b'"\\udc00\\ud800"',
        b'"\\u0000"',
        b'"' + b"x" * 200_000 + b'"',
    ]
)
damage = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 2000), st.just(b"")),
    st.tuples(st.just("insert"), st.integers(0, 2000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("replace"), st.just(0), st.binary(max_size=300)),
    st.tuples(
        st.just("deep"),
        st.sampled_from([33, 1000, 20_000, 1_000_000]),
        st.sampled_from([b"[", b'{"a":']),
    ),
    st.tuples(st.just("huge"), st.sampled_from([70_000, 4_000_000]), st.just(b"")),
)


def _often(strategy: st.SearchStrategy[Any], default: Any, percent: int) -> st.SearchStrategy[Any]:
    """`strategy` in about `percent` % of the examples, else `default` (one_of weighs its
    branches equally and merges repeated ones, so it cannot skew the mix)."""
    return st.integers(0, 99).flatmap(lambda n: strategy if n < percent else st.just(default))


# most examples reach the parser and the handler with one odd field, whole
corruptions = _often(damage, ("none", 0, b""), 35)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value)
    if isinstance(value, dict | list):
        for key, inner in items:
            yield from _paths(inner, (*path, key))


def _mutate(document: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """The document with the value at `path` replaced (or removed, or given a sibling)."""
    if not path:
        return value if how == "replace" else document
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "remove":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"extra{len(parent)}"] = value
    else:
        parent.append(value)
    return document


def _encode(document: Any, ascii_only: bool, raw: bytes) -> bytes:
    """ensure_ascii=True writes a lone surrogate as `\\ud800`; False as its (invalid) bytes."""
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    return body.replace(f'"{RAW}"'.encode(), raw)


def _corrupt(body: bytes, corruption: tuple[str, int, bytes]) -> bytes:
    kind, number, data = corruption
    if kind == "truncate":
        return body[: number % (len(body) + 1)]
    if kind == "insert":
        at = number % (len(body) + 1)
        return body[:at] + data + body[at:]
    if kind == "replace":
        return data
    if kind == "deep":
        return data * number
    if kind == "huge":
        return body + b" " * number
    return body


@st.composite
def hostile_json(
    draw: st.DrawFn, template: Any, fixed: Callable[[tuple[Any, ...]], bool] = lambda _: False
) -> bytes:
    document = json.loads(json.dumps(template))
    path = draw(st.sampled_from(list(_paths(document))))
    how = draw(st.sampled_from(["replace", "remove", "add"]) if path else st.just("replace"))
    raw = draw(_often(raw_tokens, None, 25))
    value = RAW if raw is not None else draw(json_values)
    if fixed(path) and isinstance(value, str):
        value = [value]  # a fixed field gets odd types only
    document = _mutate(document, path, how, value)
    body = _encode(document, draw(st.booleans()), raw or b"")
    return _corrupt(body, draw(corruptions))


class Outcomes:
    """Answers seen, and markers of the examples that were refused."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.refused: list[str] = []

    def record(self, response: httpx.Response, marker: str, json_errors: bool = True) -> None:
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, (status, response.text[:300])
        if status >= 400:
            self.refused.append(marker)
            if json_errors:
                body = response.json()
                assert body["success"] is False and isinstance(body["error"], str), body

    def check_nothing_stored_for_refusals(self, stack: Stack) -> None:
        print("answers by status:", dict(sorted(self.statuses.items())))  # shown with -s
        assert self.refused, "no example was refused: the fuzzing did not reach its target"
        assert asyncio.run(stored_markers(stack, self.refused)) == []


@pytest.fixture(scope="module")
async def whatsapp(stack: Stack) -> WhatsAppTenant:
    return await whatsapp_tenant(stack)


@pytest.fixture(scope="module")
async def twilio(stack: Stack) -> TwilioTenant:
    return await twilio_tenant(stack)


@pytest.fixture(scope="module")
async def chatbot_number(stack: Stack) -> str:
    _, number = await stack.new_tenant(f"gsk_fuzz_{uuid.uuid4().hex}")
    return number


def test_whatsapp_webhook(stack: Stack, whatsapp: WhatsAppTenant) -> None:
    outcomes = Outcomes()
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:

        @FUZZ
        @given(
            data=st.data(),
            signing=_often(st.sampled_from(["none", "forged", "global"]), "tenant", 40),
        )
        def send(data: st.DataObject, signing: str) -> None:
            marker = uuid.uuid4().hex
            template = json.loads(
                whatsapp_payload(
                    whatsapp.number_id,
                    whatsapp.number,
                    [
                        {
                            "from": random_number()[1:],
                            "id": f"wamid.FUZZ{marker}",
                            "type": "text",
                            "text": {"body": f"fuzz {marker}"},
                        }
                    ],
                    statuses=[{"id": f"wamid.out{marker}", "status": "read", "timestamp": "1"}],
                )
            )
            body = data.draw(hostile_json(template))
            secret = {"tenant": whatsapp.secret, "global": WHATSAPP_APP_SECRET}.get(signing)
            headers = {"content-type": "application/json"}
            if secret or signing == "forged":
                headers["x-hub-signature-256"] = meta_signature(body, secret or "forged")
            response = client.post("/webhooks/whatsapp", content=body, headers=headers)
            if signing in ("none", "forged"):  # refused before any parse
                assert response.status_code in (400, 401, 413), response.text
            outcomes.record(response, marker)

        send()
    outcomes.check_nothing_stored_for_refusals(stack)


def test_twilio_webhook(stack: Stack, twilio: TwilioTenant) -> None:
    outcomes = Outcomes()
    url = f"{stack.gateway.url}/webhooks/twilio"
    fields = ["MessageSid", "From", "To", "Body", "NumMedia", "Extra"]
    with httpx.Client(timeout=30) as client:

        @FUZZ
        @given(
            field=st.sampled_from(fields),
            value=st.none() | strings,
            corruption=corruptions,
            signing=_often(st.sampled_from(["none", "wrong"]), "valid", 40),
        )
        def send(
            field: str, value: str | None, corruption: tuple[str, int, bytes], signing: str
        ) -> None:
            marker = uuid.uuid4().hex
            params = {
                "MessageSid": f"SM{marker}",
                "AccountSid": twilio.sid,
                "From": f"whatsapp:{random_number()}",
                "To": f"whatsapp:{twilio.number}",
                "Body": f"fuzz {marker}",
                "NumMedia": "0",
            }
            if value is None:
                params.pop(field, None)
            else:
                params[field] = value
            body = _corrupt(urlencode(params, errors="surrogatepass").encode(), corruption)
            headers = {"content-type": "application/x-www-form-urlencoded"}
            if signing != "none":
                try:  # sign what the gateway will read, so a valid signature gets through
                    seen = dict(parse_qsl(body.decode(), keep_blank_values=True))
                except UnicodeDecodeError:  # refused before the signature is looked at
                    seen = {}
                token = twilio.token if signing == "valid" else "wrong"
                headers["x-twilio-signature"] = twilio_signature(token, url, seen)
            response = client.post(url, content=body, headers=headers)
            if signing != "valid":
                assert response.status_code in (400, 403, 413), response.text
            outcomes.record(response, marker)

        send()
    outcomes.check_nothing_stored_for_refusals(stack)


def test_chatbot_endpoint(stack: Stack, chatbot_number: str) -> None:
    outcomes = Outcomes()
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:

        @FUZZ
        @given(data=st.data(), key=_often(st.sampled_from(["wrong", ""]), stack.gateway_key, 25))
        def send(data: st.DataObject, key: str) -> None:
            marker = uuid.uuid4().hex
            template = {
                "text": f"fuzz {marker}",
                "source": "fuzz",
                "phoneNumber": chatbot_number,
                "messageId": f"fuzz-{marker}",
            }
            # phoneNumber keeps the tenant or is no usable string: an unknown number would
            # be a 503 "configure me" answer, by contract, not a fault
            body = data.draw(hostile_json(template, fixed=lambda p: p == ("phoneNumber",)))
            headers = {"content-type": "application/json"}
            if key:
                headers["authorization"] = f"Bearer {key}"
            response = client.post("/api-chatbot", content=body, headers=headers)
            if key != stack.gateway_key:
                assert response.status_code == 401, response.text
            outcomes.record(response, marker)
            if response.status_code >= 400:
                assert response.json()["retryable"] is False

        send()
    outcomes.check_nothing_stored_for_refusals(stack)
