"""JSON Schemas of the human-review records, for the AsyncAPI document (service/contracts/asyncapi.py).

The actions topic carries a reviewer's signed action (written by the console and ``moderation review``); the
compacted resolutions topic carries the settler's resolutions (key: the held event's id) and the outcome of
each action (key ``action:<actionId>``, or ``record:<topic>:<partition>:<offset>`` for an unsigned or forged
record and for a replay). The records are built by service/core/review_action.py as plain dicts, not pydantic
models, so their schemas are written here, next to the constants they repeat; tests/unit/test_review_fixes.py
validates records the core builds against the published document.
"""

from __future__ import annotations

from typing import Any

from service.core.review_action import (
    ACTIONS,
    ALREADY_SETTLED,
    BAD_SIGNATURE,
    MALFORMED,
    MAX_NOTE,
    MAX_REASON,
    MAX_REVIEWER,
    MISROUTED,
    REPLAY,
    SCHEMA_VERSION,
    TOO_LARGE,
    UNKNOWN_EVENT,
    UNSIGNED,
)

REFUSALS = [MALFORMED, UNSIGNED, BAD_SIGNATURE, MISROUTED, REPLAY, UNKNOWN_EVENT, ALREADY_SETTLED, TOO_LARGE]
EVENT_ID = {"type": "string", "pattern": "^[^:]+:[0-9]+:[0-9]+$",
            "description": "The held event's id: `<input topic>:<partition>:<offset>` of the input record."}
_REASON = {"type": ["string", "null"], "maxLength": MAX_REASON, "pattern": "^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$",
           "description": "A rejection's reason code; null for an approval."}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_WHEN = {"type": "string", "format": "date-time"}


def _object(properties: dict[str, Any], description: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": False,
            "required": [name for name in properties if name not in optional], "properties": properties}


REVIEW_ACTION = _object({
    "schemaVersion": {"const": SCHEMA_VERSION},
    "actionId": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "Random; a replay reuses it."},
    "id": EVENT_ID,
    "action": {"enum": list(ACTIONS)},
    "reviewer": {"type": "string", "minLength": 1, "maxLength": MAX_REVIEWER},
    "note": {"type": "string", "maxLength": MAX_NOTE},
    "reason": _REASON,
    "actionAt": _WHEN,
    "keyId": {"type": "string", "description": "Which trusted review-actions key signed it (a hint, not a key)."},
    "secured": {"type": "string", "pattern": "^[A-Za-z0-9+/]+={0,2};[A-Za-z0-9+/]+={0,2}$",
                "description": "`<base64 Ed25519 signature>;<base64 16-byte nonce>` over "
                               "`article-moderation/review-action/v1\\0` + nonce + the canonical JSON of the "
                               "action without `secured` (docs/review.md)."},
}, "A reviewer's signed action on a held event (docs/review.md). Record key: the held event's id.")

REVIEW_RESOLUTION = _object({
    "type": {"const": "resolution"},
    "id": EVENT_ID,
    "decision": {"enum": list(ACTIONS)},
    "reviewer": {"type": "string"},
    "note": {"type": "string"},
    "reason": _REASON,
    "actionId": {"type": "string"},
    "actionAt": _WHEN,
    "settledAt": _WHEN,
    "heldAt": _TEXT_OR_NULL,
    "title": _TEXT_OR_NULL,
}, "A settled event: who settled it, how and when. Record key: the held event's id; first action wins.")

REVIEW_OUTCOME = _object({
    "type": {"const": "outcome"},
    "actionId": _TEXT_OR_NULL,
    "id": _TEXT_OR_NULL,
    "record": {"type": "string", "description": "`<actions topic>:<partition>:<offset>` of the action record."},
    "status": {"enum": ["applied", "refused"]},
    "refusal": {"enum": [*REFUSALS, None]},
    "message": {"type": "string"},
    "signed": {"type": "boolean", "description": "The signature verified."},
    "reviewer": _TEXT_OR_NULL,
    "settledBy": _TEXT_OR_NULL,
    "settledAt": _TEXT_OR_NULL,
    "at": _WHEN,
}, "What became of one action record: applied, or refused with a stable code. Record key: `action:<actionId>` "
   "for a signed action judged the first time (its sender waits for it), `record:<topic>:<partition>:<offset>` "
   "otherwise.")

SCHEMAS = {"ReviewAction": REVIEW_ACTION, "ReviewResolution": REVIEW_RESOLUTION, "ReviewOutcome": REVIEW_OUTCOME}
