"""The `review` action: a third outcome, held for a person, and its precedence (docs/rules.md).

Any matching reject -> rejected; else any matching review -> "review"; else approved. A review never stops
evaluation; an approve above every review still ends evaluation, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from rules_helpers import NOW, SEED, make_article, rules_yaml

from service.cli import main
from service.core.decide import decide
from service.core.keys import HMAC_SHA256, SigningKey
from service.core.rules import RULES_DEFAULT_REVIEW, RulesError, load_rules
from service.core.signature import sign_document
from service.files.keydir import write_key_file

YES = {"field": "title", "exists": True}  # true for every valid article
NO = {"field": "title", "missing": True}


def rule(rule_id: str, action: str, priority: int = 0, when: dict = YES, **extra) -> dict:
    body = {"id": rule_id, "description": f"rule {rule_id}", "priority": priority, "when": when, "action": action}
    if action != "approve":
        body["reason"] = f"test.{rule_id}"
    return body | extra


def run(*rules: dict, **top):
    return load_rules(rules_yaml(*rules, **top)).evaluate(make_article(), {}, NOW)


def test_a_matching_review_holds_the_article_with_its_reason_and_message():
    outcome = run(rule("hold", "review", message="held: {match}", when={"field": "title", "text": "clearview"}))
    assert outcome.decision == "review" and outcome.held and not outcome.approved
    assert outcome.fired == ("hold",)
    [reason] = outcome.reasons
    assert (reason.code, reason.rule, reason.path, reason.message) == ("test.hold", "hold", "title", "held: Clearview")


def test_any_matching_reject_wins_over_a_review_above_or_below_it():
    above = run(rule("hold", "review", 9), rule("kill", "reject", 1))
    below = run(rule("kill", "reject", 9), rule("hold", "review", 1))
    for outcome in (above, below):
        assert outcome.decision == "rejected" and not outcome.held
        assert [r.code for r in outcome.reasons] == ["test.kill"]  # only the reasons of the outcome
        assert set(outcome.fired) == {"hold", "kill"}  # both took effect and are listed


def test_a_review_never_stops_evaluation():
    outcome = run(rule("hold", "review", 9), rule("hold-2", "review", 5), rule("kill", "reject", 1))
    assert outcome.fired == ("hold", "hold-2", "kill") and outcome.decision == "rejected"
    outcome = run(rule("hold", "review", 9), rule("hold-2", "review", 5))
    assert outcome.decision == "review" and [r.code for r in outcome.reasons] == ["test.hold", "test.hold-2"]


def test_an_approve_above_every_review_approves_and_ends_evaluation():
    outcome = run(rule("trusted", "approve", 9), rule("hold", "review", 5), rule("kill", "reject", 1))
    assert outcome.decision == "approved" and outcome.fired == ("trusted",) and outcome.reasons == ()


def test_an_approve_below_a_review_leaves_the_article_held():
    outcome = run(rule("hold", "review", 9), rule("trusted", "approve", 5), rule("kill", "reject", 1))
    assert outcome.decision == "review" and outcome.fired == ("hold", "trusted")  # approve still stops


def test_a_reject_with_stop_above_a_review_ends_evaluation_rejected():
    outcome = run(rule("kill", "reject", 9, stop=True), rule("hold", "review", 5))
    assert outcome.decision == "rejected" and outcome.fired == ("kill",)


def test_a_review_that_does_not_match_changes_nothing():
    assert run(rule("hold", "review", when=NO)).decision == "approved"
    assert run(rule("hold", "review", when=NO), rule("kill", "reject")).decision == "rejected"


def test_the_default_decision_can_be_review():
    rules = load_rules(rules_yaml(rule("hold", "review", when=NO), defaults={"decision": "review"}))
    assert rules.default == "review"
    outcome = rules.evaluate(make_article(), {}, NOW)
    assert outcome.decision == "review" and outcome.fired == ()
    assert [r.code for r in outcome.reasons] == [RULES_DEFAULT_REVIEW]
    assert run(rule("ok", "approve"), defaults={"decision": "review"}).decision == "approved"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"reason": None}, "review rules need a `reason` code"),
        ({"reason": "rules.mine"}, "are reserved"),
        ({"stop": True}, "`stop` does not apply to review rules"),
        ({"message": "{nope}"}, "message placeholder {nope}"),
    ],
)
def test_review_rules_are_checked_like_reject_rules(changes, fragment):
    body = {k: v for k, v in (rule("hold", "review") | changes).items() if v is not None}
    with pytest.raises(RulesError) as caught:
        load_rules(rules_yaml(body))
    assert fragment in str(caught.value)


def test_a_bad_default_decision_names_the_three_choices():
    with pytest.raises(RulesError, match="approve, reject or review"):
        load_rules(rules_yaml(rule("hold", "review"), defaults={"decision": "filter"}))


def test_decide_reports_review_held_and_not_approved():
    rules = load_rules(rules_yaml(rule("hold", "review")))
    decision = decide(orjson.dumps(SEED), (), None, rules, NOW)
    assert decision.decision == "review" and decision.held and not decision.approved
    assert [r.code for r in decision.reasons] == ["test.hold"] and decision.rulesFired == ("hold",)


def test_the_decision_schema_knows_review():
    schema = json.loads(Path("schemas/decision.schema.json").read_text())
    assert schema["properties"]["decision"]["enum"] == ["approved", "rejected", "review"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_check_and_diff_show_the_review_outcome(tmp_path, capsys):
    plain = write(tmp_path / "plain.yaml", rules_yaml(rule("hold", "review", when=NO)))
    held = write(tmp_path / "held.yaml", rules_yaml(rule("hold", "review")))
    assert main(["rules", "validate", str(held)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("1 rules (1 review)")

    key = SigningKey("review-test", HMAC_SHA256, ("siliconangle.com",), material=bytes(range(32)))
    (tmp_path / "keys").mkdir()
    write_key_file(tmp_path / "keys" / "review-test.key.json", key.verification_key())
    event = write(tmp_path / "seed.json", json.dumps(SEED | {"secured": sign_document(SEED, key, bytes(16))}))
    argv = ["check", "--rules", str(held), "--keys", str(tmp_path / "keys"), "--now", "2020-05-08T05:00:00Z"]
    assert main([*argv, str(event)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["decision"] == "review" and row["rulesFired"] == ["hold"] and row["signer"] == "review-test"

    args = ["rules", "diff", str(plain), str(held), str(event), "--now", "2020-05-08T05:00:00Z"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{event}: approved->review" in out
    assert out.rstrip().splitlines()[-1].startswith("1 events: 1 decisions changed (0 approved->rejected,"
                                                    " 0 rejected->approved, 1 approved->review)")
    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["new"]["decision"] == "review" and rows[-1]["summary"]["approved->review"] == 1
