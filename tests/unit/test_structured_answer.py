"""Issue 14: the model hands a conversation over through Groq's structured outputs where the
tenant's model supports them (shared/groq_models.py), the `[handoff]` text marker otherwise.
The turn path asks for `{"reply", "action"}` through `response_format`, the key failover
asks again for each model it tries (a replacement may not support it), and the Groq adapter
sends it to Groq (omitted when plain text is wanted)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.responder.adapters.groq_client import Completion, GroqGateway
from services.responder.domain.failures import GroqFailure
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.turns import (
    HANDOFF_INSTRUCTION,
    STRUCTURED_HANDOFF_INSTRUCTION,
    TurnSettingsView,
    handoff_instruction,
    turn_answer_format,
)
from services.responder.entrypoints.key_failover import KeyFailover
from services.responder.entrypoints.turns import AnswerTurns, TurnPolicy
from shared.contracts.config_events import GroqConfigChanged, GroqKeyPoolChanged
from shared.contracts.conversations import ConversationOwnerChanged, OwnerChangedBy
from shared.contracts.messages import ResponseGenerated
from shared.groq_models import STRUCTURED_OUTPUT_MODELS, json_schema_format
from shared.views.conversation_owners import ConversationOwners
from tests.support.groq import GroqCall, InMemoryGroq
from tests.support.seams import Published
from tests.unit.test_responder_turns import BOX, KEY, T0, TENANT, FakeTurnStore, _turn

STRICT = "openai/gpt-oss-120b"
BEST_EFFORT = "meta-llama/llama-4-scout-17b-16e-instruct"
PLAIN = "qwen/qwen3-32b"


class RecordingGroq(InMemoryGroq):
    """Answers `answer` (or fails for a retired model), recording each call's model and
    response format."""

    def __init__(self, answer: str, retired: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.text = answer
        self.retired = retired

    @property
    def calls(self) -> list[tuple[str, Mapping[str, Any] | None, list[Mapping[str, str]]]]:
        return [(c.model, c.response_format, c.messages) for c in self.received]

    def answer(self, call: GroqCall) -> Completion:
        if call.model in self.retired:
            raise GroqFailure(400, code="model_decommissioned")
        return Completion(self.text, 10, 5)


def _answer_turns(
    groq: RecordingGroq, published: Published, owners: ConversationOwners, model: str
) -> AnswerTurns:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(
            user_id=TENANT, api_key_encrypted=BOX.encrypt("gsk_t"), model=model, temperature=0.2
        )
    )
    policy = TurnPolicy("be brief", "http://groq.test", RetryPolicy(budget_s=3600))
    return AnswerTurns(
        FakeTurnStore(), view, TurnSettingsView(), owners, groq, BOX, published, policy, lambda: T0
    )


def test_the_format_is_strict_where_groq_decodes_under_constraint_and_absent_elsewhere() -> None:
    strict = turn_answer_format(STRICT)
    assert strict is not None and strict["type"] == "json_schema"
    assert strict["json_schema"]["strict"] is True
    schema = strict["json_schema"]["schema"]
    assert schema["required"] == ["reply", "action"]  # strict: every property required
    assert schema["additionalProperties"] is False
    assert schema["properties"]["action"]["enum"] == ["handoff", "none"]

    best_effort = turn_answer_format(BEST_EFFORT)
    assert best_effort is not None and best_effort["json_schema"]["strict"] is False
    assert turn_answer_format(PLAIN) is None
    assert json_schema_format("llama3-70b-8192", "x", {}) is None
    assert all(model.count("/") == 1 for model in STRUCTURED_OUTPUT_MODELS)

    assert handoff_instruction(STRICT) == STRUCTURED_HANDOFF_INSTRUCTION
    assert handoff_instruction(PLAIN) == HANDOFF_INSTRUCTION


async def test_a_structured_handoff_sends_the_reply_then_gives_the_conversation_to_a_person() -> (
    None
):
    groq = RecordingGroq('{"reply": "A colleague will answer you here.", "action": "handoff"}')
    published, owners = Published(), ConversationOwners()
    await _answer_turns(groq, published, owners, STRICT)(_turn("my parcel is broken"))

    [(model, response_format, messages)] = groq.calls
    assert (model, response_format) == (STRICT, turn_answer_format(STRICT))
    assert STRUCTURED_HANDOFF_INSTRUCTION in messages[0]["content"]
    assert "[handoff]" not in messages[0]["content"]
    [reply] = published.of_type(ResponseGenerated)
    assert reply.response == "A colleague will answer you here."
    [change] = published.of_type(ConversationOwnerChanged)
    assert change.changed_by is OwnerChangedBy.MODEL_HANDOFF
    assert not owners.current(TENANT, KEY, T0).bot_answers


async def test_a_structured_answer_without_handoff_is_only_its_reply() -> None:
    groq = RecordingGroq('{"reply": "Your order ships today.", "action": "none"}')
    published, owners = Published(), ConversationOwners()
    await _answer_turns(groq, published, owners, BEST_EFFORT)(_turn("order 4411"))

    [reply] = published.of_type(ResponseGenerated)
    assert reply.response == "Your order ships today."
    assert published.of_type(ConversationOwnerChanged) == []
    assert owners.current(TENANT, KEY, T0).bot_answers


async def test_a_model_without_structured_outputs_gets_plain_text_and_the_marker() -> None:
    groq = RecordingGroq("[handoff] Someone will answer here.")
    published, owners = Published(), ConversationOwners()
    await _answer_turns(groq, published, owners, PLAIN)(_turn("a person please, it is urgent"))

    [(_, response_format, messages)] = groq.calls
    assert response_format is None
    assert HANDOFF_INSTRUCTION in messages[0]["content"]
    [reply] = published.of_type(ResponseGenerated)
    assert reply.response == "Someone will answer here."
    [change] = published.of_type(ConversationOwnerChanged)
    assert change.changed_by is OwnerChangedBy.MODEL_HANDOFF


async def test_the_failover_asks_for_the_format_again_for_a_replacement_model() -> None:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(
            user_id=TENANT, api_key_encrypted=BOX.encrypt("gsk_t"), model=STRICT, temperature=0.2
        )
    )
    view.apply(GroqKeyPoolChanged(user_id=TENANT, keys=[], fallback_model=PLAIN))
    resolved = view.resolve(TENANT)
    assert resolved is not None
    groq = RecordingGroq("plain answer", retired=frozenset({STRICT}))
    failover = KeyFailover(groq, BOX, Published())

    answer = await failover.complete(
        resolved=resolved,
        user_id=TENANT,
        message_id="m1",
        base_url="http://groq.test",
        messages=[{"role": "user", "content": "hi"}],
        response_format=turn_answer_format,
    )

    assert [(model, fmt is not None) for model, fmt, _ in groq.calls] == [
        (STRICT, True),
        (PLAIN, False),
    ]
    assert answer.model == PLAIN


async def test_the_adapter_sends_the_format_and_omits_it_for_plain_text() -> None:
    seen: list[dict[str, Any]] = []
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": STRICT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"reply":"hi","action":"none"}'},
                "finish_reason": "stop",
            }
        ],
    }

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=body)

    gateway = GroqGateway(5.0, transport=httpx.MockTransport(respond))
    for response_format in (turn_answer_format(STRICT), None):
        await gateway.complete(
            api_key="gsk_x",
            base_url="http://groq.test",
            model=STRICT,
            temperature=0.1,
            messages=[{"role": "user", "content": "hi"}],
            response_format=response_format,
        )
    await gateway.close()
    assert seen[0]["response_format"] == turn_answer_format(STRICT)
    assert "response_format" not in seen[1]
