"""What is held and what is settled, read from Kafka: the review topic and the resolutions changelog.

``ReviewView`` reads both topics from the beginning with ``read_committed`` (so an aborted attempt of the
service never shows up as held, nor an aborted settlement as settled) and keeps them in memory: held decisions
by event id, resolutions by event id. ``catch_up()`` reads until the end offsets seen when it was called (the
CLI and the settler's "is this id held?"), ``poll()`` takes what has arrived without waiting (the console and
the metrics). It never writes: the settler (service/review/settler.py) is the only writer of resolutions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.core.cloudevents import TRACEPARENT, TRACESTATE
from service.core.review_action import held_id
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class HeldItem:
    id: str  # "<input topic>:<partition>:<offset>", the held decision's source
    key: bytes | None  # the input record's key: the final decision is published with it
    event: dict[str, Any]  # the held decision event, as published on the review topic
    # The held record's trace context headers (traceparent, tracestate), carried on to the final decision.
    trace: tuple[tuple[str, bytes], ...] = ()

    @property
    def held_at(self) -> str:
        return str(self.event.get("decidedAt") or "")

    @property
    def article(self) -> dict[str, Any]:
        article = self.event.get("article")
        return article if isinstance(article, dict) else {}

    def summary(self) -> dict[str, Any]:
        """The ``review list --json`` line."""
        provider = self.article.get("provider")
        return {"id": self.id, "source": self.event.get("source"), "title": self.article.get("title"),
                "reasons": self.event.get("reasons") or [], "rulesFired": self.event.get("rulesFired") or [],
                "provider": provider.get("domain") if isinstance(provider, dict) else None,
                "signer": self.event.get("signer"), "heldAt": self.held_at}

    def waiting_s(self, now: datetime) -> float:
        try:
            return max(0.0, (now - datetime.fromisoformat(self.held_at.replace("Z", "+00:00"))).total_seconds())
        except ValueError:
            return 0.0


async def fetch_metadata(consumer: AIOKafkaConsumer) -> Any:
    """Fresh cluster metadata. ``consumer.topics()`` fetches it but keeps it from ``partitions_for_topic`` of
    topics the consumer neither subscribed to nor was assigned (aiokafka 0.14): read the fetched one (private)."""
    return await consumer._client.fetch_all_metadata()


async def _reached(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True


def consumer_options(settings: Settings) -> dict[str, Any]:
    return {"bootstrap_servers": settings.bootstrap_servers, "isolation_level": "read_committed",
            "enable_auto_commit": False, "auto_offset_reset": "earliest", **settings.kafka_security()}


class ReviewView:
    def __init__(self, settings: Settings, *, resolutions: bool = True) -> None:
        self.settings = settings
        self.topics = [settings.review_topic] + ([settings.review_resolutions_topic] if resolutions else [])
        self.held: dict[str, HeldItem] = {}
        self.resolved: dict[str, dict[str, Any]] = {}
        self.version = 0  # bumped on every change: the console polls it to refresh itself
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: set[TopicPartition] = set()

    @property
    def started(self) -> bool:
        return self._consumer is not None

    async def start(self) -> ReviewView:
        consumer = AIOKafkaConsumer(**consumer_options(self.settings))
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self._consumer = consumer
        await self._assign()
        return self

    async def partitions(self, topic: str) -> set[int]:
        """The partitions of ``topic`` (empty when it does not exist), from fresh metadata."""
        assert self._consumer is not None
        return set((await fetch_metadata(self._consumer)).partitions_for_topic(topic) or ())

    async def stop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 5)

    async def _assign(self) -> None:
        """Every partition of the topics that exist (a topic created later is picked up by the next call)."""
        consumer = self._consumer
        assert consumer is not None
        cluster = await fetch_metadata(consumer)
        wanted = {TopicPartition(t, p) for t in self.topics for p in (cluster.partitions_for_topic(t) or ())}
        if wanted - self._assigned:
            new = wanted - self._assigned
            keep = {tp: await consumer.position(tp) for tp in self._assigned}
            consumer.assign(list(wanted))
            for tp, position in keep.items():
                consumer.seek(tp, position)
            await consumer.seek_to_beginning(*new)
            self._assigned = wanted

    async def catch_up(self, timeout_s: float = 15.0) -> None:
        """Read everything committed up to now (the end offsets as of this call)."""
        consumer = self._consumer
        assert consumer is not None
        await self._assign()
        if not self._assigned:
            return
        end = await consumer.end_offsets(list(self._assigned))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await _reached(consumer, end):
                return
            self._apply(await consumer.getmany(timeout_ms=200, max_records=2000))
        raise TimeoutError(f"could not read {', '.join(self.topics)} to the end in {timeout_s:.0f} s")

    async def poll(self) -> bool:
        """Apply what has arrived, without waiting; True when something changed."""
        assert self._consumer is not None
        before = self.version
        self._apply(await self._consumer.getmany(timeout_ms=0, max_records=2000))
        return self.version != before

    def _apply(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in batches.items():
            for record in records:
                if tp.topic == self.settings.review_topic:
                    self._held(record)
                elif record.key is not None and not record.key.startswith((b"action:", b"record:")):
                    self._resolved(record)

    def _held(self, record: Any) -> None:
        try:
            event = orjson.loads(record.value)
            source = event["source"]
            trace = tuple((name, value) for name, value in record.headers or ()
                          if name in (TRACEPARENT, TRACESTATE) and value)
            item = HeldItem(held_id(source["topic"], source["partition"], source["offset"]), record.key, event,
                            trace)
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return  # not a decision event: nothing a reviewer could settle
        self.held[item.id] = item
        self.version += 1

    def _resolved(self, record: Any) -> None:
        try:
            value = orjson.loads(record.value) if record.value is not None else None
        except orjson.JSONDecodeError:
            return
        if isinstance(value, dict) and value.get("type") == "resolution":
            self.resolved[record.key.decode("utf-8", "replace")] = value
            self.version += 1

    # pending() and recent() also run on the /metrics HTTP thread (service/ops/metrics.py) while the event loop
    # adds to ``held`` and ``resolved``: each first copies the values with list(), which takes no Python-level
    # step (so no thread switch) while it walks the dict, then works on the copy.
    def pending(self) -> list[HeldItem]:
        """Held and not settled, oldest first."""
        items, resolved = list(self.held.values()), self.resolved
        return sorted((i for i in items if i.id not in resolved), key=lambda i: i.held_at)

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """Settled events, most recent first."""
        return sorted(list(self.resolved.values()), key=lambda r: str(r.get("settledAt")), reverse=True)[:limit]

    def oldest_pending_age(self) -> float:
        pending = self.pending()
        return pending[0].waiting_s(datetime.now(UTC)) if pending else 0.0
