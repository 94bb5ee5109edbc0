"""The DeliveryOutbox contract. Add the store-backed outbox to ``OUTBOXES`` to hold it to the same rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from skynet.alerts import DeliveryOutbox, MemoryOutbox
from skynet.records import Channel, DeliveryState

OUTBOXES: dict[str, Callable[[], DeliveryOutbox]] = {"memory": MemoryOutbox}


@pytest.fixture(params=sorted(OUTBOXES))
def outbox(request) -> DeliveryOutbox:
    return OUTBOXES[request.param]()


def claimed_ids(outbox: DeliveryOutbox, now: float, limit: int = 10, lease_s: float = 30.0) -> list[int]:
    return [d.id for d in outbox.claim(now, limit, lease_s)]


def test_claim_takes_due_deliveries_earliest_first_up_to_the_limit(outbox):
    a = outbox.enqueue("siem", b"a", now=100.0)
    b = outbox.enqueue("siem", b"b", now=101.0)
    c = outbox.enqueue("pager", b"c", now=102.0)
    assert outbox.next_due() == 100.0
    assert claimed_ids(outbox, now=99.0) == []
    (first,) = outbox.claim(101.5, limit=1, lease_s=30.0)
    assert (first.id, first.target, first.body, first.attempts, first.created_at) == (a, "siem", b"a", 1, 100.0)
    assert first.next_attempt_at == 131.5 and first.state is DeliveryState.PENDING
    assert claimed_ids(outbox, now=102.0) == [b, c]


def test_a_claimed_delivery_is_leased_and_comes_back_when_the_lease_ends(outbox):
    delivery_id = outbox.enqueue("siem", b"x", now=0.0)
    assert claimed_ids(outbox, now=1.0, lease_s=10.0) == [delivery_id]
    assert claimed_ids(outbox, now=10.9) == []  # another worker does not take it meanwhile
    assert outbox.next_due() == 11.0
    (again,) = outbox.claim(11.0, 10, 10.0)
    assert again.attempts == 2  # the crashed attempt counts


def test_done_deliveries_are_never_claimed_again(outbox):
    delivery_id = outbox.enqueue("siem", b"x", now=0.0)
    outbox.claim(0.0, 10, 5.0)
    outbox.mark_done(delivery_id, now=3.5)
    assert claimed_ids(outbox, now=1e9) == [] and outbox.next_due() is None
    done = outbox.get(delivery_id)
    assert (done.state, done.delivered_at, done.attempts) == (DeliveryState.DONE, 3.5, 1)  # the delivery log


def test_each_channel_has_its_own_queue_in_one_outbox(outbox):
    sms, email = outbox.for_channel(Channel.SMS), outbox.for_channel(Channel.EMAIL)
    hook = outbox.enqueue("siem", b"w", now=1.0)
    text = sms.enqueue("+8613800000001", b"s", now=2.0)
    mail = email.enqueue("duty@example.org", b"e", now=3.0)
    assert len({hook, text, mail}) == 3  # one sequence of ids
    assert (outbox.next_due(), sms.next_due(), email.next_due()) == (1.0, 2.0, 3.0)
    assert [d.target for d in sms.claim(10.0, 10, 5.0)] == ["+8613800000001"]
    assert claimed_ids(email, now=10.0) == [mail] and claimed_ids(outbox, now=10.0) == [hook]
    sms.mark_failed(text, "Kannel answered HTTP 503", next_attempt_at=30.0)
    assert sms.next_due() == 30.0 and outbox.for_channel(Channel.WEBHOOK).next_due() == 40.0
    assert outbox.get(text).last_error == "Kannel answered HTTP 503"


def test_failed_attempts_are_rescheduled_or_given_up(outbox):
    retried = outbox.enqueue("siem", b"r", now=0.0)
    given_up = outbox.enqueue("siem", b"g", now=0.0)
    outbox.claim(0.0, 10, 5.0)
    outbox.mark_failed(retried, "HTTP 503", next_attempt_at=60.0)
    outbox.mark_failed(given_up, "HTTP 404", next_attempt_at=None)
    assert outbox.next_due() == 60.0
    assert claimed_ids(outbox, now=59.0) == []
    (again,) = outbox.claim(60.0, 10, 5.0)
    assert (again.id, again.attempts, again.last_error) == (retried, 2, "HTTP 503")
    assert claimed_ids(outbox, now=1e9) == [retried]  # its lease ran out; the given-up one never returns


def test_memory_outbox_keeps_given_up_deliveries_for_inspection():
    outbox = MemoryOutbox()
    delivery_id = outbox.enqueue("siem", b"g", now=0.0)
    outbox.claim(0.0, 1, 5.0)
    outbox.mark_failed(delivery_id, "HTTP 404", None)
    kept = outbox.get(delivery_id)
    assert (kept.state, kept.last_error, kept.body, kept.attempts) == (DeliveryState.FAILED, "HTTP 404", b"g", 1)
