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

from service.core.decision import SCHEMA_VERSION, Decision
from service.core.reasons import Reason


@dataclass(frozen=True, slots=True)
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
class DecisionEvent:
    """Schema of the published decision (documentation and JSON Schema; the hot path builds dicts)."""

    schemaVersion: Literal[1]
    decision: Literal["approved", "rejected"]
    reasons: list[Reason]
    rulesFired: list[str]
    rulesVersion: str
    signer: str | None
    evaluatedAt: datetime
    decidedAt: datetime
    source: Source
    article: dict[str, Any] | None
    original: Original | None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _moment(moment: datetime) -> datetime | str:
    # A UTC datetime (the service's always are) is left to orjson (OPT_UTC_Z), which writes what _iso() does
    # in a third of the time; any other zone keeps _iso()'s exact text (orjson drops seconds of an offset).
    return moment if moment.tzinfo is UTC else _iso(moment)


def reason_dict(reason: Reason) -> dict[str, Any]:
    return {"code": reason.code, "rule": reason.rule, "message": reason.message, "path": reason.path}


def decision_event(decision: Decision, source: Source, value: bytes | None, decided_at: datetime) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "decision": decision.decision,
        "reasons": [reason_dict(reason) for reason in decision.reasons],
        "rulesFired": list(decision.rulesFired),
        "rulesVersion": decision.rulesVersion,
        "signer": decision.signer,
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
    return orjson.dumps(event, option=orjson.OPT_UTC_Z)
