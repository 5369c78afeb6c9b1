"""Subcommands that talk to Kafka: ``produce`` event files, ``topics create``, ``watch`` decisions.

Everything that can be checked without the broker is checked first, so a mistake costs no connection and
publishes nothing: the settings, the signing key, every event file read and, with ``--sign-with``, every
event signed (an event the key is not bound to is refused, not published unsigned). aiokafka's errors are
translated here, at the edge, into BrokerUnavailable (exit 1, service/cli/common.py). aiokafka is imported
inside the functions that use it: the other commands, which share this process's start-up, do not pay for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from service.cli.common import add_command, add_settings_options, cli_settings, load_cli_signing_key
from service.core.decode import decode_event
from service.core.keys import SigningKey
from service.errors import BrokerUnavailable, SigningError
from service.files.eventfiles import iter_event_files
from service.kafka.topics import service_topics
from service.settings import Settings
from service.signing import sign_event

Record = tuple[bytes | None, bytes, int | None]  # key, value, timestamp_ms


def add_parsers(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: settings)")
        add_settings_options(p)

    produce = add_command(sub, "produce", cmd_produce, help="publish event files to the input topic")
    produce.add_argument("paths", nargs="+", metavar="PATH")
    produce.add_argument("--topic", help="topic (default: the input topic)")
    produce.add_argument("--sign-with", type=Path, metavar="SIGNING_KEY",
                         help="sign events that have no `secured`; refuses events the key is not bound to")
    produce.add_argument("--timestamp", choices=["now", "article"], default="now",
                         help="record timestamp: now, or the article's publishedDateTime (replays a feed as it was)")
    common(produce)

    topics = add_command(sub, "topics", cmd_topics, help="create the input, output, dead-letter and review topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=_positive, default=3, help="partitions per topic (default: 3)")
    common(topics)

    watch = add_command(sub, "watch", cmd_watch, help="print decisions as they arrive")
    watch.add_argument("--from-beginning", action="store_true")
    common(watch)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return number


@asynccontextmanager
async def kafka_edge(settings: Settings) -> AsyncIterator[None]:
    """Translate aiokafka's (and the network's) errors into BrokerUnavailable naming the brokers.

    aiokafka also logs each failed connection attempt; with no logging configured Python would print those on
    stderr beside our one line, so its logger gets a handler that drops them.
    """
    from aiokafka.errors import KafkaError

    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        yield
    except (TimeoutError, KafkaError, OSError) as exc:
        kind, detail = type(exc).__name__, str(exc)
        detail = detail if detail.startswith(kind) else f"{kind}: {detail}" if detail else kind
        raise BrokerUnavailable(f"Kafka at {settings.bootstrap_servers}: {detail}") from exc


def cmd_produce(args: argparse.Namespace) -> int:
    settings = cli_settings(args)
    security = settings.kafka_security()
    signing_key = load_cli_signing_key(args.sign_with) if args.sign_with else None
    records = [(source, *_record(source, value, signing_key, args.timestamp))
               for source, value in iter_event_files(args.paths)]
    return asyncio.run(_produce(settings, security, args.topic or settings.input_topic, records))


async def _produce(settings: Settings, security: dict[str, Any], topic: str,
                   records: list[tuple[str, bytes | None, bytes, int | None]]) -> int:
    from aiokafka import AIOKafkaProducer

    async with kafka_edge(settings):
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                    enable_idempotence=True, linger_ms=5, **security)
        try:  # stop() after a failed start() too: it closes what start() opened
            await producer.start()
            acks = [(source, await producer.send(topic, value, key=key, timestamp_ms=ts))
                    for source, key, value, ts in records]
            for source, ack in acks:
                meta = await ack
                print(f"{source} -> {meta.topic}[{meta.partition}]@{meta.offset}")
        finally:
            await producer.stop()
    return 0


def _record(source: str, value: bytes, signing_key: SigningKey | None, timestamp: str) -> Record:
    """(key, value, timestamp_ms) for one event file: keyed by webUrl; signed if asked and not yet signed."""
    document = decode_event(value)
    if not isinstance(document, dict):
        return None, value, None  # publish as is: the service must reject it, not this tool
    if signing_key is not None and "secured" not in document:
        try:
            document = sign_event(document, signing_key)
        except SigningError as exc:  # e.g. a provider the key is not bound to: the service would reject it
            raise SigningError(f"{source}: not signed, nothing published: {exc}") from exc
        value = orjson.dumps(document)
    url = document.get("webUrl")
    key = url.encode() if isinstance(url, str) else None
    ts = None
    if timestamp == "article" and isinstance(document.get("publishedDateTime"), str):
        try:
            ts = int(datetime.fromisoformat(document["publishedDateTime"].replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            ts = None
    return key, value, ts


def cmd_topics(args: argparse.Namespace) -> int:
    s = cli_settings(args)
    security = s.kafka_security()
    names, configs = service_topics(s, args.partitions)  # the review topics too, the resolutions one compacted
    asyncio.run(_topics(s, security, names, configs))
    for name in names:
        print(name)
    return 0


async def _topics(settings: Settings, security: dict[str, Any], names: dict[str, int],
                  configs: dict[str, dict[str, str]]) -> None:
    from service.kafka.topics import ensure_topics

    async with kafka_edge(settings):
        await ensure_topics(settings.bootstrap_servers, names, configs=configs, **security)


def cmd_watch(args: argparse.Namespace) -> int:
    """Print one line per decision as it arrives (held ones too): decision, reasons, title."""
    s = cli_settings(args)
    return asyncio.run(_watch(s, s.kafka_security(), args.from_beginning))


async def _watch(s: Settings, security: dict[str, Any], from_beginning: bool) -> int:
    from aiokafka import AIOKafkaConsumer

    async with kafka_edge(s):
        consumer = AIOKafkaConsumer(
            s.approved_topic, s.rejected_topic, s.deadletter_topic, s.review_topic,
            bootstrap_servers=s.bootstrap_servers,
            isolation_level="read_committed", auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=False, **security,
        )
        try:
            await consumer.start()
            async for record in consumer:
                print(format_decision_line(record.topic, record.value, s.deadletter_topic), flush=True)
        finally:
            await consumer.stop()
    return 0


def format_decision_line(topic: str, value: bytes | None, deadletter_topic: str) -> str:
    if topic == deadletter_topic:
        return f"DEAD-LETTER  {len(value or b'')} bytes"
    event = orjson.loads(value or b"{}")
    codes = [reason.get("code", "") for reason in event.get("reasons", [])]
    reasons = ", ".join(codes) or "-"
    # No article: bytes that did not decode (input.*), or a document that is not an article (schema.*), whose
    # bytes the decision carries in ``original``.
    missing = "(not an article)" if any(code.startswith("schema.") for code in codes) else "(undecodable record)"
    title = (event.get("article") or {}).get("title") or missing
    src = event.get("source", {})
    where = f"[{src.get('partition')}@{src.get('offset')}]"
    return f"{event.get('decision', '?').upper():<9} {reasons:<40} {title[:70]}  {where}"



