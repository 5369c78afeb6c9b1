"""Latency figures: percentiles of (readable at - record timestamp), and the floor under them."""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from bench.generator import record_key
from bench.kafka_io import Collector, produce_paced
from service.kafka.topics import ensure_topics


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def latency_figures(seen: dict[bytes, float], sent: dict[bytes, float]) -> dict:
    """ms from each sent record's timestamp to when its output (same key) became readable."""
    latencies = [(seen[k] - moment) * 1000 for k, moment in sent.items() if k in seen]
    found = {"count": len(latencies)}
    for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        found[name] = round(percentile(latencies, share), 1)
    found["max"] = round(max(latencies, default=float("nan")), 1)
    found["mean"] = round(statistics.fmean(latencies), 1) if latencies else None
    return found


async def floor_latency(bootstrap: str, plan: Any, events: Any) -> dict:
    """Producer -> read_committed consumer with nothing in between: the floor under every latency figure."""
    topic = f"bench-floor-{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, {topic: plan.partitions})
    values = events.get("hmac", plan.size, int(plan.rate * plan.latency_s))
    collector = Collector(bootstrap, [topic])
    await collector.start()
    sent: dict[bytes, float] = {}
    try:
        await produce_paced(bootstrap, topic, [(record_key(i), v) for i, v in enumerate(values)], plan.rate, sent)
        await collector.wait(lambda: len(collector.seen) >= len(sent), 30.0)
    finally:
        await collector.stop()
    return latency_figures(collector.seen, sent)
