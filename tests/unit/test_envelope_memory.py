"""A published decision holds the memory of its bytes, not the buffer orjson wrote it into (issue 14, peak RSS)."""

from __future__ import annotations

import tracemalloc

import orjson

from service.core.envelope import encode


def _retained_per_object(make, count: int = 300) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(i) for i in range(count)]
        return (tracemalloc.get_traced_memory()[0] - before - 8 * len(kept)) / count
    finally:
        tracemalloc.stop()


def test_an_encoded_decision_keeps_about_its_own_size() -> None:
    event = {"decision": "approved", "article": {"title": "t" * 1200, "excerpt": "e" * 1200}}
    size = len(encode(event))
    assert encode(event) == orjson.dumps(event, option=orjson.OPT_UTC_Z)
    # orjson 3.13's own result kept ~3x its length here (the buffer it wrote into); the copy keeps the length.
    assert _retained_per_object(lambda i: encode({**event, "n": i})) < size + 200
