"""Every time-relative operator at exactly its documented edge (docs/rules.md, Operators).

The other operator tests stay a minute or more away from the edge, where `>` and `>=` agree. Here each edge is
probed at the edge itself and one microsecond either side, so a strict comparison turned inclusive (or back)
fails a test. NOW is the reference time the rules receive (the record's time), never the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from rules_helpers import NOW, fires, make_article

from service.core.article import Article

TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def published(at: datetime) -> Article:
    return make_article(publishedDateTime=at.isoformat())


@pytest.mark.parametrize(
    ("operator", "value", "edge", "holds_before_edge", "holds_at_edge", "holds_after_edge"),
    [
        # older_than: value < now - duration (strict): exactly one hour old is not older than an hour
        ("older_than", "1 hour", NOW - HOUR, True, False, False),
        # newer_than: value > now - duration (strict)
        ("newer_than", "1 hour", NOW - HOUR, False, False, True),
        # future_by: value > now + duration (strict)
        ("future_by", "1 hour", NOW + HOUR, False, False, True),
        ("future_by", "0 seconds", NOW, False, False, True),
        # before / after: strictly before / after the given moment
        ("before", NOW.isoformat(), NOW, True, False, False),
        ("after", NOW.isoformat(), NOW, False, False, True),
    ],
)
def test_time_operators_at_their_documented_edge(
    operator: str, value: str, edge: datetime, holds_before_edge: bool, holds_at_edge: bool, holds_after_edge: bool
) -> None:
    when = {"field": "publishedDateTime", operator: value}
    assert fires(when, published(edge - TICK)) is holds_before_edge
    assert fires(when, published(edge)) is holds_at_edge
    assert fires(when, published(edge + TICK)) is holds_after_edge


def test_the_edge_moves_with_the_reference_time_not_the_value() -> None:
    """older_than measures now - value: the same article crosses the edge when the reference time does."""
    when = {"field": "publishedDateTime", "older_than": "1 hour"}
    article = published(NOW)
    assert not fires(when, article, now=NOW + HOUR)
    assert fires(when, article, now=NOW + HOUR + TICK)
