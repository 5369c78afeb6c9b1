"""One batch of consumed records -> the records to publish. Pure and synchronous; the shell runs it in a worker thread.

It calls the pure ``decide()`` per record with the record's timestamp as
the reference time, wraps each Decision in its published envelope, and turns an unexpected exception (a bug,
not a bad article) into a dead-letter record carrying the original key, value and headers plus headers naming
the error and the source record. The dead-letter record travels in the same transaction as the batch's other
decisions, so a record is either decided or dead-lettered, exactly once.

A decision larger than ``MAX_DECISION_BYTES`` is dead-lettered too: the broker would refuse it (its default
``message.max.bytes`` is 1 MiB) and the partition would be retried for ever. The original record fits: the
broker accepted it on the input topic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.core.decide import decide
from service.core.decision import Decision
from service.core.envelope import Source, decision_event, encode
from service.core.errors import DecisionTooLarge
from service.core.limits import DEFAULT_LIMITS, Limits
from service.core.replay import ReplayBatch

MAX_DECISION_BYTES = 1_000_000  # below the broker's default message.max.bytes (1 MiB + 12), headers included
ERROR_TYPE, ERROR_MESSAGE, ERROR = "moderation-error-type", "moderation-error-message", "moderation-error"


@dataclass(frozen=True, slots=True)
class Topics:
    approved: str
    rejected: str
    deadletter: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    source: Source
    decision: Decision | None  # None: dead-lettered
    error: str | None = None


def record_time(timestamp_ms: int | None, fallback: datetime) -> datetime:
    """The record's timestamp; the fallback (decision time) when it has none or one no date can hold."""
    if timestamp_ms is None or timestamp_ms < 0:
        return fallback
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError):  # a producer-chosen CreateTime past year 9999
        return fallback


def decide_batch(
    records: list[Any], keyring: Any, rules: Any, topics: Topics, replay: ReplayBatch | None = None,
    limits: Limits = DEFAULT_LIMITS, *, decided_at: datetime,
) -> list[Outgoing]:
    out = []
    for record in records:
        source = Source(record.topic, record.partition, record.offset, record.timestamp)
        try:
            decision = decide(record.value, record.headers, keyring, rules, record_time(record.timestamp, decided_at),
                              limits)
            if replay is not None:
                where = f"partition {record.partition} offset {record.offset}"
                decision = replay.check(decision, (record.topic, record.partition), where)
            value = encode(decision_event(decision, source, record.value, decided_at))
            if len(value) > MAX_DECISION_BYTES:
                raise DecisionTooLarge(f"the decision event has {len(value)} bytes; at most {MAX_DECISION_BYTES}")
            topic = topics.approved if decision.approved else topics.rejected
            headers = [("moderation-decision", decision.decision.encode())]
            out.append(Outgoing(topic, record.key, value, headers, source, decision))
        except Exception as exc:  # a bug in the core: keep the record, keep the stream going
            out.append(dead_letter(record, source, exc, topics.deadletter))
    return out


def dead_letter(record: Any, source: Source, exc: BaseException, topic: str) -> Outgoing:
    """The record as it came (key, value, headers) plus what failed and where the record came from."""
    kind, message = type(exc).__name__, str(exc)[:500]
    error = f"{kind}: {message}"
    headers = [*(record.headers or ()),
               (ERROR, error.encode("utf-8", "replace")),
               (ERROR_TYPE, kind.encode("utf-8", "replace")),
               (ERROR_MESSAGE, message.encode("utf-8", "replace")),
               ("moderation-source-topic", source.topic.encode()),
               ("moderation-source-partition", str(source.partition).encode()),
               ("moderation-source-offset", str(source.offset).encode())]
    value = record.value or b""
    if len(value) + sum(len(k) + len(v or b"") for k, v in headers) > MAX_DECISION_BYTES:
        # The broker would refuse it and the partition would retry for ever: name the value instead; the
        # record itself stays in the input topic at the source offset.
        headers += [("moderation-original-bytes", str(len(value)).encode()),
                    ("moderation-original-sha256", hashlib.sha256(value).hexdigest().encode())]
        value = b""
    return Outgoing(topic, record.key, value, headers, source, None, error)
