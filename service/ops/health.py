"""Liveness and readiness of one instance, judged from what the loop reports and a periodic broker probe.

- live (/healthz): the event loop answers (a watcher task ticks) and, once the consume loop has started, it
  has turned within ``health_stall_s``. A service retrying an unreachable broker at start is alive, not stuck.
- ready (/readyz): the consumer owns at least one partition and the broker answered within ``ready_stale_s``:
  a delivered batch, a partition assignment, or the watcher's probe (``end_offsets`` of the owned partitions,
  sent only when the loop has been idle). An idle instance with a healthy broker stays ready.

The loop's turns are observed through ``Policy.refresh()``, which app.py calls once per turn (see ``LoopPulse``).
State is a few floats written on the event loop and read by the HTTP thread: single reads, no lock needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

PROBE_TIMEOUT_S = 5.0


class Health:
    def __init__(self, stall_s: float, stale_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s, self.stale_s, self._clock = stall_s, stale_s, clock
        self.last_tick = clock()  # the watcher task: the event loop is responsive
        self.last_turn: float | None = None  # the consume loop
        self.last_broker: float | None = None  # the broker answered
        self.partitions = 0

    def on_event(self, name: str, **fields: Any) -> None:
        """The loop's hook (app.py), fanned out beside Metrics.on_event."""
        if name == "batch":
            self.broker_answered()
        elif name == "assigned":
            self.partitions = int(fields.get("partitions", 0))
            self.broker_answered()  # an assignment is the group coordinator's answer

    def loop_turned(self) -> None:
        self.last_turn = self._clock()

    def broker_answered(self) -> None:
        self.last_broker = self._clock()

    def tick(self) -> None:
        self.last_tick = self._clock()

    def live(self) -> tuple[bool, str]:
        now = self._clock()
        if now - self.last_tick > self.stall_s:
            return False, f"event loop blocked for {now - self.last_tick:.0f} s"
        if self.last_turn is not None and now - self.last_turn > self.stall_s:
            return False, f"consume loop has not turned for {now - self.last_turn:.0f} s"
        return True, "ok" if self.last_turn is not None else "ok (starting)"

    def ready(self) -> tuple[bool, str]:
        if self.partitions <= 0:
            return False, "no input partitions assigned"
        if self.last_broker is None or self._clock() - self.last_broker > self.stale_s:
            return False, f"broker not heard from for more than {self.stale_s:g} s"
        return True, f"ok ({self.partitions} partitions)"

    async def watch(self, moderator: Any) -> None:
        """Tick, and probe the broker when the loop has been idle; runs until cancelled."""
        interval = max(0.05, min(1.0, self.stall_s / 4, self.stale_s / 4))
        while True:
            self.tick()
            consumer = getattr(moderator, "consumer", None)
            idle = self.last_broker is None or self._clock() - self.last_broker > self.stale_s / 3
            if consumer is not None and idle and self.partitions > 0:
                await self._probe(consumer)
            await asyncio.sleep(interval)

    async def _probe(self, consumer: Any) -> None:
        partitions = list(consumer.assignment())
        if not partitions:
            return
        with contextlib.suppress(Exception):  # any failure means: not heard from
            await asyncio.wait_for(consumer.end_offsets(partitions), timeout=min(PROBE_TIMEOUT_S, self.stale_s))
            self.broker_answered()


class LoopPulse:
    """The policy as the loop sees it: ``refresh()`` is called once per loop turn, so it marks the turn."""

    def __init__(self, policy: Any, health: Health) -> None:
        self._policy, self._health = policy, health

    def refresh(self) -> Any:
        self._health.loop_turned()
        return self._policy.refresh()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)
