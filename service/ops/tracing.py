"""OpenTelemetry spans for the Kafka loop, exported over OTLP only when an endpoint is configured.

Off (no ``otlp_endpoint``, the default): ``NO_TRACING``. Its batch handle hands out one shared ``nullcontext``
and returns the delivery coroutine untouched: a few attribute lookups per batch, nothing per record, nothing
imported from OpenTelemetry (``python -m bench`` prints the decide step with tracing off and with the
OpenTelemetry API on but no SDK behind it).

On (``otlp_endpoint`` = MODERATION_OTLP_ENDPOINT, or the standard OTEL_EXPORTER_OTLP_ENDPOINT): the ``[otel]``
extra (opentelemetry-sdk and its OTLP/HTTP exporter) exports, batched from a background thread:

    consume   CONSUMER  from the fetch to the batch in hand; linked to each record's incoming trace context
    decide    INTERNAL  process_batch over the batch (child of consume)
    produce   PRODUCER  writing the decisions and committing the offsets (child of consume)
    moderate  INTERNAL  one per record whose input carried a valid ``traceparent``: a child of the span that
                        produced the input, in its trace, under exactly the span id its decision's
                        ``traceparent`` names (service/core/cloudevents.py derives it), so a downstream
                        consumer's span hangs under it. Its times are the decide step's; it links to that span.

A batch holds records of many traces, so the batch spans start their own trace and link to the records' contexts
(the OpenTelemetry messaging conventions for batches). ``moderate`` spans are recorded once a batch is
delivered: a batch decided again after a failed delivery exports them once, with the same ids. The sampler is
the SDK's default, parent-based: an input whose traceparent is not sampled gets no recorded ``moderate`` span.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from itertools import chain, islice
from typing import Any

from service.core.cloudevents import TRACEPARENT, TRACESTATE, parse_traceparent

_NULL = contextlib.nullcontext()
_CHOSEN: contextvars.ContextVar[int | None] = contextvars.ContextVar("moderation_span_id", default=None)


class _NoBatch:
    def decide(self) -> contextlib.AbstractContextManager[Any]:
        return _NULL

    def produce(self, delivery: Awaitable[Any]) -> Awaitable[Any]:
        return delivery

    def moderated(self, batches: Mapping[Any, Sequence[Any]], delivered: Mapping[Any, Sequence[Any]]) -> None:
        return None


class NoTracing:
    """Tracing off."""

    _batch = _NoBatch()

    def received(self, batches: Mapping[Any, Sequence[Any]], fetch_started_ns: int, topic: str) -> _NoBatch:
        return self._batch

    def close(self) -> None:
        return None


NO_TRACING = NoTracing()


def make_tracing(settings: Any) -> Any:
    """``NO_TRACING`` without an OTLP endpoint; otherwise an SDK provider exporting to it (the [otel] extra)."""
    if not settings.otlp_endpoint:
        return NO_TRACING
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError("otlp_endpoint is set but the OpenTelemetry SDK is not installed: "
                           "pip install 'article-moderation[otel]'") from exc
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
    return Tracing.with_processor(BatchSpanProcessor(exporter), settings.client_id)


def _chosen_ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class ChosenSpanIds(RandomIdGenerator):
        """Random ids, except for a ``moderate`` span: the id its decision's traceparent already names."""

        def generate_span_id(self) -> int:
            chosen = _CHOSEN.get()
            return chosen if chosen is not None else super().generate_span_id()

    return ChosenSpanIds()


