from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from services.gateway.api.schemas import ChatbotRequest, answer_for, is_final
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    FailureReason,
    ResponseFailed,
    ResponseGenerated,
)


def _failed(reason: FailureReason, retryable: bool) -> ResponseFailed:
    return ResponseFailed(
        message_id="m",
        conversation_key="k",
        user_id=None,
        channel=Channel.API,
        reason=reason,
        retryable=retryable,
    )


def test_success_answer_has_the_seed_shape() -> None:
    user = uuid.uuid4()
    outcome = ResponseGenerated(
        message_id="m",
        conversation_key="k",
        user_id=user,
        channel=Channel.API,
        customer_phone="+1",
        response="hello",
        config_source=ConfigSource.USER,
        model="x",
    )
    status, body = answer_for(outcome, "ab" * 16)
    assert status == 200
    assert body == {
        "success": True,
        "response": "hello",
        "messageId": "m",
        "userId": str(user),
        "traceId": "ab" * 16,
    }
    assert is_final(outcome)


@pytest.mark.parametrize(
    "reason",
    [FailureReason.CONFIG_REQUIRED, FailureReason.PROVIDER_AUTH, FailureReason.PROVIDER_REJECTED],
)
def test_config_problems_answer_503_config_required(reason: FailureReason) -> None:
    status, body = answer_for(_failed(reason, False), None)
    assert status == 503
    assert body["configRequired"] is True
    assert body["error"] == (
        "Service de messagerie non configuré. Veuillez contacter l'administrateur."
    )


def test_transient_failures_are_retryable_and_not_final() -> None:
    outcome = _failed(FailureReason.PROVIDER_UNAVAILABLE, True)
    status, body = answer_for(outcome, None)
    assert status == 503
    assert body == {
        "success": False,
        "error": "Failed to process message. Please try again.",
        "retryable": True,
    }
    assert not is_final(outcome)


def test_request_validation_and_fingerprint() -> None:
    with pytest.raises(ValidationError):
        ChatbotRequest.model_validate({"text": " ", "source": "s", "phoneNumber": "+1"})
    one = ChatbotRequest.model_validate({"text": "a", "source": "s", "phoneNumber": "+1"})
    two = ChatbotRequest.model_validate({"text": "b", "source": "s", "phoneNumber": "+1"})
    assert one.fingerprint() != two.fingerprint()
