"""The settler's transactions: ExactlyOnce's per-partition producers and claim (service/kafka/delivery.py),
with a commit that places each record on the partition the settler chose.

``review_settings`` gives the settler its own group (``<group_id>-review``), hence its own transactional ids
(``<group_id>-review-<actions topic>-<partition>``); ``hashed_partition`` is the default partitioner's choice
for a key, which is how actions and their outcomes find their partitions.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer, TopicPartition

from service.kafka.delivery import ExactlyOnce
from service.kafka.partitioner import partition_for
from service.settings import Settings

# (topic, partition or None for the key's, key, value, headers)
Outgoing = tuple[str, int | None, bytes | None, bytes, list[tuple[str, bytes]]]


def review_settings(settings: Settings) -> Settings:
    """The settings the settler's delivery runs with: its own group, hence its own transactional ids."""
    return settings.model_copy(update={"group_id": f"{settings.group_id}-review",
                                       "client_id": f"{settings.client_id}-review"})


def hashed_partition(key: bytes, partitions: int) -> int:
    """The partition aiokafka's (and the Java client's) default partitioner gives ``key``."""
    return partition_for(key, partitions)


class SettleDelivery(ExactlyOnce):
    async def commit(self, tp: TopicPartition, next_offset: int, outgoing: list[Outgoing]) -> None:
        """One transaction: ``outgoing`` and the actions partition's offset ``next_offset``; all or nothing.
        A failure aborts and drops the producer (the next claim opens a new one), as for decisions."""

        async def send(producer: AIOKafkaProducer) -> None:
            acks = [await producer.send(topic, value, key=key, partition=partition, headers=headers)
                    for topic, partition, key, value, headers in outgoing]
            await asyncio.gather(*acks)

        await self.transaction(tp, next_offset, send)
