"""A reviewer's action on a held event: its record, its signature, and how it is judged. Pure.

Rules of this module:
* An action names the held event by its id, ``"<topic>:<partition>:<offset>"`` of the *input* record (the held
  decision's ``source``); the record key on the actions topic is that id, so every action on one event lands in
  one actions partition, whose owner alone settles it ("first wins" needs one judge per event).
* An action is signed like an article (``secured: "<base64 tag>;<base64 nonce>"``) over the canonical form of
  the action without ``secured`` (service/core/canonical.py), behind its own domain prefix, so an article
  signature can never pass for an action signature or the reverse. Only ``review-actions`` keys verify
  actions; ``keyId`` is a hint to pick among them, never a key.
* ``judge()`` decides what to do with one action from plain values (the keys, the held event, what this
  partition already settled and which action ids it has seen): apply it, or refuse it with a stable code.
  Refusal codes: ``review.malformed``, ``review.unsigned``, ``review.bad_signature``, ``review.misrouted``,
  ``review.replay``, ``review.unknown_event``, ``review.already_settled``, and ``review.too_large`` (``too_large``:
  the settler's final decision would exceed what the broker accepts).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from service.core.canonical import NONCE_LENGTH, SECURED, CanonicalError, canonical_bytes
from service.core.keys import REVIEW_ACTIONS, TAG_LENGTH, SigningKey, VerificationKey
from service.core.signature import parse_secured

SCHEMA_VERSION = 1
ACTION_PREFIX = b"article-moderation/review-action/v1\x00"
ACTIONS = ("approved", "rejected")
MAX_ACTION_BYTES = 16_384
MAX_NOTE, MAX_REVIEWER, MAX_REASON = 2_000, 100, 100
REASON_CODE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # as rule reason codes (rules/compile.py)
_ACTION_ID = re.compile(r"[0-9a-f]{32}")
_FIELDS = {"schemaVersion", "actionId", "id", "action", "reviewer", "note", "reason", "actionAt", "keyId", SECURED}

MALFORMED, UNSIGNED, BAD_SIGNATURE = "review.malformed", "review.unsigned", "review.bad_signature"
MISROUTED, REPLAY, UNKNOWN_EVENT = "review.misrouted", "review.replay", "review.unknown_event"
ALREADY_SETTLED, TOO_LARGE = "review.already_settled", "review.too_large"


def held_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def parse_held_id(text: str) -> tuple[str, int, int] | None:
    """``(topic, partition, offset)`` from ``"<topic>:<partition>:<offset>"`` (topic names hold no ':')."""
    parts = text.rsplit(":", 2) if isinstance(text, str) else []
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def new_action(event_id: str, action: str, reviewer: str, note: str, reason: str | None, action_at: datetime,
               key_id: str, action_id: str) -> dict[str, Any]:
    """An unsigned action (``sign_action`` adds ``secured``). Raises ValueError for what ``judge`` would refuse.

    ``action_id`` (32 random hex digits) and the signing nonce are drawn by the shell (service/review/submit.py):
    the core draws no randomness."""
    doc = {"schemaVersion": SCHEMA_VERSION, "actionId": action_id, "id": event_id,
           "action": action, "reviewer": reviewer, "note": note or "", "reason": reason,
           "actionAt": action_at.isoformat().replace("+00:00", "Z"), "keyId": key_id}
    problem = _shape_problem(doc)
    if problem:
        raise ValueError(problem)
    return doc


def sign_action(doc: Mapping[str, Any], key: SigningKey, nonce: bytes) -> dict[str, Any]:
    """``doc`` with ``secured`` set; ``nonce``: 16 fresh random bytes (service.signing.new_nonce())."""
    if not isinstance(key, SigningKey) or key.purpose != REVIEW_ACTIONS:
        raise ValueError(f"key {getattr(key, 'key_id', '?')} is not a review-actions signing key")
    if len(nonce) != NONCE_LENGTH:
        raise ValueError(f"the nonce must be {NONCE_LENGTH} bytes")
    tag = key.sign(ACTION_PREFIX + nonce + canonical_bytes(doc))
    return {**doc, SECURED: f"{base64.b64encode(tag).decode()};{base64.b64encode(nonce).decode()}"}


def encode_action(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one action. ``applied``: settle ``event_id`` with ``action``; otherwise ``refusal``."""

    applied: bool
    refusal: str | None
    message: str
    action: dict[str, Any] | None  # the parsed action (None when it could not be read)
    signed: bool  # the signature verified: only then does its actionId count as seen (replays)

    @property
    def action_id(self) -> str | None:
        return self.action.get("actionId") if self.action else None


