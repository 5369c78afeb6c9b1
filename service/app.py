"""The Kafka loop: batch in, decide, produce, commit. Nothing else happens here.

Decisions are computed in a worker thread (``decide_batch``), so CPU-heavy verification never starves the
consumer's heartbeats on the event loop (aiokafka #678). One batch is in flight at a time, under ``batch_lock``;
a rebalance waits for it, so no transaction straddles a change of ownership.

A partition is only read once ``delivery.claim()`` succeeded for it: it is paused from the moment it is assigned
(or its delivery failed) until then, and claim() says where to resume (exactly-once: the committed offset, read
after the partition's producer fenced every earlier one). Nothing is committed for a decision that was not
written: a failed partition is rewound to its batch's first record and decided again after a back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from service.core.batch import Outgoing, Topics, decide_batch
from service.core.replay import ReplayWindows
from service.files.policy import Policy
from service.kafka.delivery import DeliveryFailed, make_delivery
from service.ops.logs import held_lines
from service.ops.tracing import NO_TRACING
from service.settings import Settings

BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 10.0
CLAIM_TIMEOUT_S, LISTENER_CLAIM_TIMEOUT_S = 20.0, 5.0  # heartbeats pause while on_partitions_assigned runs
# Below delivery.TRANSACTION_TIMEOUT_MS: we give up on a transaction before the coordinator aborts it, and the loop
# keeps turning (health) while the broker is away; a healthy batch takes well under a second.
DELIVERY_TIMEOUT_S = 25.0
WAIT_LOG_S = 5.0
# ~2 KB events: 512 KiB per partition is ~230 events (two partitions fill a 500-record batch); a fetch response
# is at most 4 MiB. aiokafka buffers one fetch per partition, so memory stays <= partitions x 512 KiB.
CONSUMER_FETCH = {"max_partition_fetch_bytes": 512 * 1024, "fetch_max_bytes": 4 * 1024 * 1024}


class Moderator:
    def __init__(self, settings: Settings, policy: Policy, log: Any, on_event: Callable[..., None] | None = None,
                 tracing: Any = NO_TRACING):
        self.settings, self.policy, self.log = settings, policy, log
        self.tracing = tracing  # OpenTelemetry spans (service/ops/tracing.py); off unless an endpoint is set
        self.on_event = on_event or (lambda name, **fields: None)  # metrics/health hooks
        self.topics = Topics(settings.approved_topic, settings.rejected_topic, settings.deadletter_topic,
                             cloudevents_source=settings.cloudevents_source)
        self.limits = settings.limits()
        self.assigned: set[TopicPartition] = set()
        self.unclaimed: set[TopicPartition] = set()  # paused until delivery.claim() succeeds for them
        self.batch_lock = asyncio.Lock()
        self.replay = (  # exact copies of signed events, remembered once their batch is delivered
            ReplayWindows(settings.replay_window_entries, timedelta(seconds=settings.replay_window_s))
            if settings.replay_window_entries else None
        )
        self.closing = False
        self._retry_at, self._backoff = 0.0, BACKOFF_START_S
        self._deadline: float | None = None  # set when stop is: the whole shutdown fits before it
        self._stalled_since: float | None = None  # deliveries have been failing or waiting since

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        self.consumer = consumer = AIOKafkaConsumer(  # read by metrics (lag) and health (assignment)
            bootstrap_servers=s.bootstrap_servers, group_id=s.group_id, client_id=f"{s.client_id}-consumer",
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            max_poll_records=s.batch_max_records, **CONSUMER_FETCH, **s.kafka_security(),
        )
        self.delivery = make_delivery(s, consumer)
        consumer.subscribe([s.input_topic], listener=_Listener(self))
        pool = ThreadPoolExecutor(s.decide_threads, thread_name_prefix="decide") if s.decide_threads else None
        watch = asyncio.ensure_future(self._note_deadline(stop))
        try:
            if await _start_with_retry(consumer, self.log, stop):
                self.log.info("consumer_started", topic=s.input_topic, group=s.group_id, delivery=s.delivery)
                await self._loop(consumer, pool, stop)
        finally:
            self.closing = True
            watch.cancel()
            await _bounded(self.delivery.stop(), self._remaining(0.4), self.log, "producers")
            await _bounded(consumer.stop(), self._remaining(0.9), self.log, "consumer")  # leaves the group
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            self.log.info("consumer_stopped")

    async def _note_deadline(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._deadline = time.monotonic() + self.settings.shutdown_timeout_s

    def _remaining(self, share: float) -> float:
        """A ``share`` of the time left before the shutdown deadline (of the whole budget, before a stop)."""
        if self._deadline is None:
            return self.settings.shutdown_timeout_s * share
        return max(0.1, (self._deadline - time.monotonic()) * share)

    async def _loop(self, consumer: AIOKafkaConsumer, pool: ThreadPoolExecutor | None, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if self.unclaimed and time.monotonic() >= self._retry_at:
                async with self.batch_lock:
                    await _unless_stopped(self._claim(CLAIM_TIMEOUT_S), stop)
            # getmany ignores its timeout during a rebalance (it waits for the assignment): race it with stop.
            fetching = time.time_ns()  # the consume span's start, when tracing
            fetch = consumer.getmany(timeout_ms=200, max_records=self.settings.batch_max_records)
            batches = await _unless_stopped(fetch, stop)
            policy = self.policy.refresh()
            if not batches:
                continue
            async with self.batch_lock:
                started = loop.time()
                records = [record for part in batches.values() for record in part]
                trace = self.tracing.received(records, fetching, self.settings.input_topic)
                replay = self.replay.batch() if self.replay is not None else None
                with trace.decide():
                    outgoing = await self._decide(pool, batches, policy, replay)
                task = asyncio.ensure_future(trace.produce(self.delivery.deliver(batches, outgoing)))
                try:
                    if not await _settle(task, stop, DELIVERY_TIMEOUT_S, lambda: self._remaining(0.5), self._waiting):
                        if stop.is_set():
                            self.log.warning("batch_abandoned", records=len(records))  # none of it committed
                            return
                        raise DeliveryFailed(set(batches), TimeoutError(f"not delivered in {DELIVERY_TIMEOUT_S} s"))
                except DeliveryFailed as failed:
                    if replay is not None:
                        replay.commit(set(batches) - failed.partitions)
                    self._rewind(batches, failed)
                    continue
                if replay is not None:
                    replay.commit(batches)
                trace.moderated(records, outgoing)
            self._backoff = BACKOFF_START_S
            if self._stalled_since is not None:
                self.log.info("delivery_resumed", after_s=round(time.monotonic() - self._stalled_since, 1))
                self._stalled_since = None
            self._log_decisions(outgoing)
            self.on_event("batch", records=len(records), seconds=loop.time() - started,
                          lag={tp: _lag(consumer, tp, part[-1].offset) for tp, part in batches.items()})

    async def _decide(self, pool: ThreadPoolExecutor | None, batches: dict[TopicPartition, list[Any]], policy: Any,
                      replay: Any) -> list[Outgoing]:
        """Decide a batch in the worker threads, its partitions spread over them (``decide_threads``).

        With ``decide_threads=0`` the batch is decided on the event loop itself: no offloading, which the
        benchmark uses to show what offloading buys (and what it costs the heartbeat).
        """
        decide = partial(decide_batch, keyring=policy.keyring, rules=policy.rules, topics=self.topics, replay=replay,
                         limits=self.limits, decided_at=datetime.now(UTC))
        parts = list(batches.values())
        if pool is None:
            return decide([record for part in parts for record in part])
        threads = max(1, min(self.settings.decide_threads, len(parts)))
        groups = [[record for part in parts[i::threads] for record in part] for i in range(threads)]
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(*(loop.run_in_executor(pool, decide, group) for group in groups))
        return [out for result in results for out in result]

    def _waiting(self, seconds: float) -> None:
        self._stalled_since = self._stalled_since or time.monotonic() - seconds
        self.log.warning("broker_unreachable", step="deliver", waiting_s=round(seconds, 1),
                         note="the batch's transaction waits for the broker; nothing is committed meanwhile")

    def _rewind(self, batches: dict[TopicPartition, list[Any]], failed: DeliveryFailed) -> None:
        mine = failed.partitions & self.assigned
        for tp in mine:
            with contextlib.suppress(IllegalStateError):
                self.consumer.seek(tp, batches[tp][0].offset)  # decided again from here, or from where
                self.consumer.pause(tp)  # claim() says: nothing more is read from it until then
        self.unclaimed |= mine
        self._stalled_since = self._stalled_since or time.monotonic()
        self.log.warning("delivery_failed", error=repr(failed.cause), retry_in_s=self._fail(),
                         partitions=_names(mine))
        self.on_event("delivery_failed")

    async def _claim(self, timeout: float) -> None:
        self.unclaimed &= self.assigned
        partitions = set(self.unclaimed)
        if not partitions or self.closing:
            return
        try:
            resume = await asyncio.wait_for(self.delivery.claim(partitions), timeout)
        except Exception as exc:  # KafkaError, TimeoutError, OSError: the broker did not answer in time
            self.log.warning("broker_unreachable", step="claim", error=repr(exc), retry_in_s=self._fail(),
                             partitions=_names(partitions))
            return
        for tp, offset in resume.items():
            self.consumer.seek(tp, offset)
        self.consumer.resume(*partitions)
        self.unclaimed -= partitions
        self.log.info("partitions_claimed", partitions=_names(partitions),
                      resume={f"{tp.topic}:{tp.partition}": offset for tp, offset in resume.items()})

    def _fail(self) -> float:
        delay, self._backoff = self._backoff, min(self._backoff * 2, BACKOFF_MAX_S)
        self._retry_at = time.monotonic() + delay
        return delay

    def _log_decisions(self, outgoing: list[Outgoing]) -> None:
        """One canonical line per decision, the batch's lines written together; metrics counted per batch."""
        info = self.log.info  # once per batch: a lazy structlog proxy resolves the attribute at every access
        decisions = []
        with held_lines():
            for out in outgoing:
                src, d = out.source, out.decision
                if d is None:
                    self.log.error("dead_lettered", topic=src.topic, partition=src.partition, offset=src.offset,
                                   error=out.error)
                    self.on_event("dead_lettered")
                    continue
                info("decision", topic=src.topic, partition=src.partition, offset=src.offset, decision=d.decision,
                     reasons=[reason.code for reason in d.reasons], rules_fired=d.rulesFired,
                     rules_version=d.rulesVersion, signer=d.signer)
                decisions.append(d)
        if decisions:
            self.on_event("decisions", decisions=decisions)


