"""Helpers for the human-review tests: a review rule, review-actions keys, held events, outcomes and finals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from crashlib import MODERATION, ROOT, service_env
from harness import good_article, make_key, produce, recent_ms, settings_for

from service.core.keys import ED25519, REVIEW_ACTIONS, SigningKey
from service.core.review_action import encode_action
from service.files.keydir import write_key_file
from service.review.submit import signed_action
from service.review.transaction import hashed_partition
from service.settings import Settings
from service.signing import sign_event

REVIEW_RULES = """
rules:
  - id: borderline-claims
    description: Titles that make a borderline claim are checked by a person
    when: { field: title, text: [borderline] }
    action: review
    reason: review.borderline
    message: "borderline claim in the title: {match}"
"""


def review_setup(tmp_path: Path, bootstrap: str, prefix: str, **overrides: Any) -> tuple[Settings, SigningKey,
                                                                                        SigningKey]:
    """Settings with a review rule, an article key and a review-actions key (both trusted), the review
    key's signing file at ``tmp_path/reviewer.signing.json`` (MODERATION_REVIEW_SIGNING_KEY)."""
    keys = tmp_path / "keys"
    article_key = make_key(keys)
    review_key = SigningKey("reviewers", ED25519, frozenset(), material=os.urandom(32), purpose=REVIEW_ACTIONS)
    write_key_file(keys / "reviewers.key.json", review_key.verification_key())
    signing = tmp_path / "reviewer.signing.json"
    write_key_file(signing, review_key)
    rules = tmp_path / "rules.yaml"
    rules.write_text(REVIEW_RULES)
    settings = settings_for(bootstrap, prefix, keys, rules_path=rules, review_signing_key=signing, **overrides)
    return settings, article_key, review_key


def borderline(n: int) -> dict:
    article = good_article(n)
    article["title"] = f"A borderline claim about batteries, number {n}"
    return article


async def produce_held(settings: Settings, key: SigningKey, count: int, start: int = 0) -> None:
    records = [(f"held-{n}".encode(), orjson.dumps(sign_event(borderline(n), key)))
               for n in range(start, start + count)]
    await produce(settings.bootstrap_servers, settings.input_topic, records, timestamp_ms=recent_ms())


def cli(settings: Settings, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``moderation <args>`` with the settings in its environment."""
    env = service_env(settings, MODERATION_REVIEW_SIGNING_KEY=str(settings.review_signing_key))
    return subprocess.run([str(MODERATION), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def cli_async(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = service_env(settings, MODERATION_REVIEW_SIGNING_KEY=str(settings.review_signing_key))
    return subprocess.Popen([str(MODERATION), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def pending(settings: Settings, count: int, timeout: float = 60) -> list[dict]:
    """``review list --json`` once it shows at least ``count`` items."""
    deadline = time.monotonic() + timeout
    while True:
        done = cli(settings, "review", "list", "--json")
        assert done.returncode == 0, done.stderr
        items = [orjson.loads(line) for line in done.stdout.splitlines()]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.5)


async def send_actions(settings: Settings, actions: list[dict], partitions: int, *, spread_s: float = 0.0) -> None:
    """Write actions straight to the actions topic, keyed and placed as the CLI places them (``spread_s``
    apart: a stream of actions rather than one burst)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for action in actions:
            key = action["id"].encode()
            await producer.send_and_wait(settings.review_actions_topic, encode_action(action), key=key,
                                         partition=hashed_partition(key, partitions))
            await asyncio.sleep(spread_s)
    finally:
        await producer.stop()


def action_for(key: SigningKey, event_id: str, reviewer: str, verb: str = "approved") -> dict:
    return signed_action(key, event_id, verb, reviewer, f"note by {reviewer}",
                         "review.not_ok" if verb == "rejected" else None)


async def read_all(settings: Settings, topics: list[str], expected: int = 0, timeout: float = 60) -> list[Any]:
    """Every committed record of ``topics``, once at least ``expected`` are there (read to the end)."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=settings.bootstrap_servers,
                                isolation_level="read_committed", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                got.extend(records)
            if len(got) >= expected:
                end = await consumer.end_offsets(list(consumer.assignment()))
                if all([await consumer.position(tp) >= end[tp] for tp in consumer.assignment()]):
                    break
        return got
    finally:
        await consumer.stop()


async def outcomes(settings: Settings, expected: int, timeout: float = 60) -> Counter[str]:
    """Outcome records by action id (count), once at least ``expected`` distinct ones are there."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_all(settings, [settings.review_resolutions_topic], timeout=10)
        counts: Counter[str] = Counter(r.key.decode() for r in records if r.key.startswith(b"action:"))
        if len(counts) >= expected or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


async def finals(settings: Settings) -> list[dict]:
    """Final decisions made by reviewers (decisions carrying a ``review`` block)."""
    records = await read_all(settings, [settings.approved_topic, settings.rejected_topic], timeout=10)
    return [event for event in (orjson.loads(r.value) for r in records) if event.get("review")]


def source_id(event: dict) -> str:
    s = event["source"]
    return f"{s['topic']}:{s['partition']}:{s['offset']}"
