"""load_rules(text, source) -> RuleSet: parse, check and compile a rules file, all or nothing.

Every problem is collected (with the file, line and rule id) and raised together as one RulesError; a
RuleSet is only returned when every rule compiled. Pure: the caller reads the file.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from service.core.rules.conditions import Context, compile_condition
from service.core.rules.evaluate import check_template, make_renderer
from service.core.rules.model import Problem, Rule, RulesError
from service.core.rules.ruleset import RuleSet
from service.core.rules.yamltree import YamlProblem, YList, YMap, read_yaml

TOP_KEYS = ("rules", "lists", "defaults")
DEFAULT_KEYS = ("decision", "priority")
RULE_KEYS = ("id", "description", "priority", "when", "action", "reason", "message", "stop")
RESERVED_CODES = ("input.", "schema.", "signature.", "internal.", "rules.")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CODE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_LIST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load_rules(text: str, source: str = "<rules>") -> RuleSet:
    problems: list[Problem] = []
    version = "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        doc = read_yaml(text)
    except YamlProblem as exc:
        raise RulesError([Problem(source, exc.line, None, exc.message)]) from None
    if not isinstance(doc, YList | YMap):
        raise RulesError([Problem(source, 1, None, "expected a list of rules, or a mapping with `rules:`")])
    top = doc if isinstance(doc, YMap) else _empty_map()

    def report(line: int | None, message: str, rule: str | None = None) -> None:
        problems.append(Problem(source, line, rule, message))

    for key in top:
        if key not in TOP_KEYS:
            report(top.lines[key], f"unknown top-level key {key!r} (expected {', '.join(TOP_KEYS)})")
    default, base_priority = _defaults(top.get("defaults"), top.lines.get("defaults"), report)
    lists = _lists(top.get("lists"), top.lines.get("lists"), report)
    entries = doc if isinstance(doc, YList) else top.get("rules")
    if not isinstance(entries, YList):
        report(top.lines.get("rules", doc.line), "`rules` must be a list of rules")
        entries = YList()
        entries.lines = []
    compiled: list[Rule] = []
    first_line: dict[str, int] = {}
    for index, entry in enumerate(entries):
        rule = _rule(entry, entries.lines[index], index, base_priority, lists, report, first_line)
        if rule is not None:
            compiled.append(rule)
    if problems:
        raise RulesError(problems)
    compiled.sort(key=lambda rule: -rule.priority)  # stable: ties keep file order
    return RuleSet(version=version, source=source, default=default, compiled=tuple(compiled))


def _empty_map() -> YMap:
    empty = YMap()
    empty.line, empty.lines = 1, {}
    return empty


def _defaults(node: Any, line: int | None, report: Any) -> tuple[str, int]:
    if node is None:
        return "approve", 0
    if not isinstance(node, YMap):
        report(line, "`defaults` must be a mapping (decision, priority)")
        return "approve", 0
    for key in node:
        if key not in DEFAULT_KEYS:
            report(node.lines[key], f"unknown key {key!r} in defaults (expected {', '.join(DEFAULT_KEYS)})")
    decision = node.get("decision", "approve")
    if decision not in ("approve", "reject"):
        report(node.lines.get("decision"), f"defaults.decision must be approve or reject, got {decision!r}")
    priority = node.get("priority", 0)
    if not _is_int(priority):
        report(node.lines.get("priority"), f"defaults.priority must be a whole number, got {priority!r}")
        priority = 0
    return str(decision), priority


def _lists(node: Any, line: int | None, report: Any) -> dict[str, list[str]]:
    if node is None:
        return {}
    if not isinstance(node, YMap):
        report(line, "`lists` must map list names to lists of terms")
        return {}
    lists: dict[str, list[str]] = {}
    for name, terms in node.items():
        where = node.lines[name]
        if not _LIST_NAME.fullmatch(name):
            report(where, f"list name {name!r} must be letters, digits and _")
        elif not isinstance(terms, YList) or not terms:
            report(where, f"list {name!r} must be a non-empty list of terms")
        else:
            bad = [i for i, term in enumerate(terms) if not isinstance(term, str) or not term.strip()]
            for i in bad[:5]:
                report(terms.lines[i], f"list {name!r}: terms must be non-empty text, got {terms[i]!r}")
            lists[name] = list(terms)
    return lists


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rule(
    node: Any, line: int, index: int, base_priority: int, lists: dict, report: Any, first_line: dict[str, int]
) -> Rule | None:
    if not isinstance(node, YMap):
        report(line, f"rule #{index + 1} must be a mapping with id, description, when, action")
        return None
    rule_id = node.get("id")
    name = rule_id if isinstance(rule_id, str) else f"#{index + 1}"
    failed = False

    def fail(at: int | None, message: str) -> None:
        nonlocal failed
        failed = True
        report(at, message, name)

    at = node.lines.get
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        fail(at("id", node.line), f"`id` must be letters, digits, '.', '_' or '-' (got {rule_id!r})")
    elif rule_id in first_line:
        fail(at("id"), f"duplicate id (first defined on line {first_line[rule_id]})")
    else:
        first_line[rule_id] = at("id", node.line)
    for key in node:
        if key not in RULE_KEYS:
            fail(node.lines[key], f"unknown key {key!r} (rule keys: {', '.join(RULE_KEYS)})")
    description = node.get("description")
    if not isinstance(description, str) or not description.strip():
        fail(at("description", node.line), "`description` must say what the rule is for")
    priority = node.get("priority", base_priority)
    if not _is_int(priority):
        fail(at("priority"), f"`priority` must be a whole number, got {priority!r}")
    action = node.get("action")
    if action not in ("approve", "reject"):
        fail(at("action", node.line), f"`action` must be approve or reject, got {action!r}")
    stop = node.get("stop", False)
    if not isinstance(stop, bool):
        fail(at("stop"), f"`stop` must be true or false, got {stop!r}")
    reason, message = node.get("reason"), node.get("message")
    if action == "approve":
        for key in ("reason", "message", "stop"):
            if key in node:
                fail(at(key), f"`{key}` does not apply to approve rules (an approve rule always stops)")
    elif action == "reject":
        if not isinstance(reason, str) or not _CODE.fullmatch(reason):
            wanted = "a `reason` code, lowercase with dots (quality.too_low)"
            fail(at("reason", node.line), f"reject rules need {wanted}, got {reason!r}")
        elif reason.startswith(RESERVED_CODES):
            fail(at("reason"), f"reason codes starting with {', '.join(RESERVED_CODES)} are reserved")
        message = description if message is None else message
        try:
            if not isinstance(message, str):
                raise ValueError(f"`message` must be text, got {message!r}")
            check_template(message)
        except ValueError as exc:
            fail(at("message", node.line), str(exc))
    ctx = Context(lambda where, text: fail(where, text), lists)
    try:
        when = compile_condition(node.get("when"), at("when", node.line), ctx) if "when" in node else None
    except Exception as exc:  # a shape the compiler did not foresee: a load error naming the rule, never a crash
        fail(at("when", node.line), f"cannot compile this condition ({type(exc).__name__}: {exc})")
        when = None
    if "when" not in node:
        fail(node.line, "`when` is required (the condition under which the rule fires)")
    if failed or when is None:
        return None
    render = make_renderer(message, name) if action == "reject" else None
    return Rule(name, priority, action, reason, stop, when, render, description)
