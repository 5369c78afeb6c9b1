"""CloudEvents attributes and W3C trace context on every record the service writes. Pure.

Every output record is a CloudEvent in the **binary content mode of the Kafka protocol binding** (CloudEvents
1.0): the value is the data unchanged (the decision JSON, or a dead letter's original bytes) and the attributes
travel as headers, so a consumer reads them with any CloudEvents SDK or plain header access:

    ce_specversion  ``1.0``
    ce_id           ``<input topic>/<partition>/<offset>/<outcome>``: unique per decision, and the same when a
                    record is decided again (at-least-once redelivery, a retried transaction), so consumers can
                    de-duplicate on (ce_source, ce_id)
    ce_source       the ``cloudevents_source`` setting (MODERATION_CLOUDEVENTS_SOURCE)
    ce_type         one per outcome, ``TYPES`` below, versioned by a ``.v<N>`` suffix
    ce_time         when the decision was made (the decision's ``decidedAt``), RFC 3339 in UTC
    ce_subject      the article's ``webUrl``; the record key (UTF-8) when there is no article; absent otherwise
    ce_dataschema   the decision schema's ``$id`` (decisions only: a dead letter's value is not a decision)
    content-type    ``application/json`` for decisions. A dead letter keeps the original record's content-type
                    when it declared one and its value is kept, ``application/octet-stream`` otherwise.

The record key is the input key, which the binding maps to the ``partitionkey`` extension. The type prefix
``com.github.article-moderation`` is the project's home (github.com/article-moderation, where the schema ``$id``
points) written in reverse-DNS order, as the CloudEvents spec asks of ``type``.

Trace context: a valid W3C ``traceparent`` on the input record is carried to its output with the same trace id
and flags and a new parent id, the span id of this record's moderation step; ``tracestate`` travels with it
unchanged. That span id is derived, not drawn: the first 8 bytes of SHA-256 over the trace id and the source
coordinates. The core draws no randomness, and a record decided twice names the same step both times (as
``ce_id`` does); the OpenTelemetry shell (service/ops/tracing.py) exports its span under that same id. An
invalid or repeated ``traceparent`` is ignored: the output simply has none (never a rejection).

A dead letter carries the input's own headers: those the service sets itself (``ce_*``, ``content-type``,
``traceparent``, ``tracestate``) are kept renamed ``moderation-original-<name>``, so no header appears twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from service.core.envelope import DECISION_SCHEMA_ID

SPECVERSION = b"1.0"
TYPE_PREFIX = "com.github.article-moderation.article.moderation"
DEADLETTERED = "deadlettered"
# The ce_type of each outcome. A new outcome is one line here (and a channel in the AsyncAPI document).
TYPES = {
    "approved": f"{TYPE_PREFIX}.approved.v1",
    "rejected": f"{TYPE_PREFIX}.rejected.v1",
    "review": f"{TYPE_PREFIX}.review.v1",
    DEADLETTERED: f"{TYPE_PREFIX}.deadlettered.v1",
}
_TYPES = {outcome: kind.encode() for outcome, kind in TYPES.items()}
DEFAULT_SOURCE = "/article-moderation"
JSON, OCTET_STREAM = b"application/json", b"application/octet-stream"
_DATASCHEMA = DECISION_SCHEMA_ID.encode()

TRACEPARENT, TRACESTATE, CONTENT_TYPE = "traceparent", "tracestate", "content-type"
ORIGINAL_PREFIX = "moderation-original-"
# version-traceid-parentid-flags; a future version may append fields after a dash (W3C Trace Context §4.3).
_TRACEPARENT_FORMAT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[ -~]*)?")
_ZERO_TRACE, _ZERO_SPAN = b"0" * 32, b"0" * 16
MAX_TRACESTATE = 512  # what W3C asks every participant to propagate; a longer or odd one is dropped
_TRACESTATE_FORMAT = re.compile(rb"[ -~]*")


def stamp(outgoing: Sequence[Any], records: Sequence[Any], source: str, decided_at: datetime) -> list[Any]:
    """Add the CloudEvents and trace headers to each ``Outgoing`` of a batch.

    Each is paired with its input record by source coordinates (``records[i]`` -> ``outgoing[i]`` as
    ``decide_batch`` builds them, looked up otherwise). The header lists are extended in place:
    ``decide_batch`` builds a fresh one per record.
    """
    time = _rfc3339(decided_at)
    ce_source = source.encode()
    index: dict[tuple[str, int, int], Any] | None = None
    for position, out in enumerate(outgoing):
        src = out.source
        record = records[position] if position < len(records) else None
        if record is None or (record.offset, record.partition, record.topic) != (src.offset, src.partition, src.topic):
            if index is None:
                index = {(r.topic, r.partition, r.offset): r for r in records}
            record = index.get((src.topic, src.partition, src.offset))
        inputs = record.headers if record is not None else None
        decision = out.decision
        outcome = DEADLETTERED if decision is None else decision.decision
        headers = out.headers
        if decision is None:
            headers[:] = [(_original_name(name), value) for name, value in headers]
            content_type = _content_type(inputs) if out.value else None
            subject = _key_text(out.key)
        else:
            content_type = JSON
            subject = subject_of(decision.article, out.key)
        headers += _attributes(src.topic, src.partition, src.offset, outcome, subject, time, ce_source,
                               content_type or OCTET_STREAM, decision is not None)
        headers += trace_headers(inputs, src.topic, src.partition, src.offset)
    return list(outgoing)


def decision_headers(topic: str, partition: int, offset: int, outcome: str, subject: bytes | None,
                     decided_at: datetime, source: str) -> list[tuple[str, bytes]]:
    """The CloudEvents headers of one decision on the input record at ``topic:partition:offset``, for records
    written outside a batch (the review settler's final decisions). The same attributes as ``stamp`` gives a
    decision: ``ce_id`` ``<topic>/<partition>/<offset>/<outcome>``, so a final decision's id differs from its
    held decision's (outcome ``review``) and is the same each time that one decision is written."""
    return _attributes(topic, partition, offset, outcome, subject, _rfc3339(decided_at), source.encode(), JSON, True)


def subject_of(article: Any, key: bytes | None) -> bytes | None:
    """``ce_subject`` of a decision: the article's ``webUrl``, else the record key when it is UTF-8 text."""
    url = article.get("webUrl") if isinstance(article, dict) else None
    return url.encode() if isinstance(url, str) and url else _key_text(key)


def _attributes(topic: str, partition: int, offset: int, outcome: str, subject: bytes | None, time: bytes,
                ce_source: bytes, content_type: bytes, dataschema: bool) -> list[tuple[str, bytes]]:
    headers = [
        ("ce_specversion", SPECVERSION),
        ("ce_id", f"{topic}/{partition}/{offset}/{outcome}".encode()),
        ("ce_source", ce_source),
        ("ce_type", _TYPES.get(outcome) or f"{TYPE_PREFIX}.{outcome}.v1".encode()),
        ("ce_time", time),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject))
    if dataschema:
        headers.append(("ce_dataschema", _DATASCHEMA))
    headers.append((CONTENT_TYPE, content_type))
    return headers


