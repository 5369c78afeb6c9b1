"""Time bounds of the Kafka loop: waiting for a delivery, racing the stop signal, back-off, the shutdown budget.

aiokafka waits for ever in places (an idempotent producer retries a batch while the broker is away, aiokafka
#905; ``getmany`` waits for the assignment during a rebalance; ``committed()`` retries retriable errors), so
every wait of the loop is bounded here and says what it is waiting for. See docs/delivery.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 10.0
# Below delivery.TRANSACTION_TIMEOUT_MS: we give up on a transaction before the coordinator aborts it, and the loop
# keeps turning (health) while the broker is away; a healthy batch takes well under a second.
DELIVERY_TIMEOUT_S = 25.0
WAIT_LOG_S = 5.0  # how often a waiting delivery says so


class Backoff:
    """0.5 s doubling to 10 s; ``due()`` once the last delay has passed; ``reset()`` after a success."""

    def __init__(self) -> None:
        self.delay, self.retry_at = BACKOFF_START_S, 0.0

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, BACKOFF_MAX_S)
        self.retry_at = time.monotonic() + delay
        return delay

    def due(self) -> bool:
        return time.monotonic() >= self.retry_at

    def reset(self) -> None:
        self.delay = BACKOFF_START_S


class Deadline:
    """The shutdown budget: ``shutdown_timeout_s`` from the moment ``stop`` is set (the whole of it before)."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.at: float | None = None

    async def track(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.at = time.monotonic() + self.budget_s

    def remaining(self, share: float) -> float:
        """A ``share`` of the time left before the deadline (of the whole budget, before a stop)."""
        if self.at is None:
            return self.budget_s * share
        return max(0.1, (self.at - time.monotonic()) * share)


class Stall:
    """Since when deliveries have been failing or waiting: says so while it lasts, and once they resume."""

    def __init__(self, log: Any) -> None:
        self.log, self.since = log, None

    def waiting(self, seconds: float) -> None:
        self.since = self.since or time.monotonic() - seconds
        self.log.warning("broker_unreachable", step="deliver", waiting_s=round(seconds, 1),
                         note="the batch's transaction waits for the broker; nothing is committed meanwhile")

    def failed(self) -> None:
        self.since = self.since or time.monotonic()

    def resumed(self) -> None:
        if self.since is not None:
            self.log.info("delivery_resumed", after_s=round(time.monotonic() - self.since, 1))
            self.since = None


async def unless_stopped(step: Awaitable[Any], stop: asyncio.Event) -> Any:
    """``step``'s result, or None once ``stop`` is set first (``step`` is then cancelled)."""
    task, stopper = asyncio.ensure_future(step), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
    return task.result() if task.done() and not task.cancelled() else None


async def settle(task: asyncio.Future, stop: asyncio.Event, grace: Callable[[], float],
                 waiting: Callable[[float], None]) -> bool:
    """Wait up to DELIVERY_TIMEOUT_S for ``task``, and once ``stop`` is set only ``grace()`` more. False: it was
    cancelled (timed out or abandoned); its exception is raised. ``waiting(seconds)`` is called every WAIT_LOG_S
    while it waits (aiokafka retries silently, or floods)."""
    stopper = asyncio.ensure_future(stop.wait())
    began = time.monotonic()
    try:
        while not task.done() and not stop.is_set() and (left := began + DELIVERY_TIMEOUT_S - time.monotonic()) > 0:
            await asyncio.wait({task, stopper}, timeout=min(WAIT_LOG_S, left), return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and not stop.is_set():
                waiting(time.monotonic() - began)
        if not task.done() and stop.is_set():
            await asyncio.wait({task}, timeout=grace())
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # its per-partition clean-up (abort, close) runs before we go on
    if task.cancelled():
        return False
    task.result()  # raises DeliveryFailed
    return True


async def bounded(step: Awaitable[Any], timeout: float, log: Any, what: str) -> None:
    """A shutdown step, given up (and logged) after ``timeout``."""
    try:
        await asyncio.wait_for(step, timeout)
    except Exception as exc:  # TimeoutError included
        log.warning("shutdown_step_failed", step=what, error=repr(exc))


async def start_with_retry(consumer: Any, log: Any, stop: asyncio.Event) -> bool:
    """Start the consumer, retrying with back-off while the broker is away; False if ``stop`` came first."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await consumer.start()
            return True
        except KafkaError as exc:
            delay = backoff.next()
            log.warning("broker_unreachable", step="start", error=repr(exc), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
    return False
