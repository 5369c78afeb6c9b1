"""Decision semantics: priority order, approve stops, rejects accumulate, stop, the default, messages."""

from __future__ import annotations

from rules_helpers import NOW, make_article, rules_yaml

from service.core.reasons import Reason
from service.core.rules import RULES_DEFAULT_REJECT, load_rules

YES = {"field": "title", "exists": True}  # always true for a valid article
NO = {"field": "title", "missing": True}


def reject(rule_id: str, priority: int = 0, when: dict = YES, **extra) -> dict:
    return {"id": rule_id, "description": f"rule {rule_id}", "priority": priority, "when": when,
            "action": "reject", "reason": f"test.{rule_id}"} | extra  # fmt: skip


def approve(rule_id: str, priority: int = 0, when: dict = YES) -> dict:
    return {"id": rule_id, "description": f"rule {rule_id}", "priority": priority, "when": when,
            "action": "approve"}  # fmt: skip


def run(*rules: dict, **top):
    return load_rules(rules_yaml(*rules, **top)).evaluate(make_article(), {}, NOW)


def test_no_rule_matching_approves_by_default():
    outcome = run(reject("a", when=NO))
    assert outcome.approved and outcome.fired == () and outcome.reasons == ()


def test_the_default_can_be_reject_with_a_reason():
    outcome = run(reject("a", when=NO), defaults={"decision": "reject"})
    assert not outcome.approved and outcome.fired == ()
    assert [r.code for r in outcome.reasons] == [RULES_DEFAULT_REJECT]
    assert run(approve("ok"), defaults={"decision": "reject"}).approved


def test_rules_run_by_priority_then_file_order():
    listed = (reject("low", 1), reject("high", 9), reject("mid-a", 5), reject("mid-b", 5))
    rules = load_rules(rules_yaml(*listed))
    assert rules.rules == ("high", "mid-a", "mid-b", "low")
    assert rules.evaluate(make_article(), {}, NOW).fired == ("high", "mid-a", "mid-b", "low")


def test_every_matching_reject_adds_its_reason():
    outcome = run(reject("a", 3), reject("b", 2, when=NO), reject("c", 1))
    assert not outcome.approved
    assert outcome.fired == ("a", "c")
    assert [(r.code, r.rule) for r in outcome.reasons] == [("test.a", "a"), ("test.c", "c")]


def test_stop_ends_evaluation_after_a_reject():
    outcome = run(reject("a", 3, stop=True), reject("b", 2))
    assert outcome.fired == ("a",) and not outcome.approved


def test_approve_stops_evaluation_and_approves():
    outcome = run(approve("ok", 5), reject("later", 1))
    assert outcome.approved and outcome.fired == ("ok",) and outcome.reasons == ()


def test_approve_does_not_override_an_earlier_reject():
    outcome = run(reject("early", 9), approve("ok", 5), reject("later", 1))
    assert not outcome.approved
    assert outcome.fired == ("early", "ok")  # the approve rule matched (and stopped evaluation)
    assert [r.rule for r in outcome.reasons] == ["early"]


def test_equal_priority_keeps_file_order_for_approve_and_reject():
    assert not run(reject("first", 5), approve("second", 5)).approved
    assert run(approve("first", 5), reject("second", 5)).approved


def test_an_approve_rule_that_does_not_match_changes_nothing():
    outcome = run(approve("ok", 5, when=NO), reject("later", 1))
    assert not outcome.approved and outcome.fired == ("later",)


def test_defaults_priority_applies_to_rules_without_one():
    low = reject("low", 1)
    implicit = {k: v for k, v in reject("implicit").items() if k != "priority"}
    rules = load_rules(rules_yaml(low, implicit, defaults={"priority": 5}))
    assert rules.rules == ("implicit", "low")


def test_messages_quote_match_value_field_and_rule():
    rule = reject("words", when={"field": "title", "text": ["facial recognition"]},
                  message="{rule}: {field} has '{match}' in '{value}'")  # fmt: skip
    (reason,) = run(rule).reasons
    title = make_article().title
    expected = f"words: title has 'facial recognition' in '{title}'"
    assert reason == Reason("test.words", expected, "words", "title")


def test_message_defaults_to_the_description_and_long_values_are_cut():
    (reason,) = run(reject("a")).reasons
    assert reason.message == "rule a"
    long_title = "x" * 900
    rule = reject("long", when={"field": "title", "length": {"gt": 500}}, message="{value}")
    (reason,) = load_rules(rules_yaml(rule)).evaluate(make_article(title=long_title), {}, NOW).reasons
    assert len(reason.message) == 200 and reason.message.endswith("…")


def test_a_not_condition_has_no_field_to_report():
    (reason,) = run(reject("n", when={"not": NO}, message="[{field}][{value}][{match}]")).reasons
    assert reason.path is None and reason.message == "[][][]"


def test_braces_can_be_written_literally():
    (reason,) = run(reject("b", message="{{literal}} {rule}")).reasons
    assert reason.message == "{literal} b"


def test_an_empty_rule_list_approves_everything():
    rules = load_rules("rules: []\n")
    assert rules.rules == () and rules.evaluate(make_article(), {}, NOW).approved
