"""The benchmark's own Kafka clients: bulk and paced producers, a steady open-loop producer, and a read_committed
collector.

The collector notes the wall-clock moment each output record becomes readable, by record key: the service
and the relay both keep the input record's key, so ``seen[key] - sent[key]`` is the end-to-end latency and no
output value has to be parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

PRODUCER = {"acks": "all", "linger_ms": 5, "max_batch_size": 262_144, "max_request_size": 2_097_152}
STEADY_PRODUCER = {**PRODUCER, "linger_ms": 0}  # produce_steady closes its batches itself


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


@dataclass
class Offered:
    """What a steady producer actually offered: records handed to the client and acknowledged, over how long."""

    target_eps: float
    records: int
    seconds: float
    cpu_s: float  # this process's CPU over the step: the producer's cost, beside the measured process's

    @property
    def achieved_eps(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


async def produce_steady(producer: AIOKafkaProducer, topic: str, pool: Sequence[tuple[bytes, bytes]], rate: float,
                         seconds: float, partitions: int, first: int = 0, tick_s: float = 0.01
                         ) -> tuple[Offered, int]:
    """Offer ``rate`` records/s for ``seconds`` (open loop: whatever the consumer does), cycling through ``pool``
    from index ``first``; returns what was offered and the index to continue from.

    ``produce_paced`` spends ~45 µs of this process's CPU per record (one ``send()`` each) and tops out near
    15,000 records/s here; a steady step needs more. So each 10 ms tick writes the records due so far as one
    record batch per partition (``create_batch``/``send_batch``, a few µs per record), pool record ``i`` to
    partition ``i % partitions``: with ``len(pool)`` a multiple of ``partitions`` a record always returns to
    the same partition. A producer that falls behind (starved of CPU) catches up at most 100 ms of records per
    tick, so a stall is not followed by one huge burst; ``Offered.achieved_eps`` says what it managed over the
    step. Each record's timestamp is the moment its batch was built."""
    acks: list[asyncio.Future] = []
    cpu_before = time.process_time()
    start = time.monotonic()
    end = start + seconds
    done, index = 0, first
    cap = max(1, int(rate * 0.1))
    while (now := time.monotonic()) < end:
        due = min(int((now - start) * rate) + 1, done + cap) - done
        if due > 0:
            stamp = int(time.time() * 1000)
            builders: dict[int, BatchBuilder] = {}
            for _ in range(due):
                key, value = pool[index % len(pool)]
                partition = index % partitions
                builder = builders.get(partition)
                if builder is None:
                    builder = builders[partition] = producer.create_batch()
                if builder.append(timestamp=stamp, key=key, value=value, headers=[]) is None:
                    acks.append(await producer.send_batch(builder, topic, partition=partition))
                    builder = builders[partition] = producer.create_batch()
                    builder.append(timestamp=stamp, key=key, value=value, headers=[])
                index += 1
            for partition, builder in builders.items():
                builder.close()  # complete: sent at once, no linger
                acks.append(await producer.send_batch(builder, topic, partition=partition))
            done += due
            if len(acks) > 1_000:  # keep the list of futures short over a minute-long step
                await asyncio.gather(*acks)
                acks.clear()
        await asyncio.sleep(max(0.0, min(tick_s, end - time.monotonic())))
    offering = time.monotonic() - start
    await asyncio.gather(*acks)  # every offered record is in the log before the step's lag is judged
    return Offered(rate, done, offering, time.process_time() - cpu_before), index


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
