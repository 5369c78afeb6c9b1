"""The Kafka loop: batch in, decide, produce, commit. Nothing else happens here.

Decisions are computed in a worker thread (``decide_batch``), so CPU-heavy verification never starves the
consumer's heartbeats on the event loop (aiokafka #678). Offsets are committed only after every record of the
batch is acknowledged by the broker; when delivery fails, the consumer seeks back to the batch's first offsets
and the batch is decided again after a back-off, so nothing is committed for a decision that was not written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from service.batch import Outgoing, Topics, decide_batch
from service.delivery import Delivery, DeliveryFailed, make_delivery
from service.policy import Policy
from service.settings import Settings

BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 10.0


class Moderator:
    def __init__(self, settings: Settings, policy: Policy, log: Any, on_event: Callable[..., None] | None = None):
        self.settings = settings
        self.policy = policy
        self.log = log
        self.on_event = on_event or (lambda name, **fields: None)  # metrics/health hooks
        self.topics = Topics(settings.approved_topic, settings.rejected_topic, settings.deadletter_topic)
        self.assigned: set[TopicPartition] = set()
        # Held while a batch is decided and delivered; a rebalance waits for it, so a partition is never
        # revoked (and its producer closed) in the middle of its transaction.
        self.batch_lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=s.group_id,
            client_id=f"{s.client_id}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=s.batch_max_records,
            **s.kafka_security(),
        )
        delivery = make_delivery(s, consumer)
        self.consumer = consumer  # read by metrics (lag) and health (assignment)
        consumer.subscribe([s.input_topic], listener=_Listener(self, delivery))
        pool = ThreadPoolExecutor(max_workers=s.decide_threads, thread_name_prefix="decide")
        await _start_with_retry(consumer, self.log, stop)
        await delivery.start()
        self.log.info("consumer_started", topic=s.input_topic, group=s.group_id, delivery=s.delivery)
        try:
            await self._loop(consumer, delivery, pool, stop)
        finally:
            await asyncio.wait_for(_close(consumer, delivery), timeout=s.shutdown_timeout_s)
            pool.shutdown(wait=False, cancel_futures=True)
            self.log.info("consumer_stopped")

    async def _loop(self, consumer: AIOKafkaConsumer, delivery: Delivery, pool: ThreadPoolExecutor,
                    stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        backoff = BACKOFF_START_S
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=self.settings.batch_max_records)
            policy = self.policy.refresh()
            if not batches:
                continue
            records = [record for part in batches.values() for record in part]
            started = loop.time()
            async with self.batch_lock:
                outgoing = await loop.run_in_executor(
                    pool, partial(decide_batch, records, policy.keyring, policy.rules, self.topics)
                )
                try:
                    await delivery.deliver(batches, outgoing)
                    failed = None
                except DeliveryFailed as exc:
                    failed = exc
                    for tp in exc.partitions & self.assigned:  # decide these again from their first offset
                        consumer.seek(tp, batches[tp][0].offset)
            if failed is not None:
                self.log.warning("delivery_failed", error=repr(failed.cause), retry_in_s=backoff,
                                 partitions=len(failed.partitions))
                self.on_event("delivery_failed")
                await _sleep_unless(stop, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_START_S
            self._log_decisions(outgoing)
            self.on_event("batch", records=len(records), seconds=loop.time() - started,
                          lag={tp: _lag(consumer, tp, part[-1].offset) for tp, part in batches.items()})

    def _log_decisions(self, outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            src = out.source
            if out.decision is None:
                self.log.error("dead_lettered", topic=src.topic, partition=src.partition, offset=src.offset,
                               error=out.error)
                self.on_event("dead_lettered")
                continue
            d = out.decision
            self.log.info(
                "decision", topic=src.topic, partition=src.partition, offset=src.offset, decision=d.decision,
                reasons=[reason.code for reason in d.reasons], rules_fired=list(d.rulesFired),
                rules_version=d.rulesVersion, signer=d.signer,
            )
            self.on_event("decision", decision=d)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, moderator: Moderator, delivery: Delivery) -> None:
        self.moderator, self.delivery = moderator, delivery

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.moderator.batch_lock:
            await self.delivery.revoke(set(revoked))
            self.moderator.assigned -= set(revoked)
        self.moderator.on_event("assigned", partitions=len(self.moderator.assigned))
        self.moderator.log.info("partitions_revoked", partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.moderator.batch_lock:
            await self.delivery.assign(set(assigned))
            self.moderator.assigned |= set(assigned)
        self.moderator.log.info("partitions_assigned", partitions=sorted(f"{t.topic}:{t.partition}" for t in assigned))
        self.moderator.on_event("assigned", partitions=len(self.moderator.assigned))


def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition, last_offset: int) -> int | None:
    highwater = consumer.highwater(tp)
    return None if highwater is None else max(highwater - (last_offset + 1), 0)


async def _start_with_retry(consumer: AIOKafkaConsumer, log: Any, stop: asyncio.Event) -> None:
    backoff = BACKOFF_START_S
    while True:
        try:
            await consumer.start()
            return
        except KafkaError as exc:
            log.warning("broker_unreachable", error=repr(exc), retry_in_s=backoff)
            await _sleep_unless(stop, backoff)
            if stop.is_set():
                raise
            backoff = min(backoff * 2, BACKOFF_MAX_S)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _close(consumer: AIOKafkaConsumer, delivery: Delivery) -> None:
    try:
        await delivery.stop()
    finally:
        await consumer.stop()
