"""Consumer lag of one group on one input topic, sampled on a fixed period, and the slope of a series of samples.

lag = the input partitions' end offsets (high watermark: the input is written without transactions) minus the
group's committed offsets, summed over partitions. A partition the group has not committed yet counts from 0
(the topics are fresh and the consumers start at the earliest offset). Committed offsets move when a batch's
offsets are committed (at-least-once) or its transaction commits (exactly-once), so the lag is a saw-tooth of
up to a few batches even when the consumer keeps up; the least-squares slope sees through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    end: int  # sum of the input partitions' end offsets
    committed: int  # sum of the group's committed offsets

    @property
    def lag(self) -> int:
        return self.end - self.committed


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points (y per unit of x); None with fewer than 2 distinct x."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


class LagProbe:
    """``await probe.sample()`` on demand, or ``probe.record(period)`` in the background into ``samples``."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, group: str) -> None:
        self.group = group
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._ends = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)  # no group: reads only
        self.samples: list[Sample] = []
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()

    async def sample(self) -> Sample:
        ends = await self._ends.end_offsets(self.partitions)
        try:
            committed = await self._admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
        except Exception:  # before the group's first commit the coordinator may not know it yet
            committed = {}
        found = sum(max(0, meta.offset) for tp, meta in committed.items() if tp in ends)
        return Sample(time.monotonic(), sum(ends.values()), found)

    def record(self, period_s: float) -> None:
        """Sample every ``period_s`` into ``samples`` until ``stop()``; a failed sample is skipped, not fatal."""
        async def loop() -> None:
            next_at = time.monotonic()
            while True:
                with contextlib.suppress(Exception):
                    self.samples.append(await self.sample())
                next_at += period_s
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        self._task = asyncio.create_task(loop())

    async def stop_recording(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_drained(self, timeout_s: float, period_s: float = 0.25) -> tuple[bool, Sample]:
        """Until the lag is 0 (every offered record committed), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = await self.sample()
            if now.lag <= 0 or time.monotonic() >= deadline:
                return now.lag <= 0, now
            await asyncio.sleep(period_s)

    async def stop(self) -> None:
        await self.stop_recording()
        await self._ends.stop()
        await self._admin.close()
