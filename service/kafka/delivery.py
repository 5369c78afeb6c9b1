"""How decisions reach the output topics: exactly-once (default) or at-least-once. See docs/delivery.md.

Exactly-once: one transactional producer per input partition, ``transactional_id = <group>-<topic>-<partition>``.
aiokafka only speaks TxnOffsetCommit v0 (no consumer-group-generation fencing, KIP-447), so fencing rests on the
transactional id: ``init_transactions`` (AIOKafkaProducer.start) bumps the producer epoch, which fences every
older producer of that id and completes (commits or aborts) its transaction on the broker. ``claim()`` therefore
opens the producer FIRST and reads the committed offset AFTER: the position a partition is decided from is then
exactly where the last transaction that could ever commit for it ended. Each partition's slice of a batch is one
transaction: its decisions plus its input offset, committed or aborted together.

At-least-once: one idempotent producer; offsets are committed after every decision of the batch is acknowledged.
A crash between the two republishes the batch (duplicates, never losses).

Both replace a producer after any failure: aiokafka's sender task dies for good on ProducerFenced,
OutOfOrderSequenceNumber or InvalidProducerEpoch (aiokafka #1017), and nothing it holds can be trusted after that.

``deliver(batches, outgoing)`` takes the batch as the consumer fetched it (by source partition) and the batch
step's result under the same keys (``service.core.batch.process_batch``): each source partition's records go
into that partition's transaction as they are; the only grouping done here is by output partition, which needs
the producer's metadata. The private aiokafka attributes this needs live in ``aiokafka_compat.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from service.core.batch import Outgoing
from service.errors import DeliveryFailed  # re-exported: app.py imports it from here
from service.kafka.aiokafka_compat import force_close, partition_chooser, transaction_open
from service.kafka.partitioner import default_partitioner
from service.settings import Settings

# The batch step's result: each source partition's outgoing records, in input order.
Processed = Mapping[TopicPartition, Sequence[Outgoing]]

TRANSACTION_TIMEOUT_MS = 30_000  # an orphaned transaction blocks read_committed readers at most this long
# aiokafka retries CONCURRENT_TRANSACTIONS (the broker still writing the previous transaction's markers) after
# retry_backoff_ms: with its default 100 ms, back-to-back transactions of one producer took up to ~300 ms.
TXN_RETRY_BACKOFF_MS = 20
# Bounds that keep a shutdown within shutdown_timeout_s even while the broker is away.
ABORT_TIMEOUT_S = 2.0  # abort a failed transaction if the broker answers; otherwise the next owner aborts it
STOP_TIMEOUT_S = 2.0


class Delivery(Protocol):
    async def claim(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Get ready to write for these partitions; return the offsets to resume them from (others: keep)."""

    async def retain(self, partitions: set[TopicPartition]) -> None:
        """Release everything held for partitions other than these (after a rebalance)."""

    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: Processed,
                      committed: set[TopicPartition] | None = None) -> None:
        """Write the decisions and commit the offsets; raise DeliveryFailed naming the partitions that failed.
        Each partition is added to ``committed`` as soon as its decisions and offset are committed, so a caller
        that cancels a delivery (a time-out, a shutdown) knows which partitions it need not decide again."""

    async def stop(self) -> None: ...


def producer_options(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": settings.linger_ms,
        "max_batch_size": settings.producer_batch_bytes,
        "max_request_size": max(settings.producer_batch_bytes, 1_048_576 * 2),
        "partitioner": default_partitioner,  # the Java client's choices, at half aiokafka's cost per record
        **settings.kafka_security(),
    }


def make_delivery(settings: Settings, consumer: AIOKafkaConsumer) -> Delivery:
    if settings.delivery == "exactly-once":
        return ExactlyOnce(settings, consumer)
    return AtLeastOnce(settings, consumer)


def by_source(outgoing: Processed | Sequence[Outgoing]) -> Processed:
    """The batch step's result as it is; a flat list (a caller of the older form) grouped by source partition."""
    if isinstance(outgoing, Mapping):
        return outgoing
    grouped: dict[TopicPartition, list[Outgoing]] = {}
    for out in outgoing:
        grouped.setdefault(TopicPartition(out.source.topic, out.source.partition), []).append(out)
    return grouped


