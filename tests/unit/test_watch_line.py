"""``moderation watch`` and ``make run`` print one line per decision; a record with no article says why."""

import orjson

from service.cli.kafka import format_decision_line


def line(event: dict) -> str:
    return format_decision_line("articles.rejected", orjson.dumps(event), "articles.deadletter")


def test_a_decision_line_names_the_outcome_the_reasons_and_the_title():
    out = line({"decision": "rejected", "reasons": [{"code": "quality.too_low"}], "article": {"title": "Ten gadgets"},
                "source": {"partition": 0, "offset": 3}})
    assert "quality.too_low" in out and "Ten gadgets" in out


def test_a_record_without_an_article_says_whether_it_was_undecodable_or_not_an_article():
    assert "(not an article)" in line({"decision": "rejected", "reasons": [{"code": "schema.wrong_type"}],
                                       "article": None, "source": {"partition": 0, "offset": 2}})
    assert "(undecodable record)" in line({"decision": "rejected", "reasons": [{"code": "input.not_utf8"}],
                                           "article": None, "source": {"partition": 0, "offset": 1}})


def test_a_dead_letter_is_named_by_its_size():
    assert format_decision_line("articles.deadletter", b"abc", "articles.deadletter") == "DEAD-LETTER  3 bytes"