def _rfc3339(moment: datetime) -> bytes:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z").encode()


def trace_headers(headers: Iterable[tuple[str, bytes | None]] | None, topic: str, partition: int,
                  offset: int) -> list[tuple[str, bytes]]:
    """``traceparent`` (and ``tracestate``) for the output of the input record with these ``headers``: the same
    trace, the span of this record's moderation. Empty when the input has no valid traceparent."""
    parents = [value for name, value in headers or () if name == TRACEPARENT]
    if len(parents) != 1 or not parents[0]:
        return []
    parsed = parse_traceparent(parents[0])
    if parsed is None:
        return []
    trace_id, _, flags = parsed
    out = [(TRACEPARENT, b"00-" + trace_id + b"-" + moderation_span_id(trace_id, topic, partition, offset) +
            b"-" + flags)]
    states = [value for name, value in headers or () if name == TRACESTATE and value]
    state = b",".join(states)
    if state and len(state) <= MAX_TRACESTATE and _TRACESTATE_FORMAT.fullmatch(state):
        out.append((TRACESTATE, state))
    return out


def parse_traceparent(value: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(trace id, parent id, flags) as lower-case hex, or None when ``value`` is not a valid traceparent."""
    match = _TRACEPARENT_FORMAT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest) or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def moderation_span_id(trace_id: bytes, topic: str, partition: int, offset: int) -> bytes:
    """16 hex digits naming the moderation of one record within one trace; never all zeros (invalid)."""
    digest = hashlib.sha256(b"%s/%s/%d/%d" % (trace_id, topic.encode(), partition, offset)).hexdigest()[:16]
    return digest.encode() if digest != "0" * 16 else b"0000000000000001"


def _original_name(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("ce_") or lowered in (CONTENT_TYPE, TRACEPARENT, TRACESTATE):
        return ORIGINAL_PREFIX + name
    return name


def _content_type(headers: Iterable[tuple[str, bytes | None]] | None) -> bytes | None:
    for name, value in headers or ():
        if name.lower() == CONTENT_TYPE and value:
            return value
    return None


def _key_text(key: bytes | None) -> bytes | None:
    """The key as ``ce_subject`` (a CloudEvents String): only a non-empty UTF-8 key qualifies."""
    if not key:
        return None
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key
