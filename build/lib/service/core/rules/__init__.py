"""The publish-rule language: YAML rules, checked and compiled once at load, evaluated per event.

    load_rules(text, source) -> RuleSet      raises RulesError (every problem, with file:line and rule id)
    RuleSet.evaluate(article, document, now) -> RulesOutcome(approved, fired, reasons)

See docs/rules.md for the language and its decision semantics.
"""

from service.core.rules.compile import load_rules
from service.core.rules.model import RULES_DEFAULT_REJECT, Problem, RulesError, RulesOutcome
from service.core.rules.ruleset import RuleSet

__all__ = ["RULES_DEFAULT_REJECT", "Problem", "RuleSet", "RulesError", "RulesOutcome", "load_rules"]
