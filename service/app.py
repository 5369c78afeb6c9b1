"""The Kafka loop, in the shape of aiokafka's transaction example: fetch a batch, ``process_batch`` (pure, in a
worker thread), deliver, report. See docs/delivery.md.

Everything else lives beside it, handed in by bootstrap.py: partition ownership (claim, rewind, the rebalance
listener: service/kafka/ownership.py), the time bounds (service/kafka/settle.py), delivery (exactly-once or
at-least-once: service/kafka/delivery.py), the policy in force (swapped by its own watcher task:
service/files/policy.py) and the report sinks (logs, metrics, health: service/ops/reports.py).

Decisions are computed in a worker thread, so CPU-heavy verification never starves the consumer's heartbeats on
the event loop (aiokafka #678). One batch is in flight at a time, under ``ownership.lock``; a rebalance waits for
it, so no transaction straddles a change of ownership. Nothing is committed for a decision that was not written:
a failed partition is rewound and decided again after a back-off.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.core.batch import Outgoing, Topics, process_batch
from service.core.replay import ReplayWindows
from service.kafka import settle
from service.kafka.delivery import Delivery, DeliveryFailed
from service.kafka.ownership import Ownership
from service.kafka.settle import Deadline, Stall, bounded, start_with_retry, unless_stopped
from service.ops.reports import BatchReport, Reports
from service.ops.tracing import NO_TRACING
from service.settings import Settings

Batches = dict[TopicPartition, list[Any]]


class Moderator:
    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer, delivery: Delivery, ownership: Ownership,
                 policy: Any, report: Reports, log: Any, *, stall: Stall, replay: ReplayWindows | None,
                 pool: ThreadPoolExecutor | None, tracing: Any = NO_TRACING) -> None:
        """``policy.current``: the snapshot in force; ``replay``: exact copies of signed events remembered once
        their batch is delivered (None: off); ``pool``: the decide threads (None: decide on the event loop);
        ``tracing``: OpenTelemetry spans (service/ops/tracing.py), off unless an OTLP endpoint is set."""
        self.settings, self.consumer, self.delivery, self.ownership = settings, consumer, delivery, ownership
        self.policy, self.report, self.log = policy, report, log
        self.stall, self.replay, self.pool, self.tracing = stall, replay, pool, tracing
        self.topics = Topics(settings.approved_topic, settings.rejected_topic, settings.deadletter_topic,
                             cloudevents_source=settings.cloudevents_source, review=settings.review_topic)
        self.limits = settings.limits()
        self.deadline = Deadline(settings.shutdown_timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        self.ownership.subscribe(s.input_topic)
        watch = asyncio.ensure_future(self.deadline.track(stop))
        try:
            if await start_with_retry(self.consumer, self.log, stop):
                self.log.info("consumer_started", topic=s.input_topic, group=s.group_id, delivery=s.delivery)
                await self._loop(stop)
        finally:
            self.ownership.closing = True
            watch.cancel()
            await bounded(self.delivery.stop(), self.deadline.remaining(0.4), self.log, "producers")
            await bounded(self.consumer.stop(), self.deadline.remaining(0.9), self.log, "consumer")  # leaves the group
            self.log.info("consumer_stopped")

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.ownership.claim_due(stop)
            # getmany ignores its timeout during a rebalance (it waits for the assignment): race it with stop.
            fetching = time.time_ns()  # the consume span's start, when tracing
            fetch = self.consumer.getmany(timeout_ms=200, max_records=self.settings.batch_max_records)
            batches = await unless_stopped(fetch, stop)
            if not batches:
                self.report(BatchReport())  # an idle turn: the loop still turns
                continue
            async with self.ownership.lock:
                started = time.monotonic()
                trace = self.tracing.received(batches, fetching, self.settings.input_topic)
                replay = self.replay.batch() if self.replay is not None else None
                with trace.decide():
                    outgoing = await self._process(batches, replay)
                failed = await self._deliver(batches, outgoing, stop, trace)
                if failed is None:
                    return  # abandoned at shutdown: none of it committed
                if replay is not None:
                    replay.commit(set(batches) - failed)
                delivered = {tp: part for tp, part in outgoing.items() if tp not in failed}
                trace.moderated(batches, delivered)
            self.report(BatchReport(
                records=sum(len(part) for part in batches.values()), seconds=time.monotonic() - started,
                delivered=delivered, failed=failed,
                lag={tp: _lag(self.consumer, tp, part[-1].offset) for tp, part in batches.items()}))

    async def _process(self, batches: Batches, replay: Any) -> dict[TopicPartition, list[Outgoing]]:
        """``process_batch`` in the worker threads, the batch's partitions spread over them (``decide_threads``).

        With ``decide_threads=0`` the batch is decided on the event loop itself: no offloading, which the
        benchmark uses to show what offloading buys (and what it costs the heartbeat).
        """
        step = partial(process_batch, policy=self.policy.current, decided_at=datetime.now(UTC), topics=self.topics,
                       limits=self.limits, replay=replay)
        if self.pool is None:
            return step(batches)
        items = list(batches.items())
        threads = max(1, min(self.settings.decide_threads, len(items)))
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(*(loop.run_in_executor(self.pool, step, dict(items[i::threads]))
                                         for i in range(threads)))
        return {tp: part for result in results for tp, part in result.items()}

    async def _deliver(self, batches: Batches, outgoing: dict[TopicPartition, list[Outgoing]],
                       stop: asyncio.Event, trace: Any) -> frozenset[TopicPartition] | None:
        """The partitions whose delivery failed (rewound by ownership), or None if the shutdown abandoned it."""
        task = asyncio.ensure_future(trace.produce(self.delivery.deliver(batches, outgoing)))
        try:
            if await settle.settle(task, stop, lambda: self.deadline.remaining(0.5), self.stall.waiting):
                self.ownership.delivered()
                return frozenset()
            if stop.is_set():
                self.log.warning("batch_abandoned", records=sum(len(part) for part in batches.values()))
                return None
            raise DeliveryFailed(set(batches), TimeoutError(f"not delivered in {settle.DELIVERY_TIMEOUT_S} s"))
        except DeliveryFailed as failed:
            self.ownership.rewind(batches, failed)
            return frozenset(failed.partitions)


def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition, last_offset: int) -> int | None:
    highwater = consumer.highwater(tp)
    return None if highwater is None else max(highwater - (last_offset + 1), 0)
