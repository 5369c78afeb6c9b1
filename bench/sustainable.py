"""Max sustainable rate, open loop: the highest offered rate at which the group's lag stays flat.

One process (the relay or the service) per (system, delivery), on fresh topics, fed a sequence of steps:

1. priming: 1 s at <= 1,000 events/s, then drained: the group has joined and the process is warm;
2. each step offers a fixed rate for ``step_s`` (``kafka_io.produce_steady``: what it achieved is reported,
   and a step where it fell below 95% of the target is flagged ``producer_short``) while ``lag.LagProbe``
   samples the lag every ``sample_s``;
3. a step is **sustainable** when the least-squares slope of the lag over the step, after the first
   ``warmup_s``, is at most 2% of the achieved offered rate (the lag grows by less than 1 event for every
   50 offered); then the lag is drained (bounded by ``drain_s``) before the next step;
4. the rates are a bisection between ``low`` x and ``high`` x the closed-loop throughput (``base_eps``): the
   first step at the middle, each next one halfway to the last sustainable or unsustainable bound.

The max sustainable rate is the highest achieved offered rate of a sustainable step (None if none was).
Events per CPU-second at a step = the offsets the group committed during the step / the process's CPU seconds.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.generator import record_key, signing_key, write_verification_key
from bench.kafka_io import STEADY_PRODUCER, produce_steady
from bench.lag import LagProbe, Sample, slope
from bench.process import Window
from bench.runner import Events, Plan, output_topics, start_process
from service.kafka.topics import ensure_topics

# Kafka keeps whatever the steps write until its retention check (every 5 minutes); the topics are deleted after
# each search, and a partition never holds more than this meanwhile (~2 minutes of the relay's fastest rate).
RETENTION = {"retention.bytes": str(512 * 1024 * 1024)}


@dataclass(frozen=True)
class Search:
    step_s: float = 60.0  # the "flat over a minute"
    warmup_s: float = 5.0  # left out of the slope: the consumer catching up with the step's first fetches
    steps: int = 3
    low: float = 0.3  # bisection bounds, times the closed-loop throughput
    high: float = 1.2
    sample_s: float = 1.0
    drain_s: float = 30.0  # at most this long waiting for the lag to reach 0 between steps
    slope_share: float = 0.02  # sustainable: lag slope <= this share of the offered rate
    producer_short: float = 0.95  # a step whose achieved offered rate is below this share of the target
    pool: int = 30_000  # distinct events cycled by the producer


FULL_SEARCH = Search()
QUICK_SEARCH = Search(step_s=3.0, warmup_s=1.0, steps=2, sample_s=0.5, drain_s=15.0, pool=1_500)


def judge(samples: list[Sample], started: float, search: Search, achieved_eps: float) -> dict[str, Any]:
    """The step's lag figures and verdict from the samples taken during it (``started``: time.monotonic())."""
    window = [s for s in samples if s.t >= started + search.warmup_s]
    lags = [s.lag for s in window]
    rise = slope([(s.t - started, s.lag) for s in window])
    sustainable = rise is not None and rise <= search.slope_share * achieved_eps
    return {
        "lag": {"samples": len(samples), "after_warmup": len(window),
                "first": lags[0] if lags else None, "last": lags[-1] if lags else None,
                "min": min(lags, default=None), "max": max(lags, default=None),
                "mean": round(sum(lags) / len(lags)) if lags else None},
        "lag_series": [[round(s.t - started, 1), s.lag] for s in samples],
        "slope_eps": round(rise, 1) if rise is not None else None,
        "slope_share": round(rise / achieved_eps, 4) if rise is not None and achieved_eps else None,
        "sustainable": sustainable,
    }


class Stepper:
    """The process under test, its producer and its lag probe, for one search."""

    def __init__(self, child: Any, producer: AIOKafkaProducer, probe: LagProbe, topic: str,
                 pool: list[tuple[bytes, bytes]], partitions: int, search: Search, broker_pid: int | None) -> None:
        self.child, self.producer, self.probe, self.topic = child, producer, probe, topic
        self.pool, self.partitions, self.search, self.broker_pid = pool, partitions, search, broker_pid
        self.index = 0

    async def offer(self, rate: float, seconds: float) -> Any:
        offered, self.index = await produce_steady(self.producer, self.topic, self.pool, rate, seconds,
                                                   self.partitions, first=self.index)
        return offered

    async def step(self, rate: float) -> dict[str, Any]:
        search = self.search
        before = await self.probe.sample()
        cpu_before = self.child.cpu()
        window = Window({"broker": self.broker_pid})
        self.probe.samples.clear()
        started = time.monotonic()
        self.probe.record(search.sample_s)
        offered = await self.offer(rate, search.step_s)
        await self.probe.stop_recording()
        after = await self.probe.sample()
        cpu = self.child.cpu() - cpu_before
        shares = window.close()
        consumed = after.committed - before.committed
        step: dict[str, Any] = {
            "target_eps": round(rate, 1), "achieved_offered_eps": round(offered.achieved_eps, 1),
            "producer_short": offered.achieved_eps < search.producer_short * rate, "offered": offered.records,
            "seconds": round(offered.seconds, 2), "lag_before": before.lag,
            **judge(self.probe.samples, started, search, offered.achieved_eps),
            "written": after.end - before.end,  # in the input's log: equals "offered" unless records were lost
            "consumed": consumed,
            "process_cpu_share": round(cpu / shares["seconds"], 3) if shares["seconds"] else None,
            "events_per_cpu_second": round(consumed / cpu) if cpu > 0 else None,
            "producer_cpu_share": round(offered.cpu_s / offered.seconds, 3) if offered.seconds else None,
            "machine_busy_share": shares["machine_busy_share"], "broker_cores": shares.get("broker_cores"),
        }
        began = time.monotonic()
        drained, left = await self.probe.wait_drained(search.drain_s)
        step["drain"] = {"drained": drained, "seconds": round(time.monotonic() - began, 2), "lag_left": left.lag}
        return step


