"""The reply sender's conversation rules with in-memory fakes: the owner re-checked right
before the send, the 24-hour window (and the re-engagement template), and Meta's error
codes — 130429 holds the business number, 131056 paces the parts, 131026 / 190 end it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.pacing import PAIR_INTERVAL_S, NumberGate
from services.gateway.domain.replies import split_text
from shared.consumer import Received
from shared.contracts.config_events import ConversationSettingsChanged
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import ResponseGenerated
from shared.views.conversation_owners import ConversationOwners
from tests.support.seams import Published
from tests.unit.test_reply_sender import FakeGraph, FakeSends, _again, _reply, _sender, _verdict

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _owned(item: Received[ResponseGenerated], owner: ConversationOwner, **kw: Any) -> Any:
    owners = ConversationOwners()
    assert item.event.user_id is not None
    owners.apply(
        ConversationOwnerChanged(
            user_id=item.event.user_id,
            conversation_key=kw.pop("conversation_key", item.event.conversation_key),
            owner=owner,
            changed_by=OwnerChangedBy.TENANT_API,
            occurred_at=NOW - timedelta(minutes=1),
            **kw,
        )
    )
    return owners


def _seen(item: Received[ResponseGenerated], ago: timedelta) -> Received[ResponseGenerated]:
    event = item.event.model_copy(update={"customer_last_seen_at": (NOW - ago).isoformat()})
    return Received(event, item.record, item.span, item.delivery, item.first_handled_at)


async def test_a_paused_or_human_conversation_gets_no_reply_and_says_why() -> None:
    for owner in (ConversationOwner.PAUSED, ConversationOwner.HUMAN):
        store, graph, published = FakeSends(), FakeGraph(), Published()
        item = _reply()
        sender = _sender(store, graph, published, owners=_owned(item, owner), now=lambda: NOW)

        result = await sender([item])

        assert _verdict(result, item) is None and graph.sent == []
        [failed] = published.of_type(ReplyFailed)
        assert failed.reason == f"owner_{owner.value}"
        assert store.rows[item.event.message_id].status == "failed"


async def test_the_acknowledgement_of_a_handover_still_goes_out() -> None:
    """The responder publishes its acknowledgement, then the handover it caused: the owner
    view may already hold the handover when the acknowledgement is sent."""
    store, graph, published = FakeSends(), FakeGraph(), Published()
    item = _reply()
    owners = _owned(item, ConversationOwner.HUMAN, message_id=item.event.message_id)
    sender = _sender(store, graph, published, owners=owners, now=lambda: NOW)

    await sender([item])

    assert len(graph.sent) == 1 and published.of_type(ReplyFailed) == []


async def test_a_tenant_wide_pause_holds_every_conversation_and_its_expiry_frees_them() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    item = _reply()
    owners = _owned(
        item,
        ConversationOwner.PAUSED,
        conversation_key=None,
        until=NOW + timedelta(hours=1),
    )
    paused = _sender(store, graph, published, owners=owners, now=lambda: NOW)
    later = _sender(store, graph, published, owners=owners, now=lambda: NOW + timedelta(hours=2))
    other = _reply()
    other = Received(
        other.event.model_copy(update={"user_id": item.event.user_id}),
        other.record,
        other.span,
        other.delivery,
        other.first_handled_at,
    )

    await paused([item])
    await later([other])

    assert [f.reason for f in published.of_type(ReplyFailed)] == ["owner_paused"]
    assert [d.message_id for d in published.of_type(ReplyDelivered)] == [other.event.message_id]


async def test_a_reply_past_the_window_is_not_sent_as_free_text() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    item = _seen(_reply(), timedelta(hours=25))

    await _sender(store, graph, published, now=lambda: NOW)([item])

    assert graph.sent == []
    [failed] = published.of_type(ReplyFailed)
    assert failed.reason == "window_closed" and failed.provider_message_ids == []
    assert "24-hour window" in failed.detail


async def test_past_the_window_the_tenants_template_goes_instead() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    item = _seen(_reply(), timedelta(hours=30))
    assert item.event.user_id is not None
    settings = ConversationSettingsView()
    settings.apply(
        ConversationSettingsChanged(
            user_id=item.event.user_id,
            reengagement_template="order_follow_up",
            template_language="en_US",
        )
    )
    sender = _sender(store, graph, published, conversations=settings, now=lambda: NOW)

    await sender([item])
    await sender([_again(item)])  # a redelivery sends nothing again

    assert [(s.get("template"), s.get("language")) for s in graph.sent] == [
        ("order_follow_up", "en_US")
    ]
    [failed] = published.of_type(ReplyFailed)
    assert failed.reason == "window_closed" and failed.provider_message_ids == ["wamid.out1"]
    assert "order_follow_up" in failed.detail


async def test_within_the_window_the_reply_is_sent() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    item = _seen(_reply(), timedelta(hours=23, minutes=59))

    await _sender(store, graph, published, now=lambda: NOW)([item])

    assert len(graph.sent) == 1 and published.of_type(ReplyDelivered)


class FakeTimes:
    def __init__(self, at: dict[str, datetime]) -> None:
        self.at = at
        self.asked: list[list[str]] = []

    async def accepted_at(self, message_ids: Collection[str]) -> dict[str, datetime]:
        self.asked.append(sorted(message_ids))
        return {m: self.at[m] for m in message_ids if m in self.at}


async def test_without_last_seen_the_gateways_own_acceptance_time_decides() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    old, fresh, told = _reply(), _reply(), _seen(_reply(), timedelta(hours=1))
    times = FakeTimes(
        {
            old.event.message_id: NOW - timedelta(days=2),
            fresh.event.message_id: NOW - timedelta(minutes=5),
        }
    )
    sender = _sender(store, graph, published, accepted=times, now=lambda: NOW)

    await sender([old, fresh, told])

    assert times.asked == [sorted([old.event.message_id, fresh.event.message_id])]
    assert [f.message_id for f in published.of_type(ReplyFailed)] == [old.event.message_id]
    assert len(published.of_type(ReplyDelivered)) == 2


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_130429_holds_the_number_then_the_replies_go_out() -> None:
    store, graph, published = FakeSends(), FakeGraph(fail_with=[(400, 130429)]), Published()
    clock = Clock()
    sender = _sender(store, graph, published, gate=NumberGate(80), clock=clock)
    first, second = _reply("one"), _reply("two")

    result = await sender([first])
    assert _verdict(result, first) == "retry"
    held = await sender([second])  # same number: waits without a claim or a call
    assert _verdict(held, second) == "retry" and len(store.claims) == 1
    assert graph.sent == [] and published.events == []

    clock.t += 1.5  # the first back-off (1 s) has passed
    await sender([_again(first), _again(second)])

    assert sorted(s["body"] for s in graph.sent) == ["one", "two"]
    assert len(published.of_type(ReplyDelivered)) == 2


async def test_130429_many_times_is_still_retried_past_the_outage_limit() -> None:
    refusals: list[int | tuple[int, int] | None] = [(400, 130429)] * 4
    store, graph, published = FakeSends(), FakeGraph(fail_with=refusals), Published()
    clock = Clock()
    sender = _sender(store, graph, published, gate=NumberGate(0), clock=clock)
    item = _reply()
    for _ in range(5):  # max_attempts is 3 for outages
        await sender([item])
        item = _again(item)
        clock.t += 60

    assert published.of_type(ReplyFailed) == [] and len(graph.sent) == 1


async def test_131056_paces_the_rest_of_a_split_reply() -> None:
    refusals: list[int | tuple[int, int] | None] = [None, (400, 131056)]
    store, graph, published = FakeSends(), FakeGraph(fail_with=refusals), Published()
    text = " ".join(f"word{i}" for i in range(1000))  # two parts
    item = _reply(text)
    sender = _sender(store, graph, published)
    result = await sender([item])

    verdict = result.verdicts[id(item)]
    assert verdict.kind == "retry" and verdict.after_s == PAIR_INTERVAL_S
    assert store.rows[item.event.message_id].parts_sent == 1
    await sender([_again(item)])
    assert [s["body"] for s in graph.sent] == split_text(text, 4096)  # part 1 once
    [delivered] = published.of_type(ReplyDelivered)
    assert delivered.parts == 2


async def test_final_and_tenant_action_codes_end_the_reply_with_their_reason() -> None:
    for code, reason in (
        (131026, "undeliverable"),
        (190, "token_expired"),
        (131047, "window_closed"),
    ):
        store, graph, published = FakeSends(), FakeGraph(fail_with=[(400, code)]), Published()

        await _sender(store, graph, published)([_reply()])

        [failed] = published.of_type(ReplyFailed)
        assert (failed.reason, failed.error_code, failed.attempts) == (reason, code, 1)
