"""Crash-test helpers: the service as real `moderation run` subprocesses, signed input, and the verifier.

The verifier is the one Kafka Streams' EOS system test uses in spirit: read every output topic with a
read_committed consumer and match each decision to its input record by source topic/partition/offset (from the
decision's ``source``, or the dead-letter record's ``moderation-source-*`` headers). It prints one line:
``ALL-RECORDS-DELIVERED n=20000 lost=0 duplicated=0`` (or ``RECORDS-MISSING ...``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.settings import Settings
from service.signing import sign_event

ROOT = Path(__file__).parents[2]
MODERATION = ROOT / ".venv" / "bin" / "moderation"
FILLER = ("Independent observers checked the figures against the public record and found them consistent with "
          "earlier releases; the authors publish their methods so that others can repeat the analysis. ")


def article(n: int) -> dict:
    """A valid ~2 KB article (the size the service is tuned for); every 10th one breaks a publish rule."""
    domain = "reuters.com" if n % 10 else "example.com"
    return {
        "category": "news", "title": f"Regional observers publish open dataset number {n} for climate models",
        "excerpt": (FILLER * 9)[:1400], "type": "article", "quality": 80 if n % 10 else 1, "heat": 5,
        "publishedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "published": False,
        "webUrl": f"https://www.{domain}/science/open-climate-dataset-{n}",
        "provider": {"name": "Reuters", "domain": domain}, "topics": ["Climate", "Science"],
        "images": [{"url": f"https://www.{domain}/img/climate.jpg", "width": 1200, "height": 630,
                    "isCached": True, "title": "A weather station"}],
        "related": [],
    }


def signed_values(key: Any, n: int) -> list[bytes]:
    """``n`` records: signed ~2 KB articles, with a malformed one every 50th (a rejection, not a failure)."""
    return [b'{"title": "unterminated' if i % 50 == 49 else orjson.dumps(sign_event(article(i), key))
            for i in range(n)]


async def produce_spread(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    """Round-robin over ``partitions``, so each input partition gets an equal share."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, max_batch_size=262_144)
    await producer.start()
    try:
        now = int(time.time() * 1000)
        acks = [await producer.send(topic, value, key=f"k{i}".encode(), partition=i % partitions, timestamp_ms=now)
                for i, value in enumerate(values)]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes `moderation run` use ``settings`` (MODERATION_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "KAFKA_BOOTSTRAP"))}
    fields = ("bootstrap_servers", "input_topic", "approved_topic", "rejected_topic", "deadletter_topic",
              "review_topic", "review_actions_topic", "review_resolutions_topic",
              "group_id", "delivery", "batch_max_records", "keys_dir", "rules_path", "reload_interval_s",
              "shutdown_timeout_s", "decide_threads")
    env.update({f"MODERATION_{name.upper()}": str(getattr(settings, name)) for name in fields})
    env.update({"MODERATION_HTTP_PORT": "0", "MODERATION_LOG_LEVEL": "warning", "MODERATION_LOG_FORMAT": "json",
                **extra})
    return env


class ServiceProcess:
    """One `moderation run` child; its log (stderr and stdout) goes to ``log_path``."""

    def __init__(self, settings: Settings, log_path: Path, **extra_env: str) -> None:
        self.env, self.log_path = service_env(settings, **extra_env), log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([str(MODERATION), "run"], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def handles_sigterm(self) -> bool:
        """Has the service installed its SIGTERM handler yet (Linux: the SigCgt mask in /proc)? Before that, a
        SIGTERM takes the default action: the process dies with -15 while still starting (nothing in flight)."""
        assert self.proc is not None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return False
        mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))

    def terminate(self, timeout: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM once the service handles it; returns (exit code, seconds from the signal to the exit), or
        (None, timeout) when it did not exit."""
        assert self.proc is not None
        started = time.monotonic()
        while not self.handles_sigterm() and self.alive() and time.monotonic() - started < 30:
            time.sleep(0.05)
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None, timeout
        return code, time.monotonic() - began

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Progress:
    """How many input records the group has settled (the sum of its committed input offsets)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)

    async def __aenter__(self) -> Progress:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    async def committed(self) -> int:
        try:
            offsets = await asyncio.wait_for(self.admin.list_consumer_group_offsets(self.settings.group_id), 5)
        except Exception:  # the broker may be away (restart tests): no progress seen
            return -1
        return sum(m.offset for tp, m in offsets.items() if tp.topic == self.settings.input_topic and m.offset > 0)

    async def wait_for(self, n: int, timeout: float, procs: tuple[ServiceProcess, ...] = ()) -> int:
        """Poll until at least ``n`` records are settled (or ``timeout``); return the last count seen."""
        deadline, total = time.monotonic() + timeout, -1
        while time.monotonic() < deadline:
            total = await self.committed()
            if total >= n:
                return total
            for proc in procs:
                assert proc.alive(), f"service exited:\n{proc.log_text()[-4000:]}"
            await asyncio.sleep(0.1)
        return total


@dataclass
class Verdict:
    n: int
    lost: int
    duplicated: int
    by_topic: dict[str, int]

    def line(self) -> str:
        head = "ALL-RECORDS-DELIVERED" if self.lost == 0 and self.duplicated == 0 else "RECORDS-MISSING-OR-DUPLICATED"
        return f"{head} n={self.n} lost={self.lost} duplicated={self.duplicated}"


def _source_of(record: Any) -> tuple[str, int, int]:
    if record.topic.endswith("dead"):
        headers = {k: v.decode() for k, v in record.headers}
        return (headers["moderation-source-topic"], int(headers["moderation-source-partition"]),
                int(headers["moderation-source-offset"]))
    source = orjson.loads(record.value)["source"]
    return source["topic"], source["partition"], source["offset"]


async def verify(settings: Settings, partitions: int, timeout: float = 60.0) -> Verdict:
    """Every committed decision of the output topics, matched against every input record (every topic has
    ``partitions`` partitions, as harness.create_topics makes them)."""
    bootstrap, topics = settings.bootstrap_servers, [settings.approved_topic, settings.rejected_topic,
                                                     settings.deadletter_topic]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        inputs = [TopicPartition(settings.input_topic, p) for p in range(partitions)]
        input_end = await consumer.end_offsets(inputs)
        outputs = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(outputs)
        await consumer.seek_to_beginning(*outputs)
        end = await consumer.end_offsets(outputs)  # read_committed: the last stable offsets
        seen: Counter[tuple[str, int, int]] = Counter()
        per_topic: Counter[str] = Counter()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in outputs]
            if all(position >= end[tp] for tp, position in zip(outputs, positions, strict=True)):
                break
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    seen[_source_of(record)] += 1
                    per_topic[record.topic.rsplit("-", 1)[-1]] += 1
    finally:
        await consumer.stop()
    expected = {(tp.topic, tp.partition, o) for tp, last in input_end.items() for o in range(last)}
    lost = len(expected - set(seen))
    duplicated = sum(count - 1 for count in seen.values() if count > 1) + len(set(seen) - expected)
    verdict = Verdict(len(expected), lost, duplicated, dict(per_topic))
    print(verdict.line(), verdict.by_topic)
    return verdict