async def run_search(system: str, delivery: str, bootstrap: str, plan: Plan, events: Events, workdir: Path,
                     base_eps: float, base_source: str, search: Search, broker_pid: int | None = None
                     ) -> dict[str, Any]:
    """Bisect the max sustainable rate of ``system`` (relay or service, HMAC events) at ``delivery``."""
    prefix = f"bench-sustain-{system}-{delivery}-{uuid.uuid4().hex[:6]}-"
    topics = [f"{prefix}in", *output_topics(system, prefix)]
    await ensure_topics(bootstrap, dict.fromkeys(topics, plan.partitions), configs=dict.fromkeys(topics, RETENTION))
    keys_dir = workdir / "keys-hmac"
    write_verification_key(signing_key("hmac"), keys_dir)
    size = search.pool - search.pool % plan.partitions
    pool = [(record_key(i), value) for i, value in enumerate(events.get("hmac", plan.size, size))]
    # A record comes back every len(pool) offers; the service would reject the copy as a replay (a decision the
    # closed-loop runs never make), so its replay window is kept shorter than one lap of a partition's share.
    replay_entries = size // plan.partitions // 2
    log = workdir / f"{prefix}log.txt"
    child = start_process(system, delivery, bootstrap, prefix, keys_dir, log, plan.producer_options,
                          plan.service_env, {"MODERATION_REPLAY_WINDOW_ENTRIES": str(replay_entries)})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **STEADY_PRODUCER)
    probe = LagProbe(bootstrap, f"{prefix}in", plan.partitions, f"{prefix}group")
    figures: dict[str, Any] = {
        "system": system, "delivery": delivery, "algorithm": "hmac", "size": plan.size,
        "partitions": plan.partitions, "base_eps": base_eps, "base_source": base_source,
        "search": asdict(search), "replay_window_entries": replay_entries if system != "relay" else None,
        "steps": [],
    }
    try:
        await producer.start()
        await probe.start()
        stepper = Stepper(child, producer, probe, f"{prefix}in", pool, plan.partitions, search, broker_pid)
        began = time.monotonic()
        await stepper.offer(min(1_000.0, search.low * base_eps), 1.0)  # priming: the group joins, the code warms
        primed, _ = await probe.wait_drained(plan.timeout_s)
        figures["ready_s"] = round(time.monotonic() - began, 2)
        low, high = search.low * base_eps, search.high * base_eps
        for _ in range(search.steps if primed else 0):
            if not child.alive():
                break
            rate = (low + high) / 2
            step = await stepper.step(rate)
            figures["steps"].append(step)
            if step["sustainable"]:
                low = rate
            else:
                high = rate
        figures.update(summary(figures["steps"], low, high, base_eps))
        figures["complete"] = primed and child.alive() and len(figures["steps"]) == search.steps
    finally:
        with contextlib.suppress(Exception):
            await probe.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        figures["exit_code"] = child.stop()
        await _delete_topics(bootstrap, topics)
    if figures.get("complete"):
        log.unlink(missing_ok=True)  # one log line per decision: hundreds of MB after a full search
    else:
        figures["log_tail"] = child.tail()
    return figures


def summary(steps: list[dict[str, Any]], low: float, high: float, base_eps: float) -> dict[str, Any]:
    """The highest sustainable step, and the bracket the bisection ended with."""
    good = [s for s in steps if s["sustainable"]]
    best = max(good, key=lambda s: s["achieved_offered_eps"], default=None)
    return {
        "max_sustainable_eps": best["achieved_offered_eps"] if best else None,
        "max_vs_closed_loop": round(best["achieved_offered_eps"] / base_eps, 3) if best and base_eps else None,
        "events_per_cpu_second_at_max": best["events_per_cpu_second"] if best else None,
        "process_cpu_share_at_max": best["process_cpu_share"] if best else None,
        "bounded_by_producer": bool(best and best["producer_short"]),
        # every step kept up: the max is at least the last one, and the bisection never found the ceiling
        "every_step_sustainable": bool(steps) and len(good) == len(steps),
        # where the bisection ended: the max lies between these targets (the lower one untested, search.low x
        # the base, when no step was sustainable; the upper one untested, search.high x, when every step was)
        "bracket_eps": [round(low, 1), round(high, 1)],
    }


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):
        await admin.start()
        await admin.delete_topics(topics)
    with contextlib.suppress(Exception):
        await admin.close()