async def _send_all(producer: AIOKafkaProducer, outgoing: Iterable[Outgoing]) -> None:
    """Write ``outgoing`` as one record batch per output topic-partition, then await the acknowledgements.

    One ``send()`` per record costs ~15 µs of aiokafka (a future, an accumulator lookup, a wake-up each); a
    batch built here costs a third of that. Placement is the producer's own: its partitioner (murmur2 of the
    key, as the Java client) over the same partition lists ``send()`` would give it, and records keep their
    order within a partition. ``send_batch`` adds the partition to the open transaction and the sender numbers
    the batch for idempotence, exactly as for ``send()`` (aiokafka 0.14: MessageAccumulator.add_batch ->
    _append_batch -> maybe_add_partition_to_txn; _pop_batch -> sequence numbers).
    """
    acks = []
    for (topic, partition), records in (await _by_output_partition(producer, outgoing)).items():
        builder = producer.create_batch()
        for out in records:
            if builder.append(timestamp=None, key=out.key, value=out.value, headers=out.headers) is None:
                acks.append(await producer.send_batch(builder, topic, partition=partition))  # full: the next
                builder = producer.create_batch()
                builder.append(timestamp=None, key=out.key, value=out.value, headers=out.headers)  # always fits
        builder.close()  # complete: sent at once, no linger
        acks.append(await producer.send_batch(builder, topic, partition=partition))
    for result in await asyncio.gather(*acks, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


async def _by_output_partition(producer: AIOKafkaProducer,
                               outgoing: Iterable[Outgoing]) -> dict[tuple[str, int], list[Outgoing]]:
    """``outgoing`` grouped by the partition ``producer.send()`` would pick for each record."""
    choosers = {}
    groups: dict[tuple[str, int], list[Outgoing]] = {}
    for out in outgoing:
        choose = choosers.get(out.topic)
        if choose is None:
            choose = choosers[out.topic] = await partition_chooser(producer, out.topic)
        groups.setdefault((out.topic, choose(out.key)), []).append(out)
    return groups


async def close_producer(producer: AIOKafkaProducer) -> None:
    """Close within STOP_TIMEOUT_S. aiokafka's stop() waits for every queued batch to be acknowledged: while the
    broker is down, for ever. Then fail what is queued and cancel the sender (aiokafka_compat.force_close)."""
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    except Exception:  # TimeoutError included
        await force_close(producer, STOP_TIMEOUT_S)


async def _started(producer: AIOKafkaProducer) -> AIOKafkaProducer:
    try:
        await producer.start()
    except BaseException:  # a failed or cancelled start leaves connections and tasks behind
        await close_producer(producer)
        raise
    return producer


# How a producer is made from its options: AIOKafkaProducer itself, or in tests a recording fake
# (tests/unit/test_delivery_protocol.py pins the order of calls the protocol depends on).
ProducerFactory = Callable[..., AIOKafkaProducer]


class AtLeastOnce:
    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer_factory: ProducerFactory = AIOKafkaProducer) -> None:
        self._settings, self._consumer, self._new_producer = settings, consumer, producer_factory
        self._producer: AIOKafkaProducer | None = None

    async def claim(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        if self._producer is None:
            options = producer_options(self._settings)
            self._producer = await _started(self._new_producer(client_id=f"{self._settings.client_id}-producer",
                                                               **options))
        return {}  # resume where the consumer stands: the committed offset, or the failed batch's first record

    async def retain(self, partitions: set[TopicPartition]) -> None:
        return None

    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: Processed,
                      committed: set[TopicPartition] | None = None) -> None:
        try:
            if self._producer is None:
                raise KafkaError("no producer: claim() has not succeeded yet")
            await _send_all(self._producer, (out for part in by_source(outgoing).values() for out in part))
            await self._consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            if committed is not None:
                committed.update(batches)
        except BaseException as exc:
            producer, self._producer = self._producer, None
            if producer is not None:
                await close_producer(producer)
            if isinstance(exc, Exception):
                raise DeliveryFailed(set(batches), exc) from exc
            raise

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await close_producer(producer)


