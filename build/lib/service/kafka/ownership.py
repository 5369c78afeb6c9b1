"""Partition ownership: which input partitions this instance may decide, and the rebalance listener.

A partition is only read once ``delivery.claim()`` succeeded for it: it is paused from the moment it is assigned
(before the listener's first ``await``), or from the moment its delivery failed, until then; claim() says where
to resume (exactly-once: the committed offset, read after the partition's producer fenced every earlier one).
A failed partition is rewound to its batch's first record, paused, and claimed again after a back-off; the
other partitions of the batch go on. See docs/delivery.md.

``lock`` is held by the loop for a whole batch (decide + deliver) and by both listener callbacks, so a
partition is never revoked in the middle of its transaction (aiokafka #844). aiokafka calls the listener from
its coordination task and swallows its exceptions: the callbacks must not raise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError

from service.core.replay import ReplayWindows
from service.kafka.delivery import Delivery, DeliveryFailed
from service.kafka.settle import Backoff, Stall, unless_stopped
from service.ops.reports import Assignment, Event

CLAIM_TIMEOUT_S, LISTENER_CLAIM_TIMEOUT_S = 20.0, 5.0  # heartbeats pause while on_partitions_assigned runs


class Ownership:
    def __init__(self, consumer: AIOKafkaConsumer, delivery: Delivery, log: Any, report: Callable[[Event], None],
                 replay: ReplayWindows | None, stall: Stall) -> None:
        self.consumer, self.delivery, self.log, self.report = consumer, delivery, log, report
        self.replay, self.stall = replay, stall
        self.assigned: set[TopicPartition] = set()
        self.unclaimed: set[TopicPartition] = set()  # paused until delivery.claim() succeeds for them
        self.lock = asyncio.Lock()
        self.closing = False
        self.backoff = Backoff()

    def subscribe(self, topic: str) -> None:
        self.consumer.subscribe([topic], listener=_Listener(self))

    async def claim_due(self, stop: asyncio.Event) -> None:
        """Claim the partitions still waiting for it, once their back-off has passed."""
        if self.unclaimed and self.backoff.due():
            async with self.lock:
                await unless_stopped(self._claim(CLAIM_TIMEOUT_S), stop)

    def delivered(self) -> None:
        self.backoff.reset()
        self.stall.resumed()

    def rewind(self, batches: dict[TopicPartition, list[Any]], failed: DeliveryFailed) -> None:
        """The failed partitions (still ours) go back to their batch's first record, paused until claimed."""
        mine = failed.partitions & self.assigned
        for tp in mine:
            with contextlib.suppress(IllegalStateError):
                self.consumer.seek(tp, batches[tp][0].offset)  # decided again from here, or from where
                self.consumer.pause(tp)  # claim() says: nothing more is read from it until then
        self.unclaimed |= mine
        self.stall.failed()
        self.log.warning("delivery_failed", error=repr(failed.cause), retry_in_s=self.backoff.next(),
                         partitions=names(mine))

    async def _claim(self, timeout: float) -> None:
        self.unclaimed &= self.assigned
        partitions = set(self.unclaimed)
        if not partitions or self.closing:
            return
        try:
            resume = await asyncio.wait_for(self.delivery.claim(partitions), timeout)
        except Exception as exc:  # KafkaError, TimeoutError, OSError: the broker did not answer in time
            self.log.warning("broker_unreachable", step="claim", error=repr(exc), retry_in_s=self.backoff.next(),
                             partitions=names(partitions))
            return
        for tp, offset in resume.items():
            self.consumer.seek(tp, offset)
        self.consumer.resume(*partitions)
        self.unclaimed -= partitions
        self.log.info("partitions_claimed", partitions=names(partitions),
                      resume={f"{tp.topic}:{tp.partition}": offset for tp, offset in resume.items()})

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:  # the batch in flight is delivered (or fails) first
            self.assigned -= revoked
            self.unclaimed -= revoked
            if self.replay is not None:
                self.replay.forget(revoked)
        self.report(Assignment(frozenset(self.assigned), frozenset(revoked)))
        self.log.info("partitions_revoked", partitions=names(revoked))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            self.consumer.pause(*assigned)  # before any await: nothing is fetched for them until claimed
        async with self.lock:
            self.assigned, self.unclaimed = set(assigned), set(assigned)
            with contextlib.suppress(Exception):
                await self.delivery.retain(assigned)  # producers of partitions that went elsewhere
            await self._claim(LISTENER_CLAIM_TIMEOUT_S)
        self.log.info("partitions_assigned", partitions=names(assigned))
        self.report(Assignment(frozenset(self.assigned)))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.ownership.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.ownership.on_assigned(set(assigned))


def names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)
