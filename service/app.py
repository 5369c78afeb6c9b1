"""The Kafka loop, in the shape of aiokafka's transaction example: fetch a batch, ``process_batch`` (pure, in a
worker thread), deliver, report. See docs/delivery.md.

Everything else lives beside it, handed in by bootstrap.py: partition ownership (claim, rewind, the rebalance
listener: service/kafka/ownership.py), the time bounds (service/kafka/settle.py), delivery (exactly-once or
at-least-once: service/kafka/delivery.py), the policy in force (swapped by its own watcher task:
service/files/policy.py) and the report sinks (logs, metrics, health: service/ops/reports.py).

Decisions are computed in a worker thread, so CPU-heavy verification never starves the consumer's heartbeats on
the event loop (aiokafka #678). One batch is delivered at a time, under ``ownership.lock``; a rebalance waits for
it, so no transaction straddles a change of ownership. While a batch is delivered, the next one (what the
consumer already holds) is decided in the worker thread: the core's CPU overlaps the delivery's round trips.
It is delivered only after the batch before it, and only the partitions whose records still follow on from
the consumer's position (``_still_current``): not those rewound after a failure, nor any that a rebalance
reset. Nothing is committed for a decision that was not written: a failed partition is rewound and decided
again after a back-off.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError

from service.core.batch import Outgoing, Topics, process_batch
from service.core.replay import ReplayBatch, ReplayWindows
from service.kafka import settle
from service.kafka.delivery import Delivery, DeliveryFailed
from service.kafka.ownership import Ownership, names
from service.kafka.settle import Deadline, Stall, bounded, start_with_retry, unless_stopped
from service.ops.reports import BatchReport, Reports
from service.ops.tracing import NO_TRACING
from service.settings import Settings

Batches = dict[TopicPartition, list[Any]]
POSITION_WAIT_S = 0.2  # the consumer's position is known at once but while it is being reset: no waiting for it


@dataclass(frozen=True)
class Settled:
    """How a batch's delivery ended. ``committed``: its partitions whose decisions and offsets were committed, so
    they are logged, counted and remembered (replay); that includes the partitions whose transactions committed
    before a delivery that timed out or was abandoned as a whole. ``failed``: those rewound and decided again.
    ``abandoned``: the shutdown stopped waiting; what did not commit then is left to the partitions' next owner."""

    committed: frozenset[TopicPartition]
    failed: frozenset[TopicPartition] = frozenset()
    abandoned: bool = False