class _Listener(ConsumerRebalanceListener):
    """aiokafka calls these from its coordination task and swallows their exceptions: they must not raise."""

    def __init__(self, moderator: Moderator) -> None:
        self.m = moderator

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.m.batch_lock:  # the batch in flight is delivered (or fails) first
            self.m.assigned -= set(revoked)
            self.m.unclaimed -= set(revoked)
            if self.m.replay is not None:
                self.m.replay.forget(revoked)
        self.m.on_event("assigned", partitions=len(self.m.assigned))
        self.m.log.info("partitions_revoked", partitions=_names(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        m, assigned = self.m, set(assigned)
        if assigned:
            m.consumer.pause(*assigned)  # before any await: nothing is fetched for them until claimed
        async with m.batch_lock:
            m.assigned, m.unclaimed = set(assigned), set(assigned)
            with contextlib.suppress(Exception):
                await m.delivery.retain(assigned)  # producers of partitions that went elsewhere
            await m._claim(LISTENER_CLAIM_TIMEOUT_S)
        m.log.info("partitions_assigned", partitions=_names(assigned))
        m.on_event("assigned", partitions=len(m.assigned))


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition, last_offset: int) -> int | None:
    highwater = consumer.highwater(tp)
    return None if highwater is None else max(highwater - (last_offset + 1), 0)


async def _start_with_retry(consumer: AIOKafkaConsumer, log: Any, stop: asyncio.Event) -> bool:
    backoff = BACKOFF_START_S
    while not stop.is_set():
        try:
            await consumer.start()
            return True
        except KafkaError as exc:
            log.warning("broker_unreachable", step="start", error=repr(exc), retry_in_s=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
    return False


async def _unless_stopped(fetch: Awaitable[Any], stop: asyncio.Event) -> Any:
    task, stopper = asyncio.ensure_future(fetch), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
    return task.result() if task.done() and not task.cancelled() else None


async def _settle(task: asyncio.Future, stop: asyncio.Event, timeout: float, grace: Callable[[], float],
                  waiting: Callable[[float], None]) -> bool:
    """Wait up to ``timeout`` for ``task``, and once ``stop`` is set only ``grace`` more. False: it was cancelled.
    ``waiting(seconds)`` is called every WAIT_LOG_S while it waits (aiokafka retries silently, or floods)."""
    stopper = asyncio.ensure_future(stop.wait())
    began = time.monotonic()
    try:
        while not task.done() and not stop.is_set() and (left := began + timeout - time.monotonic()) > 0:
            await asyncio.wait({task, stopper}, timeout=min(WAIT_LOG_S, left), return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and not stop.is_set():
                waiting(time.monotonic() - began)
        if not task.done() and stop.is_set():
            await asyncio.wait({task}, timeout=grace())
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # its per-partition clean-up (abort, close) runs before we go on
    if task.cancelled():
        return False
    task.result()  # raises DeliveryFailed
    return True


async def _bounded(step: Awaitable[Any], timeout: float, log: Any, what: str) -> None:
    try:
        await asyncio.wait_for(step, timeout)
    except Exception as exc:  # TimeoutError included
        log.warning("shutdown_step_failed", step=what, error=repr(exc))
