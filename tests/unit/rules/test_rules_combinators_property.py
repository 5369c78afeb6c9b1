"""all/any/not behave exactly like Python's all/any/not, over random trees of random boolean leaves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import NOW, make_article, rules_yaml

from service.core.rules import load_rules

# Leaves whose truth is known for the seed-like article, in both directions.
LEAVES = {
    True: [
        {"field": "quality", "gt": 10},
        {"field": "title", "text": "clearview"},
        {"field": "provider.domain", "domain": "siliconangle.com"},
        {"field": "images[all].isCached", "equals": True},
    ],
    False: [
        {"field": "quality", "lt": 10},
        {"field": "title", "text": "robots"},
        {"field": "provider.domain", "domain": "example.com"},
        {"field": "images[any].isCached", "equals": False},
    ],
}

leaf = st.tuples(st.booleans(), st.integers(0, 3)).map(lambda t: ("leaf", t[0], LEAVES[t[0]][t[1]]))


def branches(children):
    return st.one_of(
        st.tuples(st.just("all"), st.lists(children, min_size=1, max_size=4)),
        st.tuples(st.just("any"), st.lists(children, min_size=1, max_size=4)),
        st.tuples(st.just("not"), children),
    )


trees = st.recursive(leaf, branches, max_leaves=12)


def to_yaml(tree):
    if tree[0] == "leaf":
        return tree[2]
    if tree[0] == "not":
        return {"not": to_yaml(tree[1])}
    return {tree[0]: [to_yaml(child) for child in tree[1]]}


def truth(tree) -> bool:
    kind = tree[0]
    if kind == "leaf":
        return tree[1]
    if kind == "not":
        return not truth(tree[1])
    values = [truth(child) for child in tree[1]]
    return all(values) if kind == "all" else any(values)


ARTICLE = make_article()


@settings(max_examples=150, deadline=None)
@given(trees)
def test_combinators_agree_with_python(tree):
    rule = {"id": "r", "description": "d", "when": to_yaml(tree), "action": "reject", "reason": "t.r"}
    outcome = load_rules(rules_yaml(rule)).evaluate(ARTICLE, {}, NOW)
    assert (outcome.fired == ("r",)) is truth(tree)
