"""Liveness and readiness of one instance, judged from what the loop reports and a periodic broker probe.

- live (/healthz): the event loop answers (a watcher task ticks) and, once the consume loop has started, it
  has turned within ``health_stall_s``. A service retrying an unreachable broker at start is alive, not stuck.
- ready (/readyz): at least one verification key is loaded (without one every signed event would be rejected
  as ``signature.unknown_signer``), the consumer owns at least one partition, and the broker answered within
  ``ready_stale_s``: a batch with at least one partition committed, a partition assignment, or the watcher's
  probe (``end_offsets`` of the owned partitions, sent only when the loop has been idle). An idle instance with a
  healthy broker stays ready.

The loop's turns and the broker's answers arrive as reports (``report()``, a sink of service/ops/reports.py):
one ``BatchReport`` per turn, one ``Assignment`` per rebalance step. ``watch(consumer)`` is handed the consumer
by bootstrap.py. State is a few floats written on the event loop and read by the HTTP thread: single reads, no
lock needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from service.ops.reports import Assignment, BatchReport, Event

PROBE_TIMEOUT_S = 5.0


class Health:
    def __init__(self, stall_s: float, stale_s: float, keys_loaded: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``keys_loaded()``: how many article verification keys the policy in force holds (read at every probe)."""
        self.stall_s, self.stale_s, self._clock = stall_s, stale_s, clock
        self.keys_loaded = keys_loaded
        self.last_tick = clock()  # the watcher task: the event loop is responsive
        self.last_turn: float | None = None  # the consume loop
        self.last_broker: float | None = None  # the broker answered
        self.partitions = 0

    def report(self, event: Event) -> None:
        """The loop's hook (through ``Reports``, beside logs and metrics)."""
        match event:
            case BatchReport(records=records, delivered=delivered):
                self.loop_turned()
                if records and delivered:  # some partition's decisions committed: the broker answered
                    self.broker_answered()
            case Assignment(owned=owned):
                self.partitions = len(owned)
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
        if self.keys_loaded() <= 0:
            return False, "no verification key loaded (every signed event would be rejected)"
        if self.partitions <= 0:
            return False, "no input partitions assigned"
        if self.last_broker is None or self._clock() - self.last_broker > self.stale_s:
            return False, f"broker not heard from for more than {self.stale_s:g} s"
        return True, f"ok ({self.partitions} partitions)"

    async def watch(self, consumer: Any) -> None:
        """Tick, and probe the broker through ``consumer`` when the loop has been idle; runs until cancelled."""
        interval = max(0.05, min(1.0, self.stall_s / 4, self.stale_s / 4))
        while True:
            self.tick()
            idle = self.last_broker is None or self._clock() - self.last_broker > self.stale_s / 3
            if idle and self.partitions > 0:
                await self._probe(consumer)
            await asyncio.sleep(interval)

    async def _probe(self, consumer: Any) -> None:
        partitions = list(consumer.assignment())
        if not partitions:
            return
        with contextlib.suppress(Exception):  # any failure means: not heard from
            await asyncio.wait_for(consumer.end_offsets(partitions), timeout=min(PROBE_TIMEOUT_S, self.stale_s))
            self.broker_answered()
