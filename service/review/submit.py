"""A reviewer's side: sign an action, publish it, and wait (bounded) for the settler's verdict on it.

The action goes to the actions topic keyed by the held event's id, on the partition the default partitioner
gives that key (computed here, so the matching resolutions partition is known before sending). Its outcome
record (key ``action:<actionId>``) appears on the same-numbered resolutions partition, after the end offset
read *before* sending; it is read with read_committed, so only a committed verdict counts.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.core.keys import SigningKey
from service.core.review_action import encode_action, new_action, sign_action
from service.review.transaction import hashed_partition
from service.review.view import consumer_options, fetch_metadata
from service.settings import Settings
from service.signing import new_nonce


@dataclass(frozen=True, slots=True)
class Result:
    """The settler's outcome record for our action, or None when none came within the timeout."""

    action: dict[str, Any]
    outcome: dict[str, Any] | None

    @property
    def applied(self) -> bool:
        return self.outcome is not None and self.outcome.get("status") == "applied"

    @property
    def already_settled(self) -> bool:
        return self.outcome is not None and self.outcome.get("refusal") == "review.already_settled"


def signed_action(key: SigningKey, event_id: str, action: str, reviewer: str, note: str = "",
                  reason: str | None = None) -> dict[str, Any]:
    """A signed action with a fresh random action id and nonce. Raises ValueError for what the settler would
    refuse as malformed."""
    doc = new_action(event_id, action, reviewer, note, reason, datetime.now(UTC), key.key_id, secrets.token_hex(16))
    return sign_action(doc, key, new_nonce())


async def submit(settings: Settings, action: dict[str, Any], timeout_s: float = 30.0) -> Result:
    """Publish ``action`` and wait for its outcome."""
    key = action["id"].encode()
    probe = AIOKafkaConsumer(**consumer_options(settings))
    await probe.start()
    try:
        partitions = await _partitions(probe, settings.review_actions_topic)
        partition = hashed_partition(key, len(partitions))
        outcomes = TopicPartition(settings.review_resolutions_topic, partition)
        probe.assign([outcomes])
        start = (await probe.end_offsets([outcomes]))[outcomes]
        probe.seek(outcomes, start)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                    enable_idempotence=True, **settings.kafka_security())
        await producer.start()
        try:
            await producer.send_and_wait(settings.review_actions_topic, encode_action(action), key=key,
                                         partition=partition)
        finally:
            await producer.stop()
        wanted = f"action:{action['actionId']}".encode()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in (await probe.getmany(outcomes, timeout_ms=300)).values():
                for record in records:
                    if record.key == wanted:
                        return Result(action, orjson.loads(record.value))
        return Result(action, None)
    finally:
        await probe.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(20):
        found = (await fetch_metadata(consumer)).partitions_for_topic(topic)
        if found:
            return sorted(found)
        await asyncio.sleep(0.25)
    raise LookupError(f"topic {topic} does not exist (moderation topics create makes it)")
