"""The batch step: ``process_batch(records, policy, decided_at)`` -> the records to publish. Pure and synchronous.

``records`` is what the consumer fetched, grouped by source partition (aiokafka's ``getmany`` result); the
result keeps that grouping (same keys, records in input order), which is how delivery needs it: one
transaction per source partition. Nothing is flattened or regrouped on the way; delivery only places each
partition's records on output partitions. The shell runs the step in a worker thread, partitions spread over
``decide_threads``.

It calls ``decide_record()`` per record (the decision and its replay check) with the record's timestamp as
the reference time, wraps each Decision in its published envelope, and turns an unexpected exception (a bug,
not a bad article) into a dead-letter record carrying the original key, value and headers plus headers naming
the error and the source record. ``decided_at`` (the envelope's decision time) is an argument: no clock here.

The dead-letter record travels in the same transaction as the batch's other
decisions, so a record is either decided or dead-lettered, exactly once.

A decision larger than ``MAX_DECISION_BYTES`` is dead-lettered too: the broker would refuse it (its default
``message.max.bytes`` is 1 MiB) and the partition would be retried for ever. The original record fits: the
broker accepted it on the input topic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from service.core.cloudevents import DEFAULT_SOURCE, stamp
from service.core.decide import RulesLike, decide_record
from service.core.decision import Decision
from service.core.envelope import Source, decision_event, encode
from service.core.errors import DecisionTooLarge
from service.core.limits import DEFAULT_LIMITS, Limits
from service.core.replay import ReplayBatch
from service.core.signature import Keyring

MAX_DECISION_BYTES = 1_000_000  # below the broker's default message.max.bytes (1 MiB + 12), headers included
ERROR_TYPE, ERROR_MESSAGE, ERROR = "moderation-error-type", "moderation-error-message", "moderation-error"


@dataclass(frozen=True, slots=True)
class Topics:
    approved: str
    rejected: str
    deadletter: str
    cloudevents_source: str = DEFAULT_SOURCE  # ce_source of every record written (service/core/cloudevents.py)
    review: str = "articles.review"  # held for a person (decision "review"); settled later by service/review

    def for_outcome(self, outcome: str) -> str:
        return self.approved if outcome == "approved" else self.review if outcome == "review" else self.rejected


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """The keyring and rules one batch is decided with (``service.files.policy`` swaps them between batches)."""

    keyring: Keyring
    rules: RulesLike


# Not frozen, built once per record: a frozen dataclass's __init__ sets each field through object.__setattr__ (~4x the
# time). process_batch replaces ``decision`` once (its article dropped); nothing else assigns to one (issue 14).
@dataclass(slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    source: Source
    decision: Decision | None  # None: dead-lettered; process_batch's have no article (``value`` holds it)
    error: str | None = None


def record_time(timestamp_ms: int | None, fallback: datetime) -> datetime:
    """The record's timestamp; the fallback (decision time) when it has none or one no date can hold."""
    if timestamp_ms is None or timestamp_ms < 0:
        return fallback
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError):  # a producer-chosen CreateTime past year 9999
        return fallback


P = TypeVar("P", bound=Hashable)


def process_batch(
    records: Mapping[P, Sequence[Any]], policy: PolicySnapshot, decided_at: datetime, *, topics: Topics,
    limits: Limits = DEFAULT_LIMITS, replay: ReplayBatch | None = None,
) -> dict[P, list[Outgoing]]:
    """One outgoing record per consumed record, under the same source-partition keys, in input order.

    ``replay``: the batch's view of the replay windows (None: no replay detection); its pending entries are
    remembered by the shell once the partitions' decisions are delivered (``ReplayBatch.commit``).
    """
    return {source: _articles_dropped(stamp([_outgoing(record, policy, decided_at, topics, limits, replay)
                                             for record in part], part, topics.cloudevents_source, decided_at))
            for source, part in records.items()}


def _articles_dropped(outgoing: list[Outgoing]) -> list[Outgoing]:
    """Each decision without its article, once the value (which holds it) and the headers are built.

    The shell keeps a batch's Outgoing until the batch is delivered and reported, while it decides the next one,
    and reads only the decision's outcome, reasons and provenance from it: the article's JSON values (~4.6 KB of
    objects for a 2 KB event) would stay alive for nothing. Measured: peak RSS -7 MB at full drain."""
    for out in outgoing:
        decision = out.decision
        if decision is not None and decision.article is not None:
            out.decision = Decision(decision=decision.decision, reasons=decision.reasons,
                                    rulesFired=decision.rulesFired, rulesVersion=decision.rulesVersion,
                                    evaluatedAt=decision.evaluatedAt, signer=decision.signer)
    return outgoing


def _outgoing(record: Any, policy: PolicySnapshot, decided_at: datetime, topics: Topics, limits: Limits,
              replay: ReplayBatch | None) -> Outgoing:
    source = Source(record.topic, record.partition, record.offset, record.timestamp)
    try:
        decision = decide_record(record.value, record.headers, policy.keyring, policy.rules,
                                 record_time(record.timestamp, decided_at), limits, replay=replay,
                                 partition=(record.topic, record.partition),
                                 where=f"partition {record.partition} offset {record.offset}")
        value = encode(decision_event(decision, source, record.value, decided_at))
        if len(value) > MAX_DECISION_BYTES:
            raise DecisionTooLarge(f"the decision event has {len(value)} bytes; at most {MAX_DECISION_BYTES}")
        topic = topics.for_outcome(decision.decision)
        headers = [("moderation-decision", decision.decision.encode())]
        return Outgoing(topic, record.key, value, headers, source, decision)
    except Exception as exc:  # a bug in the core: keep the record, keep the stream going
        return dead_letter(record, source, exc, topics.deadletter)


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
