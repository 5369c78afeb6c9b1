"""The batch step (process_batch) passes each record's own inputs to decide(): the keyring, the limits, the
record's time, the replay window. Mutation testing showed every one of these could be dropped without a unit
test noticing (a batch decided without signature checks still approves signed events); each test here names
what it pins.
"""

from __future__ import annotations

import hashlib
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from batches import decide_flat

import service.core.batch as batch
from service.core.envelope import Source
from service.core.keys import HMAC_SHA256, SigningKey
from service.core.limits import Limits
from service.core.replay import ReplayWindows
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.signing import sign_event

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
TOPICS = batch.Topics("out.approved", "out.rejected", "out.dead")
Record = namedtuple("Record", "topic partition offset timestamp key value headers")
TRUSTED = SigningKey("trusted", HMAC_SHA256, frozenset({"reuters.com"}), material=hashlib.sha256(b"t").digest())
STRANGER = SigningKey("stranger", HMAC_SHA256, frozenset({"reuters.com"}), material=hashlib.sha256(b"s").digest())
KEYRING = Keyring([TRUSTED.verification_key()])
RECORD_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DECIDED_AT = RECORD_TIME + timedelta(hours=5)  # the wall clock, later than the record


def value(key: SigningKey = TRUSTED, n: int = 1) -> bytes:
    doc = {
        "category": "news", "title": f"Researchers publish open dataset number {n} for climate models",
        "excerpt": "The dataset covers forty years of regional observations and is released under an open licence.",
        "publishedDateTime": (RECORD_TIME - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "type": "article",
        "webUrl": f"https://www.reuters.com/science/open-climate-dataset-{n}", "quality": 80, "heat": 5,
        "published": False, "provider": {"name": "Reuters", "domain": "reuters.com"}, "topics": ["Climate"],
        "images": [], "related": [],
    }
    return orjson.dumps(sign_event(doc, key))


def record(offset: int, data: bytes, timestamp: int | None = int(RECORD_TIME.timestamp() * 1000)) -> Record:
    return Record("in", 2, offset, timestamp, b"k", data, ())


def codes(out: batch.Outgoing) -> list[str]:
    return [reason.code for reason in out.decision.reasons]


def test_signatures_are_verified_against_the_given_keyring() -> None:
    """Pins: the keyring reaches decide() (without it signatures are skipped and a stranger's event passes)."""
    out = decide_flat([record(0, value(TRUSTED)), record(1, value(STRANGER))], KEYRING, RULES, TOPICS,
                             decided_at=DECIDED_AT)
    assert out[0].decision.decision == "approved" and out[0].decision.signer == "trusted"
    assert codes(out[1]) == ["signature.invalid"]


def test_the_given_limits_apply() -> None:
    """Pins: the configured limits reach decide() (not the defaults)."""
    (out,) = decide_flat([record(0, value())], KEYRING, RULES, TOPICS, limits=Limits(max_record_bytes=100),
                                decided_at=DECIDED_AT)
    assert codes(out) == ["input.too_large"]


def test_rules_see_the_record_time_and_the_decision_time_only_without_one() -> None:
    """Pins: the reference time is the record's timestamp (reprocessing gives the same decision), and the
    decision time only for a record without a timestamp."""
    stamped, unstamped = decide_flat([record(0, value()), record(1, value(n=2), timestamp=None)], KEYRING,
                                            RULES, TOPICS, decided_at=DECIDED_AT)
    assert stamped.decision.evaluatedAt == RECORD_TIME
    assert unstamped.decision.evaluatedAt == DECIDED_AT


def test_the_replay_window_sees_each_decision_with_its_partition_and_offset() -> None:
    """Pins: the replay check is applied to every record, keyed by topic and partition, naming where the
    original was decided."""
    windows = ReplayWindows()
    copy = value()
    out = decide_flat([record(7, copy), record(8, copy)], KEYRING, RULES, TOPICS, windows.batch(),
                             decided_at=DECIDED_AT)
    assert out[0].decision.decision == "approved"
    assert codes(out[1]) == ["signature.replay"]
    assert "partition 2 offset 7" in out[1].decision.reasons[0].message
    mixed = decide_flat([Record("in", 3, 7, None, b"k", copy, ()), Record("in", 4, 7, None, b"k", copy, ())],
                               KEYRING, RULES, TOPICS, ReplayWindows().batch(), decided_at=DECIDED_AT)
    assert [o.decision.decision for o in mixed] == ["approved", "approved"]  # each partition has its own window


def test_a_dead_letter_keeps_its_source(monkeypatch) -> None:
    """Pins: a dead-lettered record still says where it came from (delivery groups decisions by source)."""
    monkeypatch.setattr(batch, "decide_record", lambda *args, **kwargs: 1 / 0)
    (dead,) = decide_flat([record(4, b"x")], KEYRING, RULES, TOPICS, decided_at=DECIDED_AT)
    assert dead.topic == "out.dead" and dead.source == Source("in", 2, 4, int(RECORD_TIME.timestamp() * 1000))


def test_the_decision_event_names_its_fields_as_the_contract_says() -> None:
    """Pins: the published reason fields (code, rule, message, path), and `original` only for a record that
    could not be decoded into an article (schemas/decision.schema.json, README)."""
    good, bad = decide_flat([record(0, value(STRANGER)), record(1, b"\x00garbage")], KEYRING, RULES, TOPICS,
                                   decided_at=DECIDED_AT)
    decoded, undecodable = orjson.loads(good.value), orjson.loads(bad.value)
    assert set(decoded["reasons"][0]) == {"code", "rule", "message", "path"}
    assert decoded["reasons"][0]["path"] == "secured"
    assert decoded.get("original") is None
    assert undecodable["original"] is not None
