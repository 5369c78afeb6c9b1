"""On the real broker, decisions and dead letters read with the official CloudEvents SDK (v2, Kafka binding,
binary mode): every attribute, the trace context carried from the input, and the schemas valid for each kind."""

from __future__ import annotations

import asyncio
from datetime import datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from contract import check, cloudevent, validator
from harness import collect, create_topics, good_article, make_key, output_topics, recent_ms, running, settings_for

import service.core.batch
from service.core.envelope import DECISION_SCHEMA_ID
from service.signing import sign_event

pytestmark = pytest.mark.kafka
TYPE = "com.github.article-moderation.article.moderation."
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01".encode()
SOURCE = "https://moderation.example.com/it"


def test_every_record_written_is_a_cloudevent_with_every_attribute_and_the_input_trace(
        kafka_bootstrap, unique_topic_prefix, tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    key = make_key(keys)
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys, cloudevents_source=SOURCE,
                            max_record_bytes=300_000)
    signed = sign_event(good_article(1), key)
    trace = [("traceparent", TRACEPARENT), ("tracestate", b"vendor=opaque")]
    inputs = [  # key, value, headers -> expected outcome at this offset
        (b"good", orjson.dumps(signed), trace, "approved"),
        (b"tampered", orjson.dumps({**signed, "title": "changed"}), [("traceparent", b"00-not-a-trace")],
         "rejected"),
        (None, b"\x00\x9f\x92garbage bytes", [], "rejected"),                               # undecodable
        (b"schema", orjson.dumps({**signed, "quality": "high"}), [], "rejected"),           # not an article
        (b"big", b'{"title": "' + b"x" * 600_000 + b'"}', [], "rejected"),                   # oversized
        (b"poison", orjson.dumps(signed), [*trace, ("marker", b"poison")], "deadlettered"),  # a bug
    ]
    real_decide = service.core.batch.decide_record

    def decide(value, headers, *args, **kwargs):  # a bug that only this record's headers trigger
        if dict(headers or ()).get("marker") == b"poison":
            raise ZeroDivisionError("division by zero in rule 'x'")
        return real_decide(value, headers, *args, **kwargs)

    monkeypatch.setattr(service.core.batch, "decide_record", decide)

    async def scenario():
        await create_topics(settings, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=2_000_000)
        await producer.start()
        try:
            for k, value, headers, _ in inputs:
                await producer.send_and_wait(settings.input_topic, value, key=k, headers=headers,
                                             timestamp_ms=recent_ms())
        finally:
            await producer.stop()
        async with running(settings):
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(inputs))

    records = asyncio.run(scenario())
    assert len(records) == len(inputs)
    by_offset = {int(cloudevent(r).get_id().split("/")[2]): r for r in records}
    assert sorted(by_offset) == list(range(len(inputs)))
    for offset, (k, value, _, outcome) in enumerate(inputs):
        record = by_offset[offset]
        check(record)  # headers as the AsyncAPI document lists them; a decision valid against its schema
        event = cloudevent(record)
        assert event.get_specversion() == "1.0"
        assert event.get_id() == f"{settings.input_topic}/0/{offset}/{outcome}"
        assert event.get_source() == SOURCE
        assert event.get_type() == f"{TYPE}{outcome}.v1"
        assert isinstance(event.get_time(), datetime) and event.get_time().utcoffset().total_seconds() == 0
        assert event.get_extension("partitionkey") == (k.decode() if k else None)
        assert record.key == k
        if outcome == "deadlettered":
            assert record.topic == settings.deadletter_topic and record.value == value
            assert event.get_subject() == k.decode() and event.get_dataschema() is None
            assert event.get_datacontenttype() == "application/octet-stream"
            validator("article.schema.json").validate(orjson.loads(record.value))  # the original, an article
            continue
        decision = orjson.loads(record.value)
        assert record.topic == getattr(settings, f"{outcome}_topic") and decision["decision"] == outcome
        assert event.get_time() == datetime.fromisoformat(decision["decidedAt"])
        assert event.get_datacontenttype() == "application/json"
        assert event.get_dataschema() == DECISION_SCHEMA_ID
        assert event.get_data() == decision
        assert event.get_subject() == (signed["webUrl"] if decision["article"] else k.decode() if k else None)
    assert by_offset[3].value and orjson.loads(by_offset[3].value)["article"] is None
    too_large = orjson.loads(by_offset[4].value)
    assert too_large["reasons"][0]["code"] == "input.too_large" and too_large["original"]["base64"] is None

    for offset in (0, 5):  # the input's trace comes back: same trace id and flags, a new span, the tracestate
        headers = dict(by_offset[offset].headers)
        version, trace_id, span_id, flags = headers["traceparent"].decode().split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01") and span_id != "b7ad6b7169203331"
        assert headers["tracestate"] == b"vendor=opaque"
    assert "traceparent" not in dict(by_offset[1].headers)  # an invalid one is ignored, the record decided


def test_with_tracing_on_the_loop_exports_batch_spans_and_the_span_each_decision_names(
        kafka_bootstrap, unique_topic_prefix, tmp_path):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from service.ops.tracing import Tracing

    keys = tmp_path / "keys"
    key = make_key(keys)
    settings = settings_for(kafka_bootstrap, unique_topic_prefix, keys)
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_processor(SimpleSpanProcessor(exporter), "test")
    inputs = [(b"traced", orjson.dumps(sign_event(good_article(2), key)), [("traceparent", TRACEPARENT)]),
              (b"plain", orjson.dumps(sign_event(good_article(3), key)), [])]

    async def scenario():
        await create_topics(settings, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for k, value, headers in inputs:
                await producer.send_and_wait(settings.input_topic, value, key=k, headers=headers,
                                             timestamp_ms=recent_ms())
        finally:
            await producer.stop()
        async with running(settings, tracing):
            return await collect(kafka_bootstrap, output_topics(settings), expected=len(inputs))

    records = asyncio.run(scenario())
    assert len(records) == len(inputs)
    traced = next(r for r in records if r.key == b"traced")
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"consume", "decide", "produce", "moderate"} <= names
    (moderate,) = [span for span in spans if span.name == "moderate"]  # only the traced record has one
    assert dict(traced.headers)["traceparent"].decode() == f"00-{TRACE_ID}-{moderate.context.span_id:016x}-01"
    assert format(moderate.parent.span_id, "016x") == "b7ad6b7169203331"  # under the input's span
