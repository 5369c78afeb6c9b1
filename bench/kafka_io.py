"""The benchmark's own Kafka clients: bulk and paced producers, and a read_committed collector.

The collector notes the wall-clock moment each output record becomes readable, by record key: the service
and the relay both keep the input record's key, so ``seen[key] - sent[key]`` is the end-to-end latency and no
output value has to be parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

PRODUCER = {"acks": "all", "linger_ms": 5, "max_batch_size": 262_144, "max_request_size": 2_097_152}


async def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Write every record (key, value) as fast as the broker takes them; the input of the throughput phase."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    await producer.start()
    try:
        acks = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def produce_paced(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], rate: float,
                        sent: dict[bytes, float]) -> float:
    """Offer ``rate`` records/s (10 ms ticks); ``sent[key]`` is the record's timestamp, in s. Returns the
    achieved rate. Each record's Kafka timestamp is set explicitly to the moment it was handed to the client."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER, "linger_ms": 1})
    await producer.start()
    acks = []
    try:
        start = time.time()
        done = 0
        while done < len(records):
            due = min(len(records), int((time.time() - start) * rate) + 1)
            for key, value in records[done:due]:
                now = time.time()
                sent[key] = now
                acks.append(await producer.send(topic, value, key=key, timestamp_ms=int(now * 1000)))
            done = due
            await asyncio.sleep(0.01)
        elapsed = time.time() - start
        await asyncio.gather(*acks)
        return len(records) / elapsed if elapsed > 0 else 0.0
    finally:
        await producer.stop()


class Collector:
    """Reads the output topics (read_committed) from the start; ``seen[key]`` = when it was first readable."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        # A short fetch wait: the broker answers as soon as data is there, this only bounds an idle poll.
        self.consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, isolation_level="read_committed",
                                         auto_offset_reset="earliest", enable_auto_commit=False,
                                         fetch_max_wait_ms=20)
        self.seen: dict[bytes, float] = {}
        self.by_topic: dict[str, int] = {}
        self.duplicates = 0
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    if record.key in self.seen:
                        self.duplicates += 1
                        continue
                    self.seen[record.key] = now
                    self.by_topic[record.topic] = self.by_topic.get(record.topic, 0) + 1
            if batches:
                self._changed.set()

    async def wait(self, done: Callable[[], bool], timeout: float, on_change: Callable[[], None] = lambda: None
                   ) -> bool:
        """Until ``done()`` (checked after each fetch that brought records), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or (self._task is not None and self._task.done()):
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            on_change()
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.consumer.stop()
