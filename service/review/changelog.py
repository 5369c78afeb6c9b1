"""The settler's state for one actions partition, rebuilt from the compacted resolutions topic (a changelog).

What one actions partition has settled (``resolved``: event id -> resolution record) and which signed action
ids it has judged (``seen``: replays are refused across restarts). ``rebuild()`` reads the same-numbered
resolutions partition from the beginning to its end with read_committed; the settler calls it only after its
transactional producer for the partition fenced every earlier one, so the end it reads to is final.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from service.review.view import consumer_options, fetch_metadata
from service.settings import Settings


@dataclass
class PartitionState:
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)


async def rebuild(settings: Settings, partition: int) -> PartitionState:
    """The state of actions partition ``partition`` from resolutions partition ``partition``."""
    state = PartitionState()
    tp = TopicPartition(settings.review_resolutions_topic, partition)
    reader = AIOKafkaConsumer(**consumer_options(settings))
    await reader.start()
    try:
        if partition not in ((await fetch_metadata(reader)).partitions_for_topic(tp.topic) or ()):
            raise KafkaError(f"{tp.topic} has no partition {partition}: it must have as many partitions as "
                             f"{settings.review_actions_topic} (moderation topics create makes both)")
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        while await reader.position(tp) < end:
            for records in (await reader.getmany(tp, timeout_ms=500)).values():
                for record in records:
                    replay_into(state, record)
    finally:
        with contextlib.suppress(Exception):
            await reader.stop()
    return state


def replay_into(state: PartitionState, record: Any) -> None:
    """Apply one changelog record: a resolution (key: the event id) or an action's outcome (``action:<id>``)."""
    key = (record.key or b"").decode("utf-8", "replace")
    try:
        value = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        return
    if not isinstance(value, dict):
        return
    if key.startswith("action:"):
        if value.get("signed") and isinstance(value.get("actionId"), str):
            state.seen.add(value["actionId"])
    elif value.get("type") == "resolution":
        state.resolved[key] = value
