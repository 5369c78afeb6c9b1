"""How decisions reach the output topics: exactly-once (default) or at-least-once.

Exactly-once: one transactional producer per input partition, with a ``transactional_id`` derived from the
group, topic and partition. aiokafka only speaks TxnOffsetCommit v0, without consumer-group-generation fencing
(KIP-447), so fencing rests on the transactional id: whoever owns a partition next calls ``init_transactions``
with the same id, which bumps the producer epoch, aborts the old owner's open transaction and fences it
(Kafka Streams' EOS v1 and Faust do the same). Each partition's slice of a batch is one transaction: the
decisions plus the input offsets (``send_offsets_to_transaction``), committed or aborted together.
See docs/delivery.md for the argument and its limits.

At-least-once: one idempotent producer; offsets are committed after every decision of the batch is
acknowledged. A crash between the two republishes the batch (duplicates, never losses).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.batch import Outgoing
from service.settings import Settings


class DeliveryFailed(Exception):
    """Decisions for these input partitions were not written; their offsets were not committed."""

    def __init__(self, partitions: set[TopicPartition], cause: BaseException) -> None:
        super().__init__(f"delivery failed for {len(partitions)} partition(s): {cause!r}")
        self.partitions = partitions
        self.cause = cause


class Delivery(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def assign(self, partitions: set[TopicPartition]) -> None: ...
    async def revoke(self, partitions: set[TopicPartition]) -> None: ...
    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: list[Outgoing]) -> None: ...


def producer_options(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": settings.linger_ms,
        "max_batch_size": settings.producer_batch_bytes,
        "max_request_size": max(settings.producer_batch_bytes, 1_048_576 * 2),
        **settings.kafka_security(),
    }


def make_delivery(settings: Settings, consumer: AIOKafkaConsumer) -> Delivery:
    if settings.delivery == "exactly-once":
        return ExactlyOnce(settings)
    return AtLeastOnce(settings, consumer)


async def _send_all(producer: AIOKafkaProducer, outgoing: list[Outgoing]) -> None:
    # Enqueue one after another, then await the acknowledgements together: concurrent send() calls wake each
    # other quadratically (aiokafka #528) and send_and_wait per record serialises the pipeline (#1065).
    acks = [await producer.send(o.topic, o.value, key=o.key, headers=o.headers) for o in outgoing]
    await asyncio.gather(*acks)


class AtLeastOnce:
    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._producer = AIOKafkaProducer(client_id=f"{settings.client_id}-producer", **producer_options(settings))

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def assign(self, partitions: set[TopicPartition]) -> None:
        return None

    async def revoke(self, partitions: set[TopicPartition]) -> None:
        return None

    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: list[Outgoing]) -> None:
        try:
            await _send_all(self._producer, outgoing)
            await self._consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
        except Exception as exc:
            raise DeliveryFailed(set(batches), exc) from exc


class ExactlyOnce:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}

    def transactional_id(self, tp: TopicPartition) -> str:
        return f"{self._settings.group_id}-{tp.topic}-{tp.partition}"

    async def start(self) -> None:
        return None  # producers come with partition assignments

    async def stop(self) -> None:
        await self.revoke(set(self._producers))

    async def assign(self, partitions: set[TopicPartition]) -> None:
        await asyncio.gather(*(self._open(tp) for tp in partitions if tp not in self._producers))

    async def revoke(self, partitions: set[TopicPartition]) -> None:
        producers = [self._producers.pop(tp) for tp in partitions if tp in self._producers]
        await asyncio.gather(*(p.stop() for p in producers), return_exceptions=True)

    async def _open(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            client_id=f"{self._settings.client_id}-{tp.partition}",
            transactional_id=self.transactional_id(tp),
            **producer_options(self._settings),
        )
        await producer.start()  # init_transactions: fences any previous owner of this partition
        self._producers[tp] = producer
        return producer

    async def deliver(self, batches: dict[TopicPartition, list[Any]], outgoing: list[Outgoing]) -> None:
        by_partition: dict[TopicPartition, list[Outgoing]] = defaultdict(list)
        for out in outgoing:
            by_partition[TopicPartition(out.source.topic, out.source.partition)].append(out)
        partitions = list(batches)
        results = await asyncio.gather(
            *(self._deliver_partition(tp, batches[tp][-1].offset + 1, by_partition[tp]) for tp in partitions),
            return_exceptions=True,
        )
        failed = {tp for tp, result in zip(partitions, results, strict=True) if isinstance(result, BaseException)}
        if failed:
            raise DeliveryFailed(failed, next(r for r in results if isinstance(r, BaseException)))

    async def _deliver_partition(self, tp: TopicPartition, next_offset: int, outgoing: list[Outgoing]) -> None:
        producer = self._producers.get(tp) or await self._open(tp)
        try:
            async with producer.transaction():
                await _send_all(producer, outgoing)
                await producer.send_offsets_to_transaction({tp: next_offset}, self._settings.group_id)
        except Exception:
            # The transaction was aborted (or the producer fenced): start this partition afresh on retry.
            self._producers.pop(tp, None)
            await producer.stop()
            raise
