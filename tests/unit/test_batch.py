"""process_batch: one outgoing record per consumed record, in order, under its source partition; a bug dead-letters
the record, not the batch."""

from __future__ import annotations

import hashlib
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

import service.core.batch as batch
from service.core.decide import decide_record
from service.core.decision import Decision
from service.core.keys import SigningKey
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.signing import sign_event

ROOT = Path(__file__).parents[2]
RULES = read_rules(ROOT / "config" / "rules.yaml")
TOPICS = batch.Topics("out.approved", "out.rejected", "out.dead")
Record = namedtuple("Record", "topic partition offset timestamp key value headers")
KEY = SigningKey("unit", "hmac-sha256", frozenset({"reuters.com"}), material=hashlib.sha256(b"unit").digest())
KEYRING = Keyring([KEY.verification_key()])
POLICY = batch.PolicySnapshot(KEYRING, RULES)
# One fixed moment for the record time, the decision time and the articles' dates: with the clock, the record
# time was fixed at import while the article date moved, and date rules could see them drift apart.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
PUBLISHED = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def article(n: int) -> dict:
    return {
        "category": "news", "title": f"Researchers publish open dataset number {n} for climate models",
        "excerpt": "The dataset covers forty years of regional observations and is released under an open licence.",
        "publishedDateTime": PUBLISHED, "type": "article",
        "webUrl": f"https://www.reuters.com/science/open-climate-dataset-{n}", "quality": 80, "heat": 5,
        "published": False, "provider": {"name": "Reuters", "domain": "reuters.com"}, "topics": ["Climate"],
        "images": [], "related": [],
    }


def record(offset: int, value: bytes, headers=(), key: bytes | None = b"k") -> Record:
    return Record("in", 2, offset, NOW_MS, key, value, tuple(headers))


def decided(records: list[Record], decided_at: datetime) -> list[batch.Outgoing]:
    """``process_batch`` over one source partition's records: its outgoing records."""
    (out,) = batch.process_batch({("in", 2): records}, POLICY, decided_at, topics=TOPICS).values()
    return out


def signed(n: int) -> bytes:
    return orjson.dumps(sign_event(article(n), KEY))


def test_each_record_gets_one_outgoing_record_in_input_order_on_the_topic_of_its_decision():
    records = [record(10, signed(1)), record(11, b"\x00\x9f\x92garbage bytes"), record(12, signed(2))]
    out = decided(records, decided_at=NOW)
    assert [o.source.offset for o in out] == [10, 11, 12]
    assert [o.topic for o in out] == ["out.approved", "out.rejected", "out.approved"]
    event = orjson.loads(out[1].value)
    assert event["source"] == {"topic": "in", "partition": 2, "offset": 11, "timestamp": NOW_MS}
    assert [reason["code"] for reason in event["reasons"]] == ["input.unknown_format"]
    assert all(o.key == b"k" and ("moderation-decision", o.decision.decision.encode()) in o.headers for o in out)


def test_the_outgoing_decision_leaves_the_article_to_the_value_and_the_headers():
    value = signed(3)
    (out,) = decided([record(20, value)], decided_at=NOW)
    expected = decide_record(value, (), KEYRING, RULES, NOW, replay=None, partition=("in", 2), where="x")
    assert out.decision.article is None and expected.article is not None  # the shell never reads it
    assert out.decision == Decision(**{**{f: getattr(expected, f) for f in expected.__slots__}, "article": None})
    assert orjson.loads(out.value)["article"] == orjson.loads(value)  # published whole
    assert ("ce_subject", b"https://www.reuters.com/science/open-climate-dataset-3") in out.headers


