"""The decision event published to the output topics: a Decision plus where its record came from.

Built as a plain dict and encoded with orjson (``model_dump_json`` costs 5x more per event). Its JSON Schema is
``schemas/decision.schema.json``, generated from ``DecisionEvent`` below; a test keeps the two in step.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from service.core.article import Article
from service.core.decision import SCHEMA_VERSION, Decision, Outcome
from service.core.reasons import Reason

# Where the published JSON Schemas live (their ``$id``s); the decision's is also every decision's ce_dataschema.
SCHEMA_BASE_ID = "https://github.com/article-moderation/schemas/"
DECISION_SCHEMA_ID = SCHEMA_BASE_ID + "decision.schema.json"


# Not frozen, built once per record: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~4x the time). Nothing assigns to one after it is built (docs/benchmarks.md, issue 14).
@dataclass(slots=True)
class Source:
    topic: str
    partition: int
    offset: int
    timestamp: int | None = None  # the record's timestamp, ms since the epoch


@dataclass(frozen=True)
class Original:
    """The record's value, when it could not be decoded into an article, so nothing is lost.

    ``base64`` holds the bytes up to ``ORIGINAL_MAX_BYTES``; a larger value (a record the decoder refused unread as
    ``input.too_large``) would not fit in a decision the broker accepts, so it is named by its size and SHA-256
    and stays in the input topic at ``source``.
    """

    base64: str | None
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ReviewBlock:
    """How a person settled a held event (final decisions written by the review settler only)."""

    reviewer: str
    note: str
    actionAt: datetime
    heldReasons: list[Reason]  # the reasons the event was held for
    heldAt: datetime  # the held decision's decidedAt


@dataclass(frozen=True)
class DecisionEvent:
    """Schema of the published decision (documentation and JSON Schema; the hot path builds dicts)."""

    schemaVersion: Literal[1]
    decision: Outcome  # "approved" | "rejected" | "review" (service/core/decision.py)
    reasons: list[Reason]
    rulesFired: list[str]
    rulesVersion: str
    signer: str | None
    evaluatedAt: datetime
    decidedAt: datetime
    source: Source
    article: Article | None  # the event when it is an article (it matched the article schema); else null
    original: Original | None  # the record's bytes whenever ``article`` is null
    # Only on the final decision for a held event: the reviewer's settlement (service/review/settler.py).
    review: ReviewBlock | None = None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _moment(moment: datetime) -> datetime | str:
    # A UTC datetime (the service's always are) is left to orjson (OPT_UTC_Z), which writes what _iso() does
    # in a third of the time; any other zone keeps _iso()'s exact text (orjson drops seconds of an offset).
    return moment if moment.tzinfo is UTC else _iso(moment)


def reason_dict(reason: Reason) -> dict[str, Any]:
    return {"code": reason.code, "rule": reason.rule, "message": reason.message, "path": reason.path}


def outcome_fields(decision: Decision) -> dict[str, Any]:
    """What was decided and why, as the decision event and ``moderation check`` both show it."""
    return {
        "decision": decision.decision,
        "reasons": [reason_dict(reason) for reason in decision.reasons],
        "rulesFired": list(decision.rulesFired),
        "rulesVersion": decision.rulesVersion,
        "signer": decision.signer,
    }


def decision_event(decision: Decision, source: Source, value: bytes | None, decided_at: datetime) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        **outcome_fields(decision),
        "evaluatedAt": _moment(decision.evaluatedAt),
        "decidedAt": _moment(decided_at),
        "source": {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "timestamp": source.timestamp,
        },
        "article": decision.article,
        "original": None if decision.article is not None else original(value or b""),
    }


ORIGINAL_MAX_BYTES = 524_288  # base64 makes it ~700 KB, inside the 1 MB a decision may have (batch.py)


def original(value: bytes) -> dict[str, Any]:
    kept = base64.b64encode(value).decode() if len(value) <= ORIGINAL_MAX_BYTES else None
    return {"base64": kept, "bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}


def encode(event: dict[str, Any]) -> bytes:
    # orjson's result keeps the whole buffer it wrote into (~8 KB of memory for a 2.4 KB decision, measured with
    # tracemalloc), and a decision is held until its batch is delivered and reported, two batches at a time: an
    # exact-size copy (~0.3 µs) lets that buffer go at once.
    return bytes(memoryview(orjson.dumps(event, option=orjson.OPT_UTC_Z)))
