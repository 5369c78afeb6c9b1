"""load_rules refuses bad files whole, naming the file, the line and the rule id of every problem."""

from __future__ import annotations

import hashlib

import pytest
from rules_helpers import one_rule, reject_rule, rules_yaml

from service.core.rules import RulesError, load_rules


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(text, "policy.yaml")
    return [str(p) for p in caught.value.problems]


def only_problem(when: dict) -> str:
    with pytest.raises(RulesError) as caught:
        one_rule(when)
    assert len(caught.value.problems) == 1, caught.value
    return str(caught.value.problems[0])


GOOD = """\
rules:
  - id: ok
    description: fine
    when: {field: quality, lt: 10}
    action: reject
    reason: quality.too_low
"""

BAD = """\
rules:
  - id: first
    description: a typo'd field
    when: {field: qualty, lt: 10}
    action: reject
    reason: quality.too_low
  - id: second
    description: an unknown operator, nested
    when:
      any:
        - {field: title, contains: foo}
    action: reject
    reason: text.bad
  - id: first
    description: a duplicate id, and a bad regex
    when: {field: title, text: '(a)\\1', match: regex}
    action: reject
    reason: text.bad
"""


def test_every_problem_is_reported_with_file_line_and_rule_id():
    found = problems(BAD)
    assert len(found) == 4, found
    assert found[0].startswith("policy.yaml:4: rule 'first':")
    assert "Article has no field 'qualty'" in found[0]
    assert found[1].startswith("policy.yaml:11: rule 'second': unknown operator 'contains'")
    assert found[2] == "policy.yaml:14: rule 'first': duplicate id (first defined on line 2)"
    assert found[3].startswith("policy.yaml:16: rule 'first': title: RE2 cannot compile")


def test_a_good_file_loads_with_version_source_and_ids():
    rules = load_rules(GOOD, "policy.yaml")
    assert rules.version == "sha256:" + hashlib.sha256(GOOD.encode()).hexdigest()
    assert rules.source == "policy.yaml" and rules.rules == ("ok",) and rules.default == "approve"


