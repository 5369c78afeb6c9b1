"""Throughput of the whole loop, exactly-once against at-least-once, in the same run on the same broker.

    .venv/bin/python bench/delivery_bench.py [--events 20000] [--partitions 6] [--batch 500]

For each delivery mode: N signed ~2 KB events (HMAC, so the signature is not what is measured) are produced to
a fresh input topic first; then the service (service.bootstrap.Service, in this process) starts, and the clock runs
until the group's committed offsets cover all N (every decision written and committed). Prints events/s for the
whole run (start-up and group join included) and for the steady part (first settled record to the last).
Uses KAFKA_BOOTSTRAP_SERVERS when set, otherwise starts the project's local broker (devtools.localkafka).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from service.bootstrap import Service
from service.core.keys import SigningKey
from service.files.keydir import write_key_file
from service.kafka.topics import ensure_topics
from service.settings import Settings
from service.signing import sign_event

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("Independent observers checked the figures against the public record and found them consistent with "
        "earlier releases; the authors publish their methods so that others can repeat the analysis. ") * 9


def events(key: SigningKey, n: int) -> list[bytes]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [orjson.dumps(sign_event({
        "category": "news", "title": f"Regional observers publish open dataset number {i}", "excerpt": TEXT[:1400],
        "publishedDateTime": now, "webUrl": f"https://www.reuters.com/science/dataset-{i}", "type": "article",
        "quality": 80, "heat": 5, "published": False, "provider": {"name": "Reuters", "domain": "reuters.com"},
        "topics": ["Climate"], "images": [], "related": [],
    }, key)) for i in range(n)]


async def settled(admin: AIOKafkaAdminClient, settings: Settings) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group_id)
    except Exception:  # a fresh broker creates its offsets topic on first use
        return 0
    return sum(m.offset for tp, m in offsets.items() if tp.topic == settings.input_topic and m.offset > 0)


async def one_mode(bootstrap: str, keys: Path, values: list[bytes], args: argparse.Namespace, mode: str) -> str:
    prefix = f"bench-{mode}-{uuid.uuid4().hex[:6]}-"
    settings = Settings(
        bootstrap_servers=bootstrap, input_topic=f"{prefix}in", approved_topic=f"{prefix}approved",
        rejected_topic=f"{prefix}rejected", deadletter_topic=f"{prefix}dead", group_id=f"{prefix}group",
        delivery=mode, batch_max_records=args.batch, keys_dir=keys, rules_path=ROOT / "config" / "rules.yaml",
        http_port=0, log_level="warning",
    )
    names = [settings.input_topic, settings.approved_topic, settings.rejected_topic, settings.deadletter_topic]
    await ensure_topics(bootstrap, dict.fromkeys(names, args.partitions))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, max_batch_size=262_144)
    await producer.start()
    try:
        acks = [await producer.send(settings.input_topic, v, partition=i % args.partitions)
                for i, v in enumerate(values)]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    log = structlog.get_logger("bench")
    service, stop = Service(settings, log), asyncio.Event()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    began, first = time.perf_counter(), None
    task = asyncio.create_task(service.run(stop))
    try:
        while (done := await settled(admin, settings)) < len(values):
            if first is None and done > 0:
                first = (time.perf_counter(), done)
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        ended = time.perf_counter()
    finally:
        stop.set()
        await task
        await admin.close()
    total = len(values) / (ended - began)
    steady = (len(values) - first[1]) / (ended - first[0]) if first and ended > first[0] else float("nan")
    return (f"{mode:<14} {len(values):>7} events  {ended - began:6.2f} s  {total:8.0f} events/s  "
            f"steady {steady:8.0f} events/s")


async def main(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    keys = Path(tempfile.mkdtemp(prefix="delivery-bench-keys-"))
    key = SigningKey("bench", "hmac-sha256", frozenset({"reuters.com"}), material=os.urandom(32))
    write_key_file(keys / "bench.key.json", key.verification_key())
    values = events(key, args.events)
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        from devtools.localkafka import LocalKafka

        broker = LocalKafka().start()
        bootstrap = broker.bootstrap
    try:
        print(f"delivery bench: {args.events} events of ~{len(values[0])} B over {args.partitions} partitions, "
              f"batch {args.batch}, broker {bootstrap}")
        for mode in ("exactly-once", "at-least-once"):
            print(await one_mode(bootstrap, keys, values, args, mode), flush=True)
    finally:
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=500)
    asyncio.run(main(parser.parse_args()))
