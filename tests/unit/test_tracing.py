"""OpenTelemetry spans: none of it when no endpoint is set; with one, consume/decide/produce per batch and one
``moderate`` span per traced record, under exactly the span id its decision's traceparent names."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from batches import decide_flat as decide_batch
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.core.batch import Topics
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.ops import tracing

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
Record = namedtuple("Record", "topic partition offset timestamp key value headers")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def batch_of_three() -> tuple[list[Record], list]:
    traced = [("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01".encode()), ("tracestate", b"v=1")]
    records = [Record("in", 0, 7, None, b"k", b"\x00garbage", traced),
               Record("in", 0, 8, None, b"k", b"\x00garbage", []),
               Record("in", 0, 9, None, b"k", b"\x00garbage", [("traceparent", b"bad")])]
    return records, decide_batch(records, Keyring(), RULES, Topics("a", "r", "d"), decided_at=datetime.now(UTC))


def test_without_an_endpoint_tracing_is_off_and_costs_nothing_per_record():
    assert tracing.make_tracing(SimpleNamespace(otlp_endpoint=None)) is tracing.NO_TRACING
    records, _ = batch_of_three()
    batch = tracing.NO_TRACING.received({0: records}, 0, "in")
    assert batch is tracing.NO_TRACING.received({}, 0, "in")  # one shared handle, nothing allocated per batch
    assert batch.decide() is batch.decide()
    delivery = asyncio.sleep(0)
    assert batch.produce(delivery) is delivery  # the coroutine itself, not wrapped
    asyncio.run(delivery)


def test_with_an_endpoint_the_sdk_exporter_is_configured_and_closes_cleanly():
    on = tracing.make_tracing(SimpleNamespace(otlp_endpoint="http://127.0.0.1:9/", client_id="test"))
    assert isinstance(on, tracing.Tracing)
    on.close()  # nothing queued: returns without reaching the (absent) collector


def test_batch_spans_and_one_moderate_span_per_traced_record_under_the_id_the_decision_names():
    exporter = InMemorySpanExporter()
    on = tracing.Tracing.with_processor(SimpleSpanProcessor(exporter), "test")
    records, outgoing = batch_of_three()
    batch = on.received({0: records}, 1_000, "in")
    with batch.decide():
        pass

    async def deliver() -> str:
        return "delivered"

    assert asyncio.run(batch.produce(deliver())) == "delivered"
    batch.moderated({0: records}, {0: outgoing})
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert sorted(spans) == ["consume", "decide", "moderate", "produce"]
    consume = spans["consume"]
    assert consume.start_time == 1_000 and consume.attributes["messaging.batch.message_count"] == 3
    assert [format(link.context.trace_id, "032x") for link in consume.links] == [TRACE_ID]  # the valid one only
    for name in ("decide", "produce"):
        assert spans[name].parent.span_id == consume.context.span_id
        assert spans[name].context.trace_id == consume.context.trace_id
    moderate = spans["moderate"]
    traceparent = dict(outgoing[0].headers)["traceparent"].decode()
    assert traceparent == f"00-{TRACE_ID}-{moderate.context.span_id:016x}-01"  # the id downstream sees
    assert format(moderate.context.trace_id, "032x") == TRACE_ID
    assert format(moderate.parent.span_id, "016x") == PARENT_ID
    assert moderate.attributes["moderation.outcome"] == "rejected"
    assert moderate.links[0].context.span_id == spans["decide"].context.span_id
    assert (moderate.start_time, moderate.end_time) == (spans["decide"].start_time, spans["decide"].end_time)


def test_a_failed_delivery_marks_the_produce_span_as_an_error():
    exporter = InMemorySpanExporter()
    on = tracing.Tracing.with_processor(SimpleSpanProcessor(exporter), "test")
    batch = on.received({}, 0, "in")

    async def deliver() -> None:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        asyncio.run(batch.produce(deliver()))
    (produce,) = [span for span in exporter.get_finished_spans() if span.name == "produce"]
    assert produce.status.status_code.name == "ERROR"


def test_an_unsampled_input_trace_gets_no_recorded_moderate_span():
    exporter = InMemorySpanExporter()
    on = tracing.Tracing.with_processor(SimpleSpanProcessor(exporter), "test")
    records = [Record("in", 0, 1, None, b"k", b"x", [("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-00".encode())])]
    outgoing = decide_batch(records, Keyring(), RULES, Topics("a", "r", "d"), decided_at=datetime.now(UTC))
    batch = on.received({0: records}, 0, "in")
    with batch.decide():
        pass
    batch.moderated({0: records}, {0: outgoing})
    assert "moderate" not in {span.name for span in exporter.get_finished_spans()}
    assert dict(outgoing[0].headers)["traceparent"].endswith(b"-00")  # the flag travels on unchanged