@dataclass(eq=False)
class Fetched:
    """A batch as the consumer returned it, with what the loop needs to decide and deliver it."""

    batches: Batches
    trace: Any  # its tracing spans (service/ops/tracing.py)
    replay: ReplayBatch | None = None
    decided: asyncio.Future | None = None  # process_batch's result, once started

    async def settle(self, before: Settled) -> Fetched | None:
        """After the batch before it was delivered: this batch once decided; None when that delivery was
        abandoned at shutdown. Its records of the partitions that failed there are dropped before it is delivered,
        by ``_still_current``: a failed partition is rewound and unclaimed."""
        if before.abandoned:
            return None  # the loop ends: its decisions are not needed
        if self.decided is not None:
            await self.decided
        if self.replay is not None:
            self.replay.settled()
        return self

    async def without(self, partitions: set[TopicPartition] | frozenset[TopicPartition]) -> None:
        """Drop these partitions' records, and their decisions and replay entries when decided."""
        if not partitions & set(self.batches):
            return
        self.batches = {tp: part for tp, part in self.batches.items() if tp not in partitions}
        if self.replay is not None:
            self.replay.drop(partitions)
        if self.decided is not None:
            outgoing = await self.decided
            self.decided = asyncio.get_running_loop().create_future()
            self.decided.set_result({tp: part for tp, part in outgoing.items() if tp not in partitions})


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
        ahead: Fetched | None = None  # the next batch: fetched and decided while the one before it was delivered
        while not stop.is_set():
            await self.ownership.claim_due(stop)
            current, ahead = ahead or await self._fetch(stop, timeout_ms=200), None
            if current is None:
                self.report(BatchReport())  # an idle turn: the loop still turns
                continue
            async with self.ownership.lock:
                if not await self._still_current(current):
                    continue
                started = time.monotonic()
                outgoing = await (current.decided or self._decide(current))
                delivering = asyncio.ensure_future(self._deliver(current.batches, outgoing, stop, current.trace))
                fetching: asyncio.Future | None = None
                try:
                    fetching = await self._fetch_ahead(current, delivering, stop)
                    settled = await delivering
                except BaseException:  # cancelled, or a bug: nothing of this batch or the next goes on alone
                    await _cancelled(delivering, fetching)
                    raise
                ahead, fetch_error = await self._settle_ahead(fetching, settled)
                if current.replay is not None:
                    current.replay.commit(settled.committed)
                delivered = {tp: part for tp, part in outgoing.items() if tp in settled.committed}
                current.trace.moderated(current.batches, delivered)
            self.report(BatchReport(
                records=sum(len(part) for part in current.batches.values()), seconds=time.monotonic() - started,
                delivered=delivered, failed=settled.failed,
                lag={tp: _lag(self.consumer, tp, part[-1].offset) for tp, part in current.batches.items()}))
            if settled.abandoned:
                return
            if fetch_error is not None:
                raise fetch_error  # what the fetch ahead raised, now that the batch before it is reported

    async def _fetch(self, stop: asyncio.Event, timeout_ms: int) -> Fetched | None:
        # getmany ignores its timeout during a rebalance (it waits for the assignment): race it with stop.
        fetching = time.time_ns()  # the consume span's start, when tracing
        fetch = self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.batch_max_records)
        batches = await unless_stopped(fetch, stop)
        if not batches:
            return None
        return Fetched(batches, self.tracing.received(batches, fetching, self.settings.input_topic))

    async def _still_current(self, fetched: Fetched) -> bool:
        """Keep only the partitions of ``fetched`` whose records follow on from where the consumer stands; False
        when none is left. Called under ``ownership.lock``, so no rebalance moves anything meanwhile.

        A partition's records are stale when the consumer's position was moved back since they were fetched: by
        a rebalance that came between the fetch and this lock (a new assignment starts from the committed offset,
        and ``claim()`` seeks there), or by the rewind of a failed partition. They are read again from there;
        delivering them too would decide them twice. A partition no longer assigned, or waiting for its claim,
        is not delivered either.
        """
        stale = set()
        for tp, part in fetched.batches.items():
            if tp not in self.ownership.assigned or tp in self.ownership.unclaimed:
                stale.add(tp)
                continue
            try:
                # Known at once, except while the consumer resets it (after OffsetOutOfRange): then the records
                # are read again from wherever the reset lands, as aiokafka's own buffered records are.
                if await asyncio.wait_for(self.consumer.position(tp), POSITION_WAIT_S) <= part[-1].offset:
                    stale.add(tp)
            except (IllegalStateError, TimeoutError):  # no longer assigned, or no position yet
                stale.add(tp)
        if stale:
            self.log.info("batch_refetched", partitions=names(stale),
                          records=sum(len(fetched.batches[tp]) for tp in stale))
            await fetched.without(stale)
        return bool(fetched.batches)

    def _decide(self, fetched: Fetched, after: ReplayBatch | None = None) -> asyncio.Future:
        fetched.replay = self.replay.batch(after) if self.replay is not None else None

        async def decide() -> dict[TopicPartition, list[Outgoing]]:
            with fetched.trace.decide():
                return await self._process(fetched.batches, fetched.replay)

        fetched.decided = asyncio.ensure_future(decide())
        return fetched.decided

    async def _fetch_ahead(self, current: Fetched, delivering: asyncio.Future,
                           stop: asyncio.Event) -> asyncio.Future | None:
        """While ``current`` is delivered, the next batch (what the consumer already holds: no waiting) starts
        being decided in the worker thread, so the core's CPU overlaps delivery's round trips. Not when deciding
        on the event loop (``decide_threads`` 0), where it would only delay the delivery.

        getmany waits while a rebalance is under way, and the rebalance waits for ``ownership.lock``, held here:
        the fetch is given up when the delivery ends first."""
        if self.pool is None or delivering.done():
            return None
        fetching = asyncio.ensure_future(self._fetch(stop, timeout_ms=0))
        try:
            await asyncio.wait({fetching, delivering}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled: asyncio.wait does not pass it on
            await _cancelled(fetching)
            raise
        if not fetching.done():
            fetching.cancel()
        elif fetching.exception() is None and fetching.result() is not None:
            self._decide(fetching.result(), after=current.replay)  # current's events count as already decided
        return fetching

    @staticmethod
    async def _settle_ahead(fetching: asyncio.Future | None, before: Settled
                            ) -> tuple[Fetched | None, BaseException | None]:
        """The batch fetched ahead, decided, once the one before it is delivered (``Fetched.settle``), or what
        the fetch raised, for the loop to raise once the batch before is reported."""
        if fetching is None:
            return None, None
        await asyncio.wait({fetching})  # a cancelled fetch ends at once
        if fetching.cancelled():
            return None, None
        if fetching.exception() is not None:
            return None, fetching.exception()
        ahead = fetching.result()
        return (None if ahead is None else await ahead.settle(before)), None

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
                       stop: asyncio.Event, trace: Any) -> Settled:
        """Deliver, within DELIVERY_TIMEOUT_S (only a grace once ``stop`` is set). A delivery cancelled there can
        have committed some partitions already (exactly-once: one transaction each): the delivery names them in
        ``committed`` as they commit, and only the others are rewound (or, abandoned, left to the next owner)."""
        committed: set[TopicPartition] = set()
        task = asyncio.ensure_future(trace.produce(self.delivery.deliver(batches, outgoing, committed)))
        try:
            delivered = await settle.settle(task, stop, lambda: self.deadline.remaining(0.5), self.stall.waiting)
            done = frozenset(committed)
            if delivered or done >= set(batches):  # (every transaction committed just before the time ran out)
                self.ownership.delivered()
                return Settled(frozenset(batches), abandoned=not delivered and stop.is_set())
            if stop.is_set():
                self.log.warning("batch_abandoned", records=sum(len(part) for tp, part in batches.items()
                                                                if tp not in done),
                                 partitions=names(set(batches) - done), committed=names(done))
                return Settled(done, abandoned=True)
            raise DeliveryFailed(set(batches) - done, TimeoutError(f"not delivered in {settle.DELIVERY_TIMEOUT_S} s"))
        except DeliveryFailed as failed:
            self.ownership.rewind(batches, failed)
            return Settled(frozenset(set(batches) - failed.partitions), frozenset(failed.partitions))


async def _cancelled(*tasks: asyncio.Future | None) -> None:
    """Cancel these tasks and wait until they end (a delivery's own clean-up: its transaction aborted)."""
    running = [task for task in tasks if task is not None and not task.done()]
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running)


def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition, last_offset: int) -> int | None:
    highwater = consumer.highwater(tp)
    return None if highwater is None else max(highwater - (last_offset + 1), 0)
