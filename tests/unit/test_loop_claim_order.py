"""The loop's half of the claim and rewind protocol (service/kafka/ownership.py), with the delivery's recording
fakes.

delivery.claim() fences and then reads the committed offsets (test_delivery_protocol.py); the loop must then
seek every claimed partition to them BEFORE it resumes fetching, and on a failed delivery seek back to the
batch's first record and pause until the next claim. These tests drive Ownership._claim/rewind directly (the
order they pin is the contract, not the names).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from delivery_fakes import Faults, Record, World

from service.kafka.delivery import DeliveryFailed, ExactlyOnce
from service.kafka.ownership import Ownership
from service.kafka.settle import Stall
from service.settings import Settings

GROUP = "moderation-test"
P0, P1 = TopicPartition("articles", 0), TopicPartition("articles", 1)
TXN0 = f"{GROUP}-articles-0"


class QuietLog:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **fields: None


def moderator(world: World) -> Ownership:
    settings = Settings(group_id=GROUP, replay_window_entries=0)
    delivery = ExactlyOnce(settings, world.consumer, producer_factory=world.producer_factory)
    return Ownership(world.consumer, delivery, QuietLog(), lambda event: None, replay=None, stall=Stall(QuietLog()))


def test_claimed_partitions_are_seeked_to_the_committed_offset_after_the_fence_then_resumed() -> None:
    """Prevents duplicates and lost events: fetching must restart exactly at the committed offset read after
    the fence; resuming before the seek (or seeking to an offset read before the fence) decides records from
    the wrong place."""
    world = World(committed={P0: 40})
    m = moderator(world)
    m.assigned = m.unclaimed = {P0, P1}

    asyncio.run(m._claim(5.0))

    steps = [(who, what) for who, what, *_ in world.journal]
    assert steps.index((TXN0, "init_transactions")) < steps.index(("consumer", "committed"))
    assert world.of("consumer")[-2:] == [("seek", P0, 40), ("resume", P0, P1)]  # P1: never committed, no seek
    assert m.unclaimed == set()


def test_a_failed_claim_leaves_the_partitions_paused_and_unclaimed() -> None:
    """Prevents reading a partition whose previous owner is not fenced: nothing is seeked or resumed."""
    world = World(faults=Faults({"init_transactions"}))
    m = moderator(world)
    m.assigned = m.unclaimed = {P0}
    asyncio.run(m._claim(5.0))
    assert [what for what, *_ in world.of("consumer")] == []
    assert m.unclaimed == {P0}


def test_a_failed_delivery_rewinds_to_the_batch_start_pauses_and_is_claimed_again() -> None:
    """Prevents lost events: the failed partition goes back to its batch's first record and is paused; the
    next claim fences again and seeks to the committed offset before anything more is read."""
    world = World(committed={P0: 10})
    m = moderator(world)
    m.assigned = {P0, P1}
    failed = DeliveryFailed({P0}, RuntimeError("broker away"))

    m.rewind({P0: [Record(10), Record(11)], P1: [Record(3)]}, failed)

    assert world.of("consumer") == [("seek", P0, 10), ("pause", P0)]  # P1 delivered: untouched
    assert m.unclaimed == {P0}
    m.backoff.retry_at = 0
    asyncio.run(m._claim(5.0))
    assert [(who, what) for who, what, *_ in world.journal][-4:] == [
        (TXN0, "init_transactions"), ("consumer", "committed"), ("consumer", "seek"), ("consumer", "resume"),
    ]