class ExactlyOnce:
    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer_factory: ProducerFactory = AIOKafkaProducer) -> None:
        self._settings, self._consumer, self._new_producer = settings, consumer, producer_factory
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._stopped = False

    def transactional_id(self, tp: TopicPartition) -> str:
        return f"{self._settings.group_id}-{tp.topic}-{tp.partition}"

    async def claim(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        missing = [tp for tp in partitions if tp not in self._producers]
        opened = await asyncio.gather(*(self._open(tp) for tp in missing), return_exceptions=True)
        for error in opened:
            if isinstance(error, BaseException):
                raise error
        # Read only now: every earlier transaction of these ids is committed or aborted (init_transactions).
        ordered = list(partitions)
        committed = await asyncio.gather(*(self._consumer.committed(tp) for tp in ordered))
        return {tp: offset for tp, offset in zip(ordered, committed, strict=True) if offset is not None}

    async def _open(self, tp: TopicPartition) -> None:
        if self._stopped:
            raise KafkaError("delivery stopped")
        producer = self._new_producer(
            client_id=f"{self._settings.client_id}-{tp.topic}-{tp.partition}",
            transactional_id=self.transactional_id(tp),
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            **{"retry_backoff_ms": TXN_RETRY_BACKOFF_MS, **producer_options(self._settings)},
        )
        self._producers[tp] = await _started(producer)  # registered at once: a cancelled claim() leaks nothing

    async def retain(self, partitions: set[TopicPartition]) -> None:
        gone = [self._producers.pop(tp) for tp in set(self._producers) - partitions]
        await asyncio.gather(*(close_producer(p) for p in gone))

    async def stop(self) -> None:
        self._stopped = True
        await self.retain(set())

    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: Processed,
                      committed: set[TopicPartition] | None = None) -> None:
        by_partition = by_source(outgoing)
        partitions = list(batches)
        done = set() if committed is None else committed
        results = await asyncio.gather(
            *(self._deliver_partition(tp, batches[tp][-1].offset + 1, by_partition.get(tp, ()), done)
              for tp in partitions),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if any(not isinstance(e, Exception) for e in errors):  # cancelled: the shutdown gave up on this batch
            raise next(e for e in errors if not isinstance(e, Exception))
        if errors:
            failed = {tp for tp, r in zip(partitions, results, strict=True) if isinstance(r, BaseException)}
            raise DeliveryFailed(failed, errors[0])

    async def _deliver_partition(self, tp: TopicPartition, next_offset: int, outgoing: Sequence[Outgoing],
                                 committed: set[TopicPartition]) -> None:
        await self.transaction(tp, next_offset, lambda producer: _send_all(producer, outgoing))
        committed.add(tp)  # the transaction is committed: a cancellation from now on cannot undo it

    async def transaction(self, tp: TopicPartition, next_offset: int,
                          send: Callable[[AIOKafkaProducer], Awaitable[None]]) -> None:
        """One transaction on ``tp``'s producer: ``send(producer)``, then ``tp``'s offset, then commit; all or
        nothing. The review settler's transactions (service/review/transaction.py) are made here too."""
        producer = self._producers.get(tp)
        if producer is None:
            raise KafkaError(f"no producer for {tp.topic}:{tp.partition}: claim() has not succeeded yet")
        try:
            await producer.begin_transaction()
            await send(producer)
            await producer.send_offsets_to_transaction({tp: next_offset}, self._settings.group_id)
            await producer.commit_transaction()
        except BaseException:
            # Never reuse it: claim() opens a new one, whose init_transactions aborts this transaction if the
            # abort below cannot reach the broker, and the partition is decided again from the committed offset.
            self._producers.pop(tp, None)
            await abort_and_close(producer)
            raise


async def abort_and_close(producer: AIOKafkaProducer) -> None:
    # An open transaction holds back read_committed readers of every output partition it touched: abort it now
    # when the broker answers, rather than waiting for the next owner or the transaction timeout.
    if transaction_open(producer):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.abort_transaction(), ABORT_TIMEOUT_S)
    await close_producer(producer)
