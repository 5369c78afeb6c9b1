"""Helpers for tests that cross the real broker: create topics, run the service in-process, produce, collect."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from contract import check as check_contract

from service.bootstrap import Service
from service.core.keys import SigningKey
from service.files.keydir import write_key_file
from service.files.policy import Policy
from service.kafka.topics import ensure_topics, service_topics
from service.ops.reports import PolicyChange
from service.ops.tracing import NO_TRACING
from service.settings import Settings

ROOT = Path(__file__).parents[2]
DEFAULT_RULES = ROOT / "config" / "rules.yaml"
PROVIDERS = ("siliconangle.com", "reuters.com", "apnews.com", "example.com", "example.org")


def make_key(keys_dir: Path, key_id: str = "test", algorithm: str = "ed25519", providers=PROVIDERS,
             **window: datetime) -> SigningKey:
    """A fresh signing key whose verification half is written into ``keys_dir`` (mode 0600)."""
    import os

    material = os.urandom(32)
    key = SigningKey(key_id, algorithm, frozenset(providers), material=material, **window)
    keys_dir.mkdir(parents=True, exist_ok=True)
    write_key_file(keys_dir / f"{key_id}.key.json", key.verification_key())
    return key


def settings_for(bootstrap: str, prefix: str, keys_dir: Path, **overrides: Any) -> Settings:
    values = {
        "bootstrap_servers": bootstrap,
        "input_topic": f"{prefix}in",
        "approved_topic": f"{prefix}approved",
        "rejected_topic": f"{prefix}rejected",
        "deadletter_topic": f"{prefix}dead",
        "review_topic": f"{prefix}review",
        "review_actions_topic": f"{prefix}review.actions",
        "review_resolutions_topic": f"{prefix}review.resolutions",
        "group_id": f"{prefix}group",
        "keys_dir": keys_dir,
        "rules_path": DEFAULT_RULES,
        "http_port": 0,
        "reload_interval_s": 0.2,
        "shutdown_timeout_s": 20,
        **overrides,
    }
    return Settings(**values)


def output_topics(settings: Settings) -> list[str]:
    return [settings.approved_topic, settings.rejected_topic, settings.deadletter_topic]


async def create_topics(settings: Settings, partitions: int = 3) -> None:
    """Every topic of ``settings`` (review ones included, the resolutions topic compacted)."""
    names, configs = service_topics(settings, partitions)
    await ensure_topics(settings.bootstrap_servers, names, configs=configs)


@contextlib.asynccontextmanager
async def running(settings: Settings, tracing: Any = NO_TRACING, counts: Any = None) -> AsyncIterator[Service]:
    """The service (loop and policy watcher) in this event loop, stopped gracefully (and checked not to have
    crashed) at the end. ``counts``: what the policy reports its reloads to (``Counts``), so a test waits for
    the reload it expects."""
    log = structlog.get_logger("test")
    service = Service(settings, log, tracing=tracing, policy=Policy(settings, log, counts) if counts else None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


class Counts:
    """Counts what the policy reports (rules_reloads, rules_reload_failures, key_reloads...), so a test can wait
    for the reload it expects instead of sleeping and hoping it happened."""

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()

    def policy_changed(self, change: PolicyChange) -> None:
        self.seen[change.value] += 1

    async def reach(self, name: str, total: int, timeout: float = 30.0) -> None:
        """Wait until ``name`` was counted ``total`` times (TimeoutError names what never came)."""
        try:
            async with asyncio.timeout(timeout):
                while self.seen[name] < total:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise TimeoutError(f"{name} counted {self.seen[name]} times, expected {total}") from None


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]],
                  timestamp_ms: int | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        acks = [await producer.send(topic, value, key=key, timestamp_ms=timestamp_ms) for key, value in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def collect(bootstrap: str, topics: list[str], expected: int, timeout: float = 90.0,
                  settle: float = 1.5) -> list[Any]:
    """Every committed record of ``topics`` once ``expected`` have arrived (plus ``settle`` s to catch extras)."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, isolation_level="read_committed",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        settle_until = None
        while True:
            now = asyncio.get_running_loop().time()
            if len(got) >= expected and settle_until is None:
                settle_until = now + settle
            if now > deadline or (settle_until is not None and now > settle_until):
                return got
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    check_contract(record)  # every record any test collects keeps the published contract
                got.extend(records)
    finally:
        await consumer.stop()


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def recent_ms() -> int:
    return ms(datetime.now(UTC) - timedelta(minutes=1))


def good_article(n: int = 0) -> dict:
    return {
        "category": "news", "title": f"Researchers publish open dataset number {n} for climate models",
        "excerpt": "The dataset covers forty years of regional observations and is released under an open licence, "
                   "the team said, so that other groups can check and extend the published results.",
        "publishedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webUrl": f"https://www.reuters.com/science/open-climate-dataset-{n}", "type": "article",
        "quality": 80, "heat": 5, "published": False,
        "provider": {"name": "Reuters", "domain": "reuters.com"},
        "topics": ["Climate", "Science"],
        "images": [{"url": "https://www.reuters.com/img/climate.jpg", "width": 1200, "height": 630,
                    "isCached": True, "title": "A weather station"}],
        "related": [],
    }
