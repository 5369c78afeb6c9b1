"""Reviewers' actions: shape, signatures by purpose, the judge's verdicts and the final decision it leads to."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import orjson
import pytest

from service.cli import main
from service.core import review_action as ra
from service.core.keys import (
    ED25519,
    REVIEW_ACTIONS,
    InvalidKeyError,
    SigningKey,
    key_from_json,
    key_to_json,
)
from service.core.signature import Keyring, sign_document, verify_document
from service.files.keydir import load_keyring, read_key_file

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVENT = "articles.incoming:1:42"
EVENT_KEY = EVENT.encode()


def review_key(key_id: str = "reviewers", algorithm: str = ED25519) -> SigningKey:
    return SigningKey(key_id, algorithm, frozenset(), material=os.urandom(32), purpose=REVIEW_ACTIONS)


def article_key() -> SigningKey:
    return SigningKey("acme", ED25519, frozenset({"acme.example"}), material=os.urandom(32))


def new_action(event_id, verb, reviewer, note, reason, at, key_id) -> dict:
    return ra.new_action(event_id, verb, reviewer, note, reason, at, key_id, os.urandom(16).hex())


def sign(doc, key) -> dict:
    return ra.sign_action(doc, key, os.urandom(16))


def action(key: SigningKey, verb: str = "approved", **changes) -> dict:
    doc = new_action(EVENT, verb, "alice", "looks fine", "review.no" if verb == "rejected" else None, NOW,
                     key.key_id)
    return sign({**doc, **changes}, key)


def judge(doc, keys, *, key=EVENT_KEY, partition_ok=True, held=True, settled=None, seen=frozenset()):
    return ra.judge(orjson.dumps(doc), key, partition_ok, {k.key_id: k.verification_key() for k in keys}, NOW,
                    held=held, settled=settled, seen=seen)


def test_a_signed_action_on_a_held_unsettled_event_is_applied():
    key = review_key()
    verdict = judge(action(key), [key])
    assert verdict.applied and verdict.refusal is None and verdict.signed


def test_refusals_have_stable_codes():
    key, other = review_key(), review_key()
    doc = action(key)
    unsigned = {k: v for k, v in doc.items() if k != "secured"}
    assert judge(unsigned, [key]).refusal == ra.UNSIGNED
    assert judge(action(other), [key]).refusal == ra.BAD_SIGNATURE  # same key id, other material
    assert judge(dict(doc, reviewer="mallory"), [key]).refusal == ra.BAD_SIGNATURE  # edited after signing
    assert judge(dict(doc, id="articles.incoming:1:43"), [key]).refusal == ra.BAD_SIGNATURE
    assert judge(doc, [key], key=b"articles.incoming:1:43").refusal == ra.MISROUTED
    assert judge(doc, [key], partition_ok=False).refusal == ra.MISROUTED
    assert judge(doc, [key], seen={doc["actionId"]}).refusal == ra.REPLAY
    assert judge(doc, [key], held=False).refusal == ra.UNKNOWN_EVENT
    settled = judge(doc, [key], settled={"reviewer": "bob", "settledAt": "2026-12-01T11:00:00Z"})
    assert settled.refusal == ra.ALREADY_SETTLED and "bob" in settled.message and "11:00" in settled.message
    assert ra.judge(b"not json", EVENT.encode(), True, {}, NOW, held=True, settled=None,
                    seen=set()).refusal == ra.MALFORMED


def test_an_article_key_never_verifies_actions_and_a_review_key_never_verifies_articles():
    art, rev = article_key(), review_key()
    with pytest.raises(ValueError, match="review-actions"):
        sign(new_action(EVENT, "approved", "a", "", None, NOW, art.key_id), art)
    # an action signed (by hand) with the article key's material under its id is refused
    forged = sign(new_action(EVENT, "approved", "a", "", None, NOW, art.key_id),
                            SigningKey(art.key_id, ED25519, frozenset(), material=art.material, purpose=REVIEW_ACTIONS))
    assert judge(forged, [art]).refusal == ra.BAD_SIGNATURE
    with pytest.raises(ValueError, match="cannot sign articles"):
        sign_document({"title": "x", "provider": {"domain": "acme.example"}}, rev, os.urandom(16))
    document = {"title": "x", "provider": {"domain": "acme.example"}}
    document["secured"] = sign_document(document, art, os.urandom(16))
    disguised = SigningKey("rev", ED25519, frozenset(), material=art.material, purpose=REVIEW_ACTIONS)
    assert Keyring([disguised.verification_key()]).candidates("acme.example") == ()
    assert verify_document(document, Keyring([disguised.verification_key()]), NOW) != "rev"


def test_malformed_actions_are_refused_before_signing():
    with pytest.raises(ValueError, match="reason code"):
        new_action(EVENT, "rejected", "alice", "", None, NOW, "k")
    with pytest.raises(ValueError, match="id must be"):
        new_action("nonsense", "approved", "alice", "", None, NOW, "k")
    with pytest.raises(ValueError, match="reviewer"):
        new_action(EVENT, "approved", " ", "", None, NOW, "k")


def test_the_final_decision_keeps_the_held_envelope_and_adds_the_review_block():
    held = {"schemaVersion": 1, "decision": "review", "reasons": [{"code": "review.borderline"}],
            "rulesFired": ["r"], "decidedAt": "2026-12-01T10:00:00Z",
            "source": {"topic": "articles.incoming", "partition": 1, "offset": 42, "timestamp": 1},
            "article": {"title": "t"}, "signer": "acme"}
    doc = new_action(EVENT, "rejected", "alice", "misleading", "review.misleading", NOW, "k")
    final = ra.final_decision(held, doc, NOW)
    assert final["decision"] == "rejected" and final["source"] == held["source"] and final["signer"] == "acme"
    assert final["reasons"] == [{"code": "review.misleading", "rule": None, "message": "misleading", "path": None}]
    assert final["review"] == {"reviewer": "alice", "note": "misleading", "actionAt": "2026-12-01T12:00:00Z",
                               "heldReasons": [{"code": "review.borderline"}], "heldAt": "2026-12-01T10:00:00Z"}


def test_key_files_carry_their_purpose_and_old_files_mean_articles(tmp_path):
    public = key_to_json(article_key().verification_key())["publicKey"]
    assert key_from_json({"keyId": "a", "algorithm": ED25519, "providers": ["x.org"], "publicKey": public},
                         type(article_key().verification_key())).purpose == "articles"
    with pytest.raises(InvalidKeyError, match="no providers"):
        SigningKey("r", ED25519, frozenset({"x.org"}), material=os.urandom(32), purpose=REVIEW_ACTIONS)
    with pytest.raises(InvalidKeyError, match="purpose"):
        SigningKey("r", ED25519, frozenset({"x.org"}), material=os.urandom(32), purpose="everything")
    assert main(["keygen", "--algorithm", "ed25519", "--key-id", "rev", "--purpose", "review-actions",
                 "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "rev.key.json").read_text())
    assert saved["purpose"] == "review-actions" and saved["providers"] == []
    assert read_key_file(tmp_path / "rev.signing.json", SigningKey).purpose == REVIEW_ACTIONS
    keyring, _ = load_keyring(tmp_path)
    assert [k.purpose for k in keyring] == [REVIEW_ACTIONS]
    assert main(["keygen", "--algorithm", "ed25519", "--key-id", "rev2", "--purpose", "review-actions",
                 "--provider", "x.org", "--out", str(tmp_path)]) == 2
    assert main(["keygen", "--algorithm", "ed25519", "--key-id", "art", "--out", str(tmp_path)]) == 2


def test_held_ids_round_trip():
    assert ra.parse_held_id(ra.held_id("a.b-c", 2, 7)) == ("a.b-c", 2, 7)
    assert ra.parse_held_id("a:b:c") is None and ra.parse_held_id("x") is None


def test_the_final_decision_matches_the_published_decision_schema():
    from pathlib import Path

    import jsonschema
    from referencing import Registry, Resource

    from service.core.decision import Decision
    from service.core.envelope import Source, decision_event
    from service.core.reasons import Reason

    schemas = Path(__file__).parents[2] / "schemas"
    schema = json.loads((schemas / "decision.schema.json").read_text())
    article = Resource.from_contents(json.loads((schemas / "article.schema.json").read_text()))
    registry = Registry().with_resource("article.schema.json", article)
    seed = orjson.loads((schemas.parent / "seeds" / "005_quantum_error_correction.json").read_bytes())
    held = Decision("review", (Reason("review.borderline", "borderline", "r", "title"),), ("r",), "sha256:x", NOW,
                    "acme", seed)
    event = orjson.loads(orjson.dumps(decision_event(held, Source("in", 1, 42, 5), None, NOW),
                                      option=orjson.OPT_UTC_Z))
    check = jsonschema.Draft202012Validator(schema, registry=registry)
    check.validate(event)
    doc = new_action("in:1:42", "approved", "alice", "", None, NOW, "k")
    check.validate(ra.final_decision(event, doc, NOW))


def test_the_changelog_restores_settlements_and_only_signed_action_ids():
    from types import SimpleNamespace

    from service.review.changelog import PartitionState, replay_into

    state = PartitionState()
    records = [
        (b"in:0:1", {"type": "resolution", "reviewer": "alice", "settledAt": "t"}),
        (b"action:" + b"a" * 32, {"type": "outcome", "actionId": "a" * 32, "signed": True}),
        (b"record:actions:0:9", {"type": "outcome", "actionId": "b" * 32, "signed": False}),  # a forgery's
        (b"in:0:2", None),  # a tombstone, or anything unreadable: ignored
    ]
    for key, value in records:
        replay_into(state, SimpleNamespace(key=key, value=orjson.dumps(value) if value else b"{"))
    assert state.resolved == {"in:0:1": {"type": "resolution", "reviewer": "alice", "settledAt": "t"}}
    assert state.seen == {"a" * 32}