def test_a_record_whose_processing_raises_is_dead_lettered_with_its_original_bytes_and_the_batch_goes_on(
        monkeypatch):
    real = batch.decide_record

    def decide(value, headers, *args, **kwargs):
        if value == b"poison":
            raise KeyError("'provider' missing in a code path nobody tested")
        return real(value, headers, *args, **kwargs)

    monkeypatch.setattr(batch, "decide_record", decide)
    records = [record(0, signed(0)), record(1, b"poison", [("trace", b"abc")], key=b"pk"), record(2, signed(2))]
    out = decided(records, decided_at=NOW)
    assert [o.topic for o in out] == ["out.approved", "out.dead", "out.approved"]
    dead = out[1]
    headers = dict(dead.headers)
    assert (dead.key, dead.value, dead.decision) == (b"pk", b"poison", None)
    assert headers["trace"] == b"abc"  # the record's own headers come first, unchanged
    assert headers["moderation-error-type"] == b"KeyError"
    assert headers["moderation-error-message"] == b"\"'provider' missing in a code path nobody tested\""
    assert headers["moderation-error"].startswith(b"KeyError: ")
    assert (headers["moderation-source-topic"], headers["moderation-source-partition"],
            headers["moderation-source-offset"]) == (b"in", b"2", b"1")
    assert dead.error.startswith("KeyError")


def test_a_decision_too_large_for_the_broker_is_dead_lettered_instead_of_blocking_the_partition(monkeypatch):
    monkeypatch.setattr(batch, "MAX_DECISION_BYTES", 2_000)
    big = orjson.dumps(sign_event({**article(3), "excerpt": "x" * 3_000}, KEY))
    out = decided([record(5, big), record(6, signed(6))], decided_at=NOW)
    assert [o.topic for o in out] == ["out.dead", "out.approved"]
    headers = dict(out[0].headers)
    assert headers["moderation-error-type"] == b"DecisionTooLarge"
    # The original does not fit under the limit either: it is named (size, SHA-256), never sent to be refused.
    assert out[0].value == b"" and headers["moderation-original-bytes"] == str(len(big)).encode()
    assert headers["moderation-original-sha256"] == hashlib.sha256(big).hexdigest().encode()


def test_a_dead_letter_keeps_the_original_bytes_when_they_fit(monkeypatch):
    garbage = b"\x00" * 3_000  # undecodable: its rejection carries it in base64, 4/3 of its size
    monkeypatch.setattr(batch, "MAX_DECISION_BYTES", 3_600)  # the record fits, its decision does not
    (dead,) = decided([record(5, garbage)], decided_at=NOW)
    assert dead.topic == "out.dead" and dead.value == garbage
    assert "moderation-original-sha256" not in dict(dead.headers)


def test_a_record_time_no_date_can_hold_falls_back_instead_of_raising():
    fallback = datetime(2030, 1, 1, tzinfo=UTC)
    assert batch.record_time(253_402_300_800_000, fallback) == fallback  # year 10000


def test_an_error_message_is_cut_to_500_characters_and_undecodable_text_does_not_break_the_headers(monkeypatch):
    raising = lambda *a, **k: (_ for _ in ()).throw(ValueError("\udcff" + "y" * 2_000))  # noqa: E731
    monkeypatch.setattr(batch, "decide_record", raising)
    (dead,) = decided([record(0, b"v", key=None)], decided_at=NOW)
    message = dict(dead.headers)["moderation-error-message"]
    assert len(message) <= 500 * 3 and message.endswith(b"y")
    assert dead.key is None and dead.value == b"v"


@pytest.mark.parametrize(("timestamp", "expected"), [(None, "fallback"), (-1, "fallback"), (0, "epoch")])
def test_record_time_uses_the_record_timestamp_and_falls_back_when_there_is_none(timestamp, expected):
    fallback = datetime(2030, 1, 1, tzinfo=UTC)
    got = batch.record_time(timestamp, fallback)
    assert got == (fallback if expected == "fallback" else datetime(1970, 1, 1, tzinfo=UTC))


def test_the_batch_keeps_its_source_partitions_and_a_copy_in_the_same_partition_is_a_replay():
    from service.core.replay import ReplayWindows

    copy = signed(7)
    grouped = {("in", 0): [record(0, copy), record(1, copy)], ("in", 1): [Record("in", 1, 0, NOW_MS, b"k", copy, ())]}
    out = batch.process_batch(grouped, POLICY, NOW, topics=TOPICS, replay=ReplayWindows().batch())
    assert list(out) == [("in", 0), ("in", 1)]  # the consumer's grouping, not flattened and regrouped
    first, second = (orjson.loads(o.value) for o in out[("in", 0)])
    assert first["decision"] == "approved"
    assert [reason["code"] for reason in second["reasons"]] == ["signature.replay"]
    assert [o.decision.decision for o in out[("in", 1)]] == ["approved"]  # another partition: its own window
