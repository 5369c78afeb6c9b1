"""Every record the service writes is a CloudEvent (Kafka binding, binary mode) and carries the input's trace."""

from __future__ import annotations

import os
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import orjson
import pytest
from batches import decide_flat
from contract import cloudevent

import service.core.batch as batch
from service.core import cloudevents as ce
from service.core.decision import Outcome
from service.core.envelope import DECISION_SCHEMA_ID
from service.core.keys import SigningKey
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.settings import Settings
from service.signing import sign_event

ROOT = Path(__file__).parents[2]
RULES = read_rules(ROOT / "config" / "rules.yaml")
TOPICS = batch.Topics("out.approved", "out.rejected", "out.dead",
                      cloudevents_source="https://moderation.example.com/test")
Record = namedtuple("Record", "topic partition offset timestamp key value headers")
KEY = SigningKey("unit", "hmac-sha256", frozenset({"reuters.com"}), material=os.urandom(32))
KEYRING = Keyring([KEY.verification_key()])
DECIDED = datetime(2026, 12, 2, 7, 0, 0, 123456, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
URL = "https://www.reuters.com/science/open-climate-dataset"


def article() -> bytes:
    # Published just before the record time (DECIDED): a wall-clock date would be "in the future" for the rules
    # once the clock passes DECIDED + 1 hour.
    now = (DECIDED - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(sign_event({
        "title": "Researchers publish an open dataset for climate models", "publishedDateTime": now,
        "excerpt": "The dataset covers forty years of regional observations and is released under an open licence.",
        "webUrl": URL, "quality": 80, "provider": {"name": "Reuters", "domain": "reuters.com"},
        "topics": ["Climate"], "category": "news", "type": "article"}, KEY))


def record(offset: int, value: bytes, headers=(), key: bytes | None = b"article-7") -> Record:
    return Record("in", 2, offset, int(DECIDED.timestamp() * 1000), key, value, tuple(headers))


def decide(*records: Record, decided_at: datetime = DECIDED, rules=RULES) -> list[batch.Outgoing]:
    return decide_flat(list(records), KEYRING, rules, TOPICS, decided_at=decided_at)


def test_a_decision_read_with_the_cloudevents_sdk_has_every_attribute():
    approved, rejected = decide(record(10, article(), [("traceparent", PARENT.encode())]),
                                record(11, b"\x00garbage"))
    assert approved.topic == "out.approved" and rejected.topic == "out.rejected"
    event = cloudevent(approved)
    assert event.get_specversion() == "1.0"
    assert event.get_id() == "in/2/10/approved"
    assert event.get_source() == "https://moderation.example.com/test"
    assert event.get_type() == "com.github.article-moderation.article.moderation.approved.v1"
    assert event.get_time() == DECIDED
    assert event.get_subject() == URL
    assert event.get_datacontenttype() == "application/json"
    assert event.get_dataschema() == DECISION_SCHEMA_ID
    assert event.get_extension("partitionkey") == "article-7"
    assert event.get_data() == orjson.loads(approved.value)  # the body is the decision, unchanged
    assert dict(approved.headers)["moderation-decision"] == b"approved"  # kept for existing consumers
    other = cloudevent(rejected)
    assert other.get_type() == "com.github.article-moderation.article.moderation.rejected.v1"
    assert other.get_id() == "in/2/11/rejected"
    assert other.get_subject() == "article-7"  # no article: the record key


def test_the_id_is_stable_for_a_decision_decided_again_and_differs_between_decisions():
    first = decide(record(10, article()), record(11, b"\x00garbage"))
    again = decide(record(10, article()), record(11, b"\x00garbage"), decided_at=DECIDED + timedelta(minutes=5))
    ids = [dict(out.headers)["ce_id"] for out in first]
    assert ids == [dict(out.headers)["ce_id"] for out in again]
    assert len(set(ids)) == 2
    assert dict(first[0].headers)["ce_time"] != dict(again[0].headers)["ce_time"]


def test_every_outcome_has_a_versioned_type_and_review_is_already_one():
    assert set(get_args(Outcome)) <= set(ce.TYPES)
    assert ce.TYPES["review"] == "com.github.article-moderation.article.moderation.review.v1"
    assert all(kind.startswith(ce.TYPE_PREFIX + ".") and kind.endswith(".v1") for kind in ce.TYPES.values())
    assert len(set(ce.TYPES.values())) == len(ce.TYPES)


@pytest.mark.parametrize(("key", "subject"), [(b"k", "k"), (None, None), (b"", None), (b"\xff\xfe", None)])
def test_without_an_article_the_subject_is_the_key_only_when_it_is_text(key, subject):
    (out,) = decide(record(0, b"not an article", key=key))
    got = dict(out.headers).get("ce_subject")
    assert (got.decode() if got is not None else None) == subject  # the SDK cannot read a non-UTF-8 key at all


def test_a_dead_letter_is_a_cloudevent_of_its_own_type_with_the_original_bytes():
    ours = [("ce_id", b"upstream-1"), ("ce_type", b"com.example.article"), ("content-type", b"application/yaml"),
            ("traceparent", PARENT.encode()), ("x-custom", b"1")]
    (dead,) = decide(record(4, b"---\ntitle: x\n---\n", ours), rules=None)  # rules=None: the core raises
    assert dead.topic == "out.dead"
    names = [name for name, _ in dead.headers]
    assert len(names) == len(set(names)), names  # the input's ce_* never collide with the dead letter's
    headers = dict(dead.headers)
    assert headers["moderation-original-ce_id"] == b"upstream-1" and headers["x-custom"] == b"1"
    assert headers["moderation-original-content-type"] == b"application/yaml"
    event = cloudevent(dead)
    assert event.get_type() == "com.github.article-moderation.article.moderation.deadlettered.v1"
    assert event.get_id() == "in/2/4/deadlettered"
    assert event.get_datacontenttype() == "application/yaml"  # it describes the original bytes it carries
    assert event.get_dataschema() is None  # not a decision
    assert event.get_data() == "---\ntitle: x\n---\n"
    assert headers["traceparent"].split(b"-")[1] == TRACE_ID.encode()


def test_a_dead_letter_without_a_content_type_or_without_its_value_is_octet_stream(monkeypatch):
    (dead,) = decide(record(4, b"\x00\x01"), rules=None)
    assert dict(dead.headers)["content-type"] == b"application/octet-stream"
    monkeypatch.setattr(batch, "MAX_DECISION_BYTES", 10)
    (dropped,) = decide(record(5, b"x" * 100, [("content-type", b"text/plain")]), rules=None)
    assert dropped.value == b"" and dict(dropped.headers)["content-type"] == b"application/octet-stream"


def test_a_traceparent_comes_back_with_the_same_trace_a_new_span_and_its_tracestate():
    headers = [("traceparent", PARENT.encode()), ("tracestate", b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")]
    out, again, other = decide(record(1, article(), headers), record(1, article(), headers),
                               record(2, article(), headers))
    version, trace_id, span_id, flags = dict(out.headers)["traceparent"].decode().split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != "00f067aa0ba902b7" and len(span_id) == 16
    assert dict(again.headers)["traceparent"] == dict(out.headers)["traceparent"]  # derived, not drawn
    assert dict(other.headers)["traceparent"] != dict(out.headers)["traceparent"]  # one span per record
    assert dict(out.headers)["tracestate"] == b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"


@pytest.mark.parametrize("value", [
    b"", b"garbage", PARENT.upper().encode(), f"ff-{TRACE_ID}-00f067aa0ba902b7-01".encode(),
    b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", f"00-{TRACE_ID}-0000000000000000-01".encode(),
    f"{PARENT}-extra".encode(), PARENT[:-1].encode(), f" {PARENT}".encode(), b"\xff" * 55,
])
def test_an_invalid_traceparent_is_ignored_and_never_rejects(value):
    (out,) = decide(record(0, article(), [("traceparent", value), ("tracestate", b"a=b")]))
    assert out.topic == "out.approved"
    assert not {"traceparent", "tracestate"} & {name for name, _ in out.headers}


def test_a_repeated_traceparent_is_ignored_and_a_future_version_is_read_as_version_00():
    (twice,) = decide(record(0, article(), [("traceparent", PARENT.encode())] * 2))
    assert "traceparent" not in dict(twice.headers)
    (future,) = decide(record(0, article(), [("traceparent", f"01-{TRACE_ID}-00f067aa0ba902b7-00-more".encode())]))
    assert dict(future.headers)["traceparent"].startswith(f"00-{TRACE_ID}-".encode())
    assert dict(future.headers)["traceparent"].endswith(b"-00")


def test_an_oversized_or_unprintable_tracestate_is_dropped_and_the_traceparent_kept():
    for state in (b"a=" + b"x" * 600, b"a=\x00"):
        (out,) = decide(record(0, article(), [("traceparent", PARENT.encode()), ("tracestate", state)]))
        assert "tracestate" not in dict(out.headers) and "traceparent" in dict(out.headers)


def test_the_source_is_a_setting_with_a_default(monkeypatch):
    assert Settings().cloudevents_source == ce.DEFAULT_SOURCE == batch.Topics("a", "r", "d").cloudevents_source
    monkeypatch.setenv("MODERATION_CLOUDEVENTS_SOURCE", "https://moderation.example.com/prod")
    assert Settings().cloudevents_source == "https://moderation.example.com/prod"
    monkeypatch.setenv("MODERATION_CLOUDEVENTS_SOURCE", "has spaces")
    with pytest.raises(ValueError, match="cloudevents_source"):
        Settings()


def test_each_output_is_paired_with_its_input_by_source_even_out_of_order_or_two_to_one():
    traced = record(1, article(), [("traceparent", PARENT.encode())])
    plain = record(2, article())
    (first, second) = decide(traced, plain)
    again = decide(traced)[0]
    for out in (first, second, again):
        out.headers[:] = [("moderation-decision", out.decision.decision.encode())]  # as decide_batch builds them
    ce.stamp([second, first, again], [traced, plain], "/s", DECIDED)  # reordered; two outputs for one input
    assert "traceparent" not in dict(second.headers)
    assert dict(first.headers)["traceparent"] == dict(again.headers)["traceparent"]
    assert [dict(o.headers)["ce_id"] for o in (first, second)] == [b"in/2/1/approved", b"in/2/2/approved"]