class Tracing:
    """Tracing on: spans from ``tracer`` (an SDK tracer, or the API's no-op one when nothing is configured)."""

    def __init__(self, tracer: Any, provider: Any = None) -> None:
        from opentelemetry import trace

        self._tracer, self._provider, self._trace = tracer, provider, trace

    @classmethod
    def with_processor(cls, processor: Any, service_name: str) -> Tracing:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}), id_generator=_chosen_ids())
        provider.add_span_processor(processor)
        return cls(provider.get_tracer("article-moderation"), provider)

    def received(self, batches: Mapping[Any, Sequence[Any]], fetch_started_ns: int, topic: str) -> _Batch:
        """``batches``: the records by source partition, as the consumer returned them."""
        count = sum(len(part) for part in batches.values())
        span = self._tracer.start_span(
            "consume", kind=self._trace.SpanKind.CONSUMER, start_time=fetch_started_ns,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "receive",
                        "messaging.destination.name": topic, "messaging.batch.message_count": count})
        if span.is_recording():  # nothing per record for a no-op tracer (the API with no SDK) or a dropped batch
            records = islice(chain.from_iterable(batches.values()), MAX_LINKS)
            for parent in (_incoming(self._trace, record.headers) for record in records):
                if parent is not None:
                    span.add_link(parent)
        span.end()
        return _Batch(self._tracer, self._trace, self._trace.set_span_in_context(span), self._provider is not None)

    def close(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()  # flushes what is queued (bounded by the exporter's timeout)


MAX_LINKS = 128  # the SDK's default span limit on links


class _Batch:
    def __init__(self, tracer: Any, trace: Any, context: Any, per_record: bool) -> None:
        self._tracer, self._trace, self._context, self._per_record = tracer, trace, context, per_record
        self._decide_span: Any = None
        self._decided = (0, 0)

    @contextlib.contextmanager
    def decide(self) -> Iterator[None]:
        started = time.time_ns()
        span = self._tracer.start_span("decide", context=self._context, start_time=started)
        try:
            with self._trace.use_span(span):  # records an exception and sets the error status
                yield
        finally:
            ended = time.time_ns()
            span.end(end_time=ended)
            self._decide_span, self._decided = span, (started, ended)

    async def produce(self, delivery: Awaitable[Any]) -> Any:
        span = self._tracer.start_span("produce", context=self._context, kind=self._trace.SpanKind.PRODUCER,
                                       attributes={"messaging.system": "kafka", "messaging.operation.type": "send"})
        with self._trace.use_span(span, end_on_exit=True):
            return await delivery

    def moderated(self, batches: Mapping[Any, Sequence[Any]], delivered: Mapping[Any, Sequence[Any]]) -> None:
        """One ``moderate`` span per delivered record whose input carried a valid ``traceparent``."""
        if not self._per_record or self._decide_span is None:
            return  # the API's no-op tracer (no SDK): nothing per record
        started, ended = self._decided
        links = [self._trace.Link(self._decide_span.get_span_context())] if self._decide_span is not None else []
        inputs = {(r.topic, r.partition, r.offset): r for r in chain.from_iterable(batches.values())}
        for out in chain.from_iterable(delivered.values()):
            ours = next((value for name, value in out.headers if name == TRACEPARENT), None)
            record = inputs.get((out.source.topic, out.source.partition, out.source.offset))
            parent = _incoming(self._trace, record.headers) if ours is not None and record is not None else None
            if parent is None:
                continue
            token = _CHOSEN.set(int(ours.split(b"-")[2], 16))
            try:
                span = self._tracer.start_span(
                    "moderate", context=self._trace.set_span_in_context(self._trace.NonRecordingSpan(parent)),
                    start_time=started, links=links,
                    attributes={"messaging.system": "kafka", "messaging.destination.name": out.topic,
                                "messaging.kafka.offset": record.offset,
                                "messaging.destination.partition.id": str(record.partition),
                                "moderation.outcome": out.decision.decision if out.decision else "deadlettered"})
            finally:
                _CHOSEN.reset(token)
            span.end(end_time=ended)


def _incoming(trace: Any, headers: Any) -> Any:
    """The SpanContext of a record's valid ``traceparent`` (with its tracestate), or None."""
    parents = [value for name, value in headers or () if name == TRACEPARENT]
    parsed = parse_traceparent(parents[0]) if len(parents) == 1 and parents[0] else None
    if parsed is None:
        return None
    trace_id, parent_id, flags = parsed
    states = [value.decode("ascii", "replace") for name, value in headers if name == TRACESTATE and value]
    return trace.SpanContext(int(trace_id, 16), int(parent_id, 16), is_remote=True,
                             trace_flags=trace.TraceFlags(int(flags, 16) & 0xFF),
                             trace_state=trace.TraceState.from_header(states) if states else None)