def test_a_bare_list_of_rules_is_a_rules_file():
    rules = load_rules(GOOD.replace("rules:\n", "").replace("\n  ", "\n").lstrip(), "x")
    assert rules.rules == ("ok",)


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ({"field": "provider.nam", "exists": True}, "Provider has no field 'nam'"),
        ({"field": "images[any].cached", "exists": True}, "Image has no field 'cached'"),
        ({"field": "related[any].images[any].size", "gt": 1}, "Image has no field 'size'"),
        ({"field": "images.url", "exists": True}, "write images[any] or images[all]"),
        ({"field": "title[any]", "exists": True}, "not a list"),
        ({"field": "title.x", "exists": True}, "has no field 'x'"),
        ({"field": "images[some].url", "exists": True}, "bad path segment"),
        ({"field": "quality", "text": "x"}, "`text` applies to str fields"),
        ({"field": "title", "gt": 3}, "`gt` applies to int fields"),
        ({"field": "quality", "gt": "3"}, "needs a number"),
        ({"field": "quality", "gt": True}, "needs a number"),
        ({"field": "quality", "equals": "47"}, "expected a int"),
        ({"field": "published", "equals": 1}, "expected a bool"),
        ({"field": "title", "in": [1, 2]}, "expected a str"),
        ({"field": "topics", "text": "ai"}, "use [any] or [all]"),
        ({"field": "topics", "equals": "ai"}, "use [any]/[all]"),
        ({"field": "provider", "equals": "x"}, "name one of its fields"),
        ({"field": "publishedDateTime", "before": "yesterday"}, "not an ISO 8601"),
        ({"field": "publishedDateTime", "before": "2020-01-01T00:00:00"}, "with a timezone"),
        ({"field": "publishedDateTime", "older_than": "30 dayz"}, "expected a duration"),
        ({"field": "publishedDateTime", "older_than": 30}, "expected a duration"),
        ({"field": "title", "length": {"gt": 5, "lt": 3}}, "can never hold"),
        ({"field": "title", "length": 5}, "takes a mapping"),
        ({"field": "quality", "length": {"gt": 1}}, "`length` applies to text and list"),
        ({"field": "title", "exists": "yes"}, "takes true or false"),
        ({"field": "title", "text": "x", "match": "fuzzy"}, "`match` must be one of"),
        ({"field": "title", "text": "x", "case_sensitive": "no"}, "must be true or false"),
        ({"field": "title", "equals": "x", "match": "word"}, "only apply to `text`"),
        ({"field": "title", "text": ""}, "non-empty strings"),
        ({"field": "title", "text": []}, "at least one value"),
        ({"field": "title", "text": [{"list": "nope"}]}, "naming one of `lists:`"),
        ({"field": "provider.domain", "domain": "not a domain"}, "expected a domain"),
        ({"field": "webUrl", "scheme": "ht tp"}, "expected a URL scheme"),
        ({"field": "title"}, "exactly one operator, found none"),
        ({"field": "title", "equals": "a", "in": ["b"]}, "exactly one operator, found equals, in"),
        ({"equals": "a"}, "needs a `field`"),
        ({"all": []}, "non-empty list"),
        ({"all": [{"field": "title", "exists": True}], "any": []}, "must stand alone"),
        ({"not": "title"}, "a condition is a mapping"),
    ],
)
def test_condition_mistakes(when, fragment):
    message = only_problem(when)
    assert message.startswith("test.yaml:") and "rule 'r':" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"action": "remove"}, "`action` must be approve, reject or review"),
        ({"reason": None}, "need a `reason` code"),
        ({"reason": "Has Spaces"}, "need a `reason` code"),
        ({"reason": "signature.fake"}, "are reserved"),
        ({"priority": "high"}, "`priority` must be a whole number"),
        ({"stop": "yes please"}, "`stop` must be true or false"),
        ({"message": "{match.__class__}"}, "is not one of"),
        ({"message": "{0}"}, "is not one of"),
        ({"message": "{value!r}"}, "is not one of"),
        ({"message": "unbalanced {"}, "literal braces"),
        ({"description": ""}, "`description` must say"),
        ({"id": "has space"}, "`id` must be"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_rule_mistakes(changes, fragment):
    rule = reject_rule({"field": "title", "exists": True}) | changes
    rule = {k: v for k, v in rule.items() if v is not None}
    found = problems(rules_yaml(rule))
    assert any(fragment in p for p in found), found


def test_approve_rules_carry_no_reason():
    rule = {"id": "a", "description": "d", "when": {"field": "title", "exists": True}, "action": "approve"}
    found = problems(rules_yaml(rule | {"reason": "x.y"}))
    assert "does not apply to approve rules" in found[0]


def test_missing_when_is_an_error():
    no_when = {"id": "a", "description": "d", "action": "approve"}
    assert "`when` is required" in problems(rules_yaml(no_when))[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("rules: [\n", "not valid YAML"),
        ("rules: x\n", "`rules` must be a list"),
        ("rulez: []\n", "unknown top-level key 'rulez'"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("rules: []\nrules: []\n", "duplicate key 'rules'"),
        ("!!python/object:os.system {}\n", "tag"),
        ("rules: !!python/name:os.system\n", "tag"),
        ("rules: []\nlists: {a: !!binary aGk=}\n", "tag"),
        ("rules: []\ndefaults: {decision: maybe}\n", "defaults.decision"),
        ("rules: []\nlists: {bad: []}\n", "non-empty list"),
        ("rules: []\nlists: {bad: [ok, 3]}\n", "terms must be non-empty text"),
        ("42\n", "expected a list of rules"),
    ],
)
def test_file_level_mistakes(text, fragment):
    found = problems(text)
    assert any(fragment in p for p in found), found
    assert all(p.startswith("policy.yaml") for p in found)


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    found = problems("\n".join(lines) + "\nrules: []\n")
    assert any("aliases" in p or "YAML nodes" in p for p in found), found


def test_a_few_aliases_are_fine():
    text = GOOD + "  - id: two\n    description: d\n    when: &c {field: quality, lt: 5}\n"
    text += "    action: reject\n    reason: q.low\n"
    text += "  - id: three\n    description: d\n    when: *c\n    action: reject\n    reason: q.low\n"
    assert load_rules(text).rules == ("ok", "two", "three")


def test_nothing_is_half_loaded():
    text = GOOD + "  - id: broken\n    description: d\n    when: {field: nope, exists: true}\n"
    text += "    action: reject\n    reason: q.low\n"
    with pytest.raises(RulesError) as caught:
        load_rules(text, "policy.yaml")
    assert len(caught.value.problems) == 1  # the good rule is not returned on its own
