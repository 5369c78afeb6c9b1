"""Regressions from the review of the human-review code (service/review, service/core/review_action.py)."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime

import orjson
import structlog
from contract import cloudevent

from service.core import cloudevents as ce
from service.core.envelope import DECISION_SCHEMA_ID
from service.review.settler import Settler
from service.review.view import HeldItem
from service.settings import Settings

Record = namedtuple("Record", "topic partition offset timestamp key value headers")
NOW = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
URL = "https://example.org/a"
SOURCE = {"topic": "articles.incoming", "partition": 1, "offset": 42}


def settler(**settings) -> Settler:
    return Settler(Settings(**settings), lambda: [], structlog.get_logger("test"))


def held(trace=()) -> HeldItem:
    event = {"source": SOURCE, "decision": "review", "article": {"title": "t", "webUrl": URL},
             "decidedAt": "2026-12-02T07:00:00Z", "reasons": []}
    return HeldItem("articles.incoming:1:42", b"held-1", event, trace)


def test_decision_headers_are_the_attributes_stamp_gives_a_decision():
    headers = ce.decision_headers("in", 2, 10, "approved", URL.encode(), NOW, "/svc")
    assert dict(headers) == {"ce_specversion": b"1.0", "ce_id": b"in/2/10/approved", "ce_source": b"/svc",
                             "ce_type": ce.TYPES["approved"].encode(), "ce_time": b"2026-12-02T08:00:00Z",
                             "ce_subject": URL.encode(), "ce_dataschema": DECISION_SCHEMA_ID.encode(),
                             "content-type": b"application/json"}


def test_a_final_decision_is_a_cloudevent_carrying_the_held_records_trace():
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
    item = held(((ce.TRACEPARENT, parent), (ce.TRACESTATE, b"k=v")))
    final = {**item.event, "decision": "rejected", "decidedAt": "2026-12-02T08:00:00Z"}
    action = Record("articles.review.actions", 0, 7, 0, b"articles.incoming:1:42", b"{}", ())
    headers = settler(cloudevents_source="/moderation-test")._headers(item, final, action, NOW)
    record = Record("articles.rejected", 0, 0, 0, item.key, orjson.dumps(final), headers)
    event = cloudevent(record)
    assert event.get_id() == "articles.incoming/1/42/rejected"  # the held one's is .../review
    assert event.get_source() == "/moderation-test"
    assert event.get_type() == ce.TYPES["rejected"]
    assert event.get_time() == NOW and event.get_subject() == URL
    assert event.get_dataschema() == DECISION_SCHEMA_ID and event.get_datacontenttype() == "application/json"
    values = dict(headers)
    assert values["moderation-decision"] == b"rejected" and values["moderation-review"] == b"settled"
    version, trace, span, flags = values["traceparent"].decode().split("-")
    assert (version, trace, flags) == ("00", TRACE_ID, "01") and span != "00f067aa0ba902b7"
    assert values["tracestate"] == b"k=v"
    assert "traceparent" not in dict(settler()._headers(held(), final, action, NOW))
