"""Subcommands that talk to Kafka: ``produce`` event files, ``topics create``, ``watch`` decisions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from service.core.decode import decode_event
from service.files.eventfiles import iter_event_files
from service.settings import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), bootstrap_servers=args.bootstrap_servers)


def _record(value: bytes, signing_key: Any, timestamp: str) -> tuple[bytes | None, bytes, int | None]:
    """(key, value, timestamp_ms) for one event file: keyed by webUrl; signed if asked and not yet signed."""
    document = decode_event(value)
    if not isinstance(document, dict):
        return None, value, None  # publish as is: the service must reject it, not this tool
    if signing_key is not None and "secured" not in document:
        from service.signing import SigningError, sign_event

        try:
            document = sign_event(document, signing_key)
            value = orjson.dumps(document)
        except SigningError as exc:  # e.g. a provider the key is not bound to: publish unsigned, say why
            print(f"warning: not signed: {exc}", file=sys.stderr)
    url = document.get("webUrl")
    key = url.encode() if isinstance(url, str) else None
    ts = None
    if timestamp == "article" and isinstance(document.get("publishedDateTime"), str):
        try:
            ts = int(datetime.fromisoformat(document["publishedDateTime"].replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            ts = None
    return key, value, ts


async def _produce(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaProducer

    settings = _settings(args)
    signing_key = None
    if args.sign_with:
        from service.signing import load_signing_key

        signing_key = load_signing_key(args.sign_with)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5,
        **settings.kafka_security(),
    )
    await producer.start()
    try:
        acks = []
        for source, value in iter_event_files(args.paths):
            key, payload, ts = _record(value, signing_key, args.timestamp)
            acks.append((source, await producer.send(args.topic or settings.input_topic, payload, key=key,
                                                     timestamp_ms=ts)))
        for source, ack in acks:
            meta = await ack
            print(f"{source} -> {meta.topic}[{meta.partition}]@{meta.offset}")
    finally:
        await producer.stop()
    return 0


async def _topics(args: argparse.Namespace) -> int:
    from service.kafka.topics import ensure_topics

    s = _settings(args)
    names = {s.input_topic: args.partitions, s.approved_topic: args.partitions, s.rejected_topic: args.partitions,
             s.deadletter_topic: args.partitions}
    await ensure_topics(s.bootstrap_servers, names, **s.kafka_security())
    for name in names:
        print(name)
    return 0


async def _watch(args: argparse.Namespace) -> int:
    """Print one line per decision as it arrives: decision, reasons, title."""
    from aiokafka import AIOKafkaConsumer

    s = _settings(args)
    consumer = AIOKafkaConsumer(
        s.approved_topic, s.rejected_topic, s.deadletter_topic, bootstrap_servers=s.bootstrap_servers,
        isolation_level="read_committed", auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False, **s.kafka_security(),
    )
    await consumer.start()
    try:
        async for record in consumer:
            print(format_decision_line(record.topic, record.value, s.deadletter_topic), flush=True)
    finally:
        await consumer.stop()
    return 0


def format_decision_line(topic: str, value: bytes | None, deadletter_topic: str) -> str:
    if topic == deadletter_topic:
        return f"DEAD-LETTER  {len(value or b'')} bytes"
    event = orjson.loads(value or b"{}")
    reasons = ", ".join(reason["code"] for reason in event.get("reasons", [])) or "-"
    title = (event.get("article") or {}).get("title") or "(undecodable record)"
    src = event.get("source", {})
    where = f"[{src.get('partition')}@{src.get('offset')}]"
    return f"{event.get('decision', '?').upper():<9} {reasons:<40} {title[:70]}  {where}"


def _runner(coro_fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(coro_fn(args))
        except KeyboardInterrupt:
            return 130
        except Exception as exc:  # connection problems etc.: one clear line
            print(f"moderation {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return run


def add_parsers(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: settings)")
        p.add_argument("--config", type=Path, help="YAML configuration file")

    produce = sub.add_parser("produce", help="publish event files to the input topic")
    produce.add_argument("paths", nargs="+", metavar="PATH")
    produce.add_argument("--topic", help="topic (default: the input topic)")
    produce.add_argument("--sign-with", type=Path, metavar="SIGNING_KEY", help="sign events that have no `secured`")
    produce.add_argument("--timestamp", choices=["now", "article"], default="now",
                         help="record timestamp: now, or the article's publishedDateTime (replays a feed as it was)")
    common(produce)
    produce.set_defaults(func=_runner(_produce))

    topics = sub.add_parser("topics", help="create the input, output and dead-letter topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=int, default=3)
    common(topics)
    topics.set_defaults(func=_runner(_topics))

    watch = sub.add_parser("watch", help="print decisions as they arrive")
    watch.add_argument("--from-beginning", action="store_true")
    common(watch)
    watch.set_defaults(func=_runner(_watch))