def read_action(value: bytes | None) -> dict[str, Any] | str:
    """The action document, or why it cannot be one."""
    if not value or len(value) > MAX_ACTION_BYTES:
        return f"an action is 1 to {MAX_ACTION_BYTES} bytes of JSON"
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(doc, dict):
        return "not a JSON object"
    return _shape_problem(doc) or doc


def _shape_problem(doc: Mapping[str, Any]) -> str:
    unknown = sorted(str(k)[:40] for k in set(doc) - _FIELDS)
    if unknown:
        return f"unknown field(s): {', '.join(unknown[:5])}"
    if doc.get("schemaVersion") != SCHEMA_VERSION:
        return f"schemaVersion must be {SCHEMA_VERSION}"
    if not isinstance(doc.get("actionId"), str) or not _ACTION_ID.fullmatch(doc["actionId"]):
        return "actionId must be 32 lowercase hex digits"
    if parse_held_id(doc.get("id")) is None:  # type: ignore[arg-type]
        return "id must be '<topic>:<partition>:<offset>'"
    if doc.get("action") not in ACTIONS:
        return "action must be approved or rejected"
    reviewer = doc.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > MAX_REVIEWER:
        return f"reviewer must be 1-{MAX_REVIEWER} characters"
    if not isinstance(doc.get("note"), str) or len(doc["note"]) > MAX_NOTE:
        return f"note must be text of at most {MAX_NOTE} characters"
    reason = doc.get("reason")
    if doc.get("action") == "rejected":
        if not isinstance(reason, str) or not REASON_CODE.fullmatch(reason) or len(reason) > MAX_REASON:
            return f"a rejection needs a reason code like quality.too_low (at most {MAX_REASON} characters)"
    elif reason is not None:
        return "only a rejection has a reason code"
    try:
        moment = datetime.fromisoformat(str(doc.get("actionAt")).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        return "actionAt must be an ISO 8601 date-time with timezone"
    if not isinstance(doc.get("keyId"), str):
        return "keyId must name the review-actions key that signed it"
    return ""


def verify_action(doc: Mapping[str, Any], keys: Mapping[str, VerificationKey], now: datetime) -> str | None:
    """None when ``doc`` is signed by one of ``keys`` (review-actions keys by id), else the refusal code."""
    if SECURED not in doc:
        return UNSIGNED
    parsed = parse_secured(doc[SECURED])
    key = keys.get(doc.get("keyId"))  # type: ignore[arg-type]
    if not isinstance(parsed, tuple) or key is None or key.purpose != REVIEW_ACTIONS:
        return BAD_SIGNATURE
    tag, nonce = parsed  # type: ignore[misc]
    if key.window_problem(now) is not None or TAG_LENGTH[key.algorithm] != len(tag):
        return BAD_SIGNATURE
    try:
        message = ACTION_PREFIX + nonce + canonical_bytes(doc)
    except CanonicalError:
        return BAD_SIGNATURE
    return None if key.verify(message, tag) else BAD_SIGNATURE


def judge(value: bytes | None, record_key: bytes | None, expected_partition_ok: bool,
          keys: Mapping[str, VerificationKey], now: datetime, *, held: bool, settled: Mapping[str, Any] | None,
          seen: set[str] | frozenset[str]) -> Verdict:
    """The verdict on one action record.

    ``expected_partition_ok``: the record sits in the partition its key hashes to (so no other judge sees this
    event); ``now``: the judge's wall clock, read by the shell (never the record's producer-chosen CreateTime),
    against which the key's validity window is checked; ``held``: the event id names a held decision;
    ``settled``: this event's resolution if any; ``seen``: action ids already judged with a valid signature in
    this partition.
    """
    doc = read_action(value)
    if isinstance(doc, str):
        return Verdict(False, MALFORMED, doc, None, False)
    problem = verify_action(doc, keys, now)
    if problem is not None:
        what = "unsigned" if problem == UNSIGNED else "not signed by a trusted review-actions key"
        return Verdict(False, problem, f"the action is {what}", doc, False)
    if record_key is None or record_key.decode("utf-8", "replace") != doc["id"] or not expected_partition_ok:
        return Verdict(False, MISROUTED, "the record key must be the held event's id, on its hashed partition",
                       doc, True)
    if doc["actionId"] in seen:
        return Verdict(False, REPLAY, f"action {doc['actionId']} was already judged", doc, True)
    if not held:
        return Verdict(False, UNKNOWN_EVENT, f"no held event has the id {doc['id']}", doc, True)
    if settled is not None:
        who, when = settled.get("reviewer"), settled.get("settledAt")
        return Verdict(False, ALREADY_SETTLED, f"already settled by {who} at {when}", doc, True)
    return Verdict(True, None, f"{doc['action']} by {doc['reviewer']}", doc, True)


def too_large(verdict: Verdict, size: int, limit: int) -> Verdict:
    """``verdict`` (one to apply) refused instead: its final decision would be ``size`` bytes, over ``limit``.

    Sending it anyway would make the broker refuse the transaction, and the actions partition would retry it for
    ever. Refused, the event stays pending: an action with a shorter note may fit (the final decision is the
    held one, which fitted, plus the review block)."""
    return Verdict(False, TOO_LARGE, f"the final decision would be {size} bytes, over the {limit} the broker "
                                     "accepts; a shorter note may fit", verdict.action, verdict.signed)


def final_decision(held_event: Mapping[str, Any], action: Mapping[str, Any], decided_at: datetime) -> dict[str, Any]:
    """The final decision: the held decision's envelope (same ``source``, article, rules fired...) with the
    reviewer's outcome and a ``review`` block. A rejection carries the reviewer's reason code."""
    decided = decided_at.isoformat().replace("+00:00", "Z")
    reasons: list[dict[str, Any]] = []
    if action["action"] == "rejected":
        message = action["note"] or f"rejected by reviewer {action['reviewer']}"
        reasons = [{"code": action["reason"], "rule": None, "message": message, "path": None}]
    return {
        **held_event,
        "decision": action["action"],
        "reasons": reasons,
        "decidedAt": decided,
        "review": {
            "reviewer": action["reviewer"], "note": action["note"], "actionAt": action["actionAt"],
            "heldReasons": list(held_event.get("reasons") or []), "heldAt": held_event.get("decidedAt"),
        },
    }


def resolution(action: Mapping[str, Any], held_event: Mapping[str, Any], settled_at: datetime) -> dict[str, Any]:
    """The compacted resolutions topic's record for a settled event (key: the event id)."""
    return {"type": "resolution", "id": action["id"], "decision": action["action"], "reviewer": action["reviewer"],
            "note": action["note"], "reason": action["reason"], "actionId": action["actionId"],
            "actionAt": action["actionAt"], "settledAt": settled_at.isoformat().replace("+00:00", "Z"),
            "heldAt": held_event.get("decidedAt"), "title": (held_event.get("article") or {}).get("title")}


def outcome(verdict: Verdict, where: str, settled: Mapping[str, Any] | None, at: datetime) -> dict[str, Any]:
    """The record that tells the action's sender what became of it (key: ``outcome_key``)."""
    action = verdict.action or {}
    return {"type": "outcome", "actionId": verdict.action_id, "id": action.get("id"), "record": where,
            "status": "applied" if verdict.applied else "refused", "refusal": verdict.refusal,
            "message": verdict.message, "signed": verdict.signed, "reviewer": action.get("reviewer"),
            "settledBy": (settled or {}).get("reviewer"), "settledAt": (settled or {}).get("settledAt"),
            "at": at.isoformat().replace("+00:00", "Z")}


def outcome_key(verdict: Verdict, where: str) -> str:
    """``action:<actionId>`` for a signed action judged the first time (its sender waits for it);
    ``record:<where>`` otherwise: a forged record, or a replay, whose refusal must not overwrite the outcome of
    the real action in the compacted topic (after compaction the history would read "refused: replay")."""
    return f"action:{verdict.action_id}" if verdict.signed and verdict.refusal != REPLAY else f"record:{where}"
