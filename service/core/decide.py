"""decide(value, headers, keyring, rules, now) -> Decision: the whole moderation of one record.

``decide_record`` is the same decision plus replay detection (an exact copy of a signed event already decided
in the partition's window is rejected as ``signature.replay``): the service's batch step and ``moderation
check`` both call it. ``secured`` is parsed once, by the signature step, which hands the nonce to the replay
check.

Steps, each ending the decision early with a rejection when it fails:
  1. decode   bytes -> JSON values (``input.*`` reasons)
  2. validate JSON values -> Article (``schema.*`` reasons, with field paths); steps 1 and 2 are
              ``intake.read_article``, which checks a small JSON record's schema before its limits (same reasons)
  3. verify   the ``secured`` signature against the keyring (``signature.*``); skipped when keyring is None,
              which only rule dry-runs (``moderation rules diff``) ask for
  4. rules    the publish rules, evaluated against ``now``: approved, rejected, or "review" (held for a person)
  5. replay   (decide_record only) the signer and nonce against the partition's replay window

Pure: ``now`` is an argument (the service passes the record's timestamp, so replaying a record gives the same
decision), nothing is read from files, clocks or the network. Never raises for any input; an exception here
is a bug, and the shell dead-letters the record.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from service.core import reasons as r
from service.core.article import Article
from service.core.decision import Decision, Outcome
from service.core.intake import read_article
from service.core.limits import DEFAULT_LIMITS, Limits
from service.core.reasons import Reason
from service.core.replay import ReplayBatch
from service.core.signature import Keyring, verify_signature

MAX_SCHEMA_REASONS = 20

Headers = Sequence[tuple[str, bytes]]


class RulesOutcomeLike(Protocol):
    fired: tuple[str, ...]
    reasons: tuple[Reason, ...]

    @property
    def decision(self) -> Outcome: ...  # "approved" | "rejected" | "review"


class RulesLike(Protocol):
    version: str

    def evaluate(self, article: Article, document: Mapping[str, Any], now: datetime) -> RulesOutcomeLike: ...


def decide(
    value: bytes | None,
    headers: Headers,
    keyring: Keyring | None,
    rules: RulesLike,
    now: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> Decision:
    return _decide(value, keyring, rules, now, limits)[0]


def decide_record(
    value: bytes | None,
    headers: Headers,
    keyring: Keyring | None,
    rules: RulesLike,
    now: datetime,
    limits: Limits = DEFAULT_LIMITS,
    *,
    replay: ReplayBatch | None,
    partition: Hashable,
    where: str,
) -> Decision:
    """``decide()``, then a signed event's (signer, nonce) checked against ``replay`` (None: no replay check).

    ``partition`` names the replay window (copies land in their original's partition); ``where`` is quoted in
    the rejection of a later copy (``partition 2 offset 41``, a file name).
    """
    decision, nonce = _decide(value, keyring, rules, now, limits)
    if replay is None or nonce is None:
        return decision
    return replay.check(decision, nonce, partition, where)


def _decide(value: bytes | None, keyring: Keyring | None, rules: RulesLike, now: datetime,
            limits: Limits) -> tuple[Decision, bytes | None]:
    """The decision, and the nonce of its verified signature (None when unsigned or not verified)."""
    read = read_article(value, limits)  # decode_event, then the schema (service/core/intake.py)
    if isinstance(read, Reason):
        return _rejected((read,), rules, now), None
    if isinstance(read, ValidationError):
        # Not an article: the decision's ``article`` stays None (the published contract types it as an
        # Article), and the envelope carries the record's bytes in ``original`` instead.
        return _rejected(schema_reasons(read), rules, now), None
    document, article = read
    signer = nonce = None
    if keyring is not None:
        # An accepted article holds only JSON values the canonical form writes as they are (no floats, bounded
        # integers): the canonical encoder need not walk it to refuse other types.
        verified = verify_signature(document, keyring, now, values_checked=True)
        if isinstance(verified, Reason):
            return _rejected((verified,), rules, now, document), None
        signer, nonce = verified.key_id, verified.nonce
    outcome = rules.evaluate(article, document, now)
    decision = Decision(
        decision=outcome.decision,
        reasons=tuple(outcome.reasons),
        rulesFired=tuple(outcome.fired),
        rulesVersion=rules.version,
        evaluatedAt=now,
        signer=signer,
        article=document,
    )
    return decision, nonce


def _rejected(
    why: tuple[Reason, ...], rules: RulesLike, now: datetime, document: dict | None = None
) -> Decision:
    return Decision(
        decision="rejected",
        reasons=why,
        rulesFired=(),
        rulesVersion=rules.version,
        evaluatedAt=now,
        article=document,
    )


_SCHEMA_CODES = {
    "missing": r.SCHEMA_MISSING_FIELD,
    "extra_forbidden": r.SCHEMA_UNKNOWN_FIELD,
    "string_too_long": r.SCHEMA_TOO_LONG,
    "too_long": r.SCHEMA_TOO_LONG,
}


# Pattern errors quote the regex, which tells a producer little: say what the field must hold instead.
_PATTERN_MEANING = {"domain": "must be a domain name such as example.org"}


def _message(error: dict, path: str) -> str:
    if error["type"] == "string_pattern_mismatch":
        meaning = _PATTERN_MEANING.get(path.rsplit(".", 1)[-1])
        if meaning:
            return meaning
    return error["msg"].removeprefix("Value error, ")


def schema_reasons(exc: ValidationError) -> tuple[Reason, ...]:
    """One reason per schema error (the first MAX_SCHEMA_REASONS), with the failing field path."""
    found = []
    for error in exc.errors(include_url=False, include_input=False)[:MAX_SCHEMA_REASONS]:
        kind = error["type"]
        code = _SCHEMA_CODES.get(kind) or (r.SCHEMA_WRONG_TYPE if kind.endswith("_type") else r.SCHEMA_INVALID_VALUE)
        path = ".".join(str(part) for part in error["loc"])
        found.append(Reason(code, f"{path or 'event'}: {_message(error, path)}", path=path or None))
    return tuple(found)
