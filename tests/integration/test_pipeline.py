"""The whole pipeline on the real broker: records in, exactly one decision per record out, reasons that say why."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from harness import (
    collect,
    create_topics,
    good_article,
    make_key,
    ms,
    output_topics,
    produce,
    recent_ms,
    running,
    settings_for,
)

from service.core.decode import decode_event
from service.signing import sign_event

pytestmark = pytest.mark.kafka
SEED = (Path(__file__).parents[2] / "seeds" / "000_eec557f0eb51af83.txt").read_bytes()


def by_offset(records):
    return {orjson.loads(r.value)["source"]["offset"]: (r, orjson.loads(r.value)) for r in records
            if r.topic.endswith(("approved", "rejected"))}


def test_every_kind_of_input_gets_exactly_one_decision_with_the_right_reason(kafka_bootstrap, unique_topic_prefix,
                                                                            tmp_path):
    keys = tmp_path / "keys"
    key = make_key(keys)
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys)
    signed = sign_event(good_article(1), key)
    tampered = {**signed, "title": signed["title"] + "!"}
    signed_seed = sign_event(decode_event(SEED), key)
    inputs = [
        (b"good", orjson.dumps(signed)),                                    # 0 approved
        (b"seed", SEED),                                                   # 1 seed as shipped: signature
        (b"tampered", orjson.dumps(tampered)),                             # 2 signature.invalid
        (b"garbage", b"\x00\x9f\x92garbage bytes"),                        # 3 input.unknown_format
        (b"badjson", b'{"title": "unterminated'),                          # 4 input.malformed_json
        (b"schema", orjson.dumps({**signed, "quality": "high"})),          # 5 schema.wrong_type at quality
        (None, b""),                                                       # 6 input.empty
    ]

    async def scenario():
        await create_topics(settings, partitions=1)
        await produce(kafka_bootstrap, settings.input_topic, inputs, timestamp_ms=recent_ms())
        # The signed seed is from 2020: stamp its record with its own publication time, as a feed replay would.
        await produce(kafka_bootstrap, settings.input_topic, [(b"signed-seed", orjson.dumps(signed_seed))],
                      timestamp_ms=ms(datetime(2020, 5, 8, 4, 1, tzinfo=UTC)))
        async with running(settings):
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(inputs) + 1)

    records = asyncio.run(scenario())
    assert len(records) == len(inputs) + 1
    decisions = by_offset(records)
    assert sorted(decisions) == list(range(len(inputs) + 1))

    def codes(offset):
        return [reason["code"] for reason in decisions[offset][1]["reasons"]]

    record, event = decisions[0]
    assert event["decision"] == "approved", event["reasons"]
    assert record.topic == settings.approved_topic and record.key == b"good"
    assert event["signer"] == "test" and event["article"]["title"] == signed["title"]
    assert event["rulesVersion"].startswith("sha256:") and event["schemaVersion"] == 1
    assert event["source"] == {"topic": settings.input_topic, "partition": 0, "offset": 0,
                               "timestamp": event["source"]["timestamp"]}
    assert codes(1)[0].startswith("signature.") and decisions[1][1]["decision"] == "rejected"
    assert codes(2) == ["signature.invalid"]
    assert codes(3) == ["input.unknown_format"]
    assert base64.b64decode(decisions[3][1]["original"]["base64"]) == inputs[3][1]  # nothing lost
    assert codes(4) == ["input.malformed_json"]
    assert codes(5) == ["schema.wrong_type"] and decisions[5][1]["reasons"][0]["path"] == "quality"
    assert codes(6) == ["input.empty"]
    assert decisions[7][1]["decision"] == "approved", decisions[7][1]["reasons"]
    for offset in range(1, 7):
        assert decisions[offset][0].topic == settings.rejected_topic
        assert decisions[offset][0].key == inputs[offset][0]


@pytest.mark.parametrize(("delivery", "threads"), [("exactly-once", 2), ("at-least-once", 2), ("at-least-once", 0)])
def test_a_mixed_stream_gets_one_decision_per_record_and_keeps_going(kafka_bootstrap, unique_topic_prefix,
                                                                    tmp_path, delivery, threads):
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, delivery=delivery, batch_max_records=50,
                            decide_threads=threads)
    good = [orjson.dumps(sign_event(good_article(n), key)) for n in range(300)]
    bad = [b"not an event", b"{", orjson.dumps({"title": 1})]
    first = [(f"k{n}".encode(), good[n] if n % 4 else bad[n % 3]) for n in range(300)]
    later = [(f"later{n}".encode(), orjson.dumps(sign_event(good_article(1000 + n), key))) for n in range(50)]

    async def scenario():
        await create_topics(settings, partitions=3)
        async with running(settings):
            await produce(kafka_bootstrap, settings.input_topic, first, timestamp_ms=recent_ms())
            await collect(kafka_bootstrap, output_topics(settings), expected=len(first), settle=0)
            await produce(kafka_bootstrap, settings.input_topic, later, timestamp_ms=recent_ms())
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(first) + len(later))

    records = asyncio.run(scenario())
    sources = [(e["source"]["partition"], e["source"]["offset"]) for e in (orjson.loads(r.value) for r in records)]
    assert len(sources) == len(set(sources)) == len(first) + len(later)
    approved = [r for r in records if r.topic == settings.approved_topic]
    assert len(approved) == 225 + 50
    # Ordered per key: in each output topic partition, decisions of one input partition keep their input order.
    for topic in (settings.approved_topic, settings.rejected_topic):
        seen: dict[tuple[int, int], int] = {}
        for r in records:
            if r.topic == topic:
                src = orjson.loads(r.value)["source"]
                key = (r.partition, src["partition"])
                assert src["offset"] > seen.get(key, -1)
                seen[key] = src["offset"]


def test_an_exact_copy_of_a_signed_event_is_rejected_as_a_replay(kafka_bootstrap, unique_topic_prefix, tmp_path):
    keys = tmp_path / "keys"
    key = make_key(keys, algorithm="hmac-sha256")
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys)
    original = orjson.dumps(sign_event(good_article(7), key))
    resigned = orjson.dumps(sign_event(good_article(7), key))  # same article, new nonce: not a copy

    async def scenario():
        await create_topics(settings, partitions=1)
        async with running(settings):
            await produce(kafka_bootstrap, settings.input_topic, [(b"a", original)], timestamp_ms=recent_ms())
            await collect(kafka_bootstrap, output_topics(settings), expected=1, settle=0)
            await produce(kafka_bootstrap, settings.input_topic, [(b"a", original), (b"a", resigned)],
                          timestamp_ms=recent_ms())
            return await collect(kafka_bootstrap, output_topics(settings), expected=3)

    decisions = by_offset(asyncio.run(scenario()))
    assert decisions[0][1]["decision"] == "approved"
    replayed = decisions[1][1]
    assert replayed["decision"] == "rejected" and [r["code"] for r in replayed["reasons"]] == ["signature.replay"]
    assert "offset 0" in replayed["reasons"][0]["message"]
    assert decisions[2][1]["decision"] == "approved"
