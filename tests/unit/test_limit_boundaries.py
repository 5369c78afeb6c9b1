"""The structural limits at exactly their edge, for JSON and front matter alike (service/core/limits.py).

"Every limit is inclusive (a value of exactly the limit passes)": mutation testing showed the front matter's
item, value and depth checks could turn strict (`>` into `>=`) without a test noticing, since the tests stayed
far from the limits. Here each limit is met exactly, then exceeded by one, in both encodings.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from service.core.decode import decode_event
from service.core.limits import DEFAULT_LIMITS
from service.core.reasons import Reason


def encoded(document: dict, form: str) -> bytes:
    text = json.dumps(document)
    return (text if form == "json" else f"---\n{text}\n---\n").encode()


def refusal(document: dict, form: str, **limits: int) -> str | None:
    decoded = decode_event(encoded(document, form), dataclasses.replace(DEFAULT_LIMITS, **limits))
    return decoded.code if isinstance(decoded, Reason) else None


def nested(containers: int) -> dict:
    """An event of ``containers`` nested mappings, the event itself included."""
    document: dict = {"leaf": 1}
    for _ in range(containers - 1):
        document = {"a": document}
    return document


@pytest.mark.parametrize("form", ["json", "front matter"])
def test_a_container_of_exactly_max_items_entries_passes(form: str) -> None:
    document = {"l": list(range(5))}
    assert refusal(document, form, max_items=5) is None
    assert refusal(document, form, max_items=4) == "input.too_many_items"


@pytest.mark.parametrize("form", ["json", "front matter"])
def test_exactly_max_values_entries_in_all_pass(form: str) -> None:
    document = {"l": [1, 2, 3]}  # 1 entry in the event + 3 in the list
    assert refusal(document, form, max_values=4) is None
    assert refusal(document, form, max_values=3) == "input.too_many_values"


@pytest.mark.parametrize("form", ["json", "front matter"])
def test_exactly_max_depth_levels_pass(form: str) -> None:
    assert refusal(nested(6), form, max_depth=6) is None
    assert refusal(nested(6), form, max_depth=5) == "input.too_deep"
