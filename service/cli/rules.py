"""``moderation rules validate`` and ``moderation rules diff``: what a rule author runs before deploying.

validate FILE...               load each file as the service would; print ``ok FILE VERSION N rules`` (plus
                               ``(K review)`` for review rules, ``(default: review)``) or every problem
                               (file:line: rule 'id': ...); exit 1 if any file is invalid, 2 if one is missing
                               (the convention of service/cli/common.py)
diff OLD NEW PATH...           decide a corpus of event files (JSON, front matter, .jsonl; directories are
                               walked) with both rule files, print every decision the new file changes and
                               a summary (flips between approved, rejected and review); ``--json`` prints
                               JSON lines instead. Without ``--keys`` signatures are not checked (the diff
                               is about rules); with it they are, as in the service. A rules file that does
                               not load is a usage error (exit 2), as in ``check``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from service.cli.common import EXIT_FAILED, add_command, load_cli_keyring, parse_time, read_cli_rules
from service.core.decide import decide
from service.core.envelope import reason_dict
from service.errors import RulesError, UsageError
from service.files.eventfiles import iter_event_files
from service.files.rules_file import read_rules


def add_parsers(subparsers: Any) -> None:
    rules = subparsers.add_parser("rules", help="validate rule files and preview their effect")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")

    validate = add_command(sub, "validate", cmd_validate, help="check rule files; exit 1 on any problem")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")

    diff = add_command(sub, "diff", cmd_diff, help="show which decisions a new rules file would change")
    diff.add_argument("old", type=Path, metavar="OLD", help="the rules file in use")
    diff.add_argument("new", type=Path, metavar="NEW", help="the proposed rules file")
    diff.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="event files or directories")
    diff.add_argument("--keys", type=Path, help="verify signatures with the keys in this directory")
    diff.add_argument("--allow-loose-key-permissions", action="store_true", help=argparse.SUPPRESS)
    diff.add_argument("--now", help="reference time for the rules, ISO 8601 (default: now)")
    diff.add_argument("--json", action="store_true", help="JSON lines: one per change, then a summary")


def cmd_validate(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    failed = 0
    for path in args.files:
        try:
            rules = read_rules(path)
        except RulesError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem)
            print(f"invalid {path}: {len(exc.problems)} problem(s)")
            continue
        held = sum(rule.action == "review" for rule in rules.compiled)
        extra = f" ({held} review)" if held else ""
        extra += f" (default: {rules.default})" if rules.default == "review" else ""
        print(f"ok {path} {rules.version} {len(rules)} rules{extra}")
    return EXIT_FAILED if failed else 0


def cmd_diff(args: argparse.Namespace) -> int:
    old, new = read_cli_rules(args.old), read_cli_rules(args.new)
    keyring = None
    if args.keys is not None:
        keyring = load_cli_keyring(args.keys, args.allow_loose_key_permissions)
    now = parse_time(args.now)
    counts = {"events": 0, **dict.fromkeys(FLIPS, 0), "reasons": 0}
    for source, value in iter_event_files(_expand(args.paths)):
        counts["events"] += 1
        before, after = decide(value, (), keyring, old, now), decide(value, (), keyring, new, now)
        change = _change(before, after)
        if change is None:
            continue
        counts[change] += 1
        _print_change(source, change, before, after, args.json)
    _print_summary(counts, old.version, new.version, args.json)
    return 0


# Every way a decision can change; the review outcome (rules `action: review`) flips like the other two.
FLIPS = tuple(
    f"{a}->{b}" for a, b in (
        ("approved", "rejected"), ("rejected", "approved"), ("approved", "review"), ("review", "approved"),
        ("rejected", "review"), ("review", "rejected"),
    )
)


def _expand(paths: list[Path]) -> Iterator[Path]:
    """Files as given; directories walked in name order, skipping hidden files."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


def _change(before: Any, after: Any) -> str | None:
    if before.decision != after.decision:
        return f"{before.decision}->{after.decision}"
    if _codes(before) != _codes(after) or before.rulesFired != after.rulesFired:
        return "reasons"
    return None


def _codes(decision: Any) -> list[tuple[str, str | None, str | None]]:
    return [(r.code, r.rule, r.path) for r in decision.reasons]


def _side(decision: Any) -> dict[str, Any]:
    return {
        "decision": decision.decision,
        "reasons": [reason_dict(reason) for reason in decision.reasons],
        "rulesFired": list(decision.rulesFired),
    }


def _print_change(source: str, change: str, before: Any, after: Any, as_json: bool) -> None:
    if as_json:
        row = {"source": source, "change": change, "old": _side(before), "new": _side(after)}
        sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        sys.stdout.flush()
        return
    print(f"{source}: {change}")
    for label, decision in (("old", before), ("new", after)):
        fired = ", ".join(decision.rulesFired) or "-"
        print(f"  {label}: {decision.decision:<9} fired: {fired}")
        for reason in decision.reasons:
            print(f"       {reason.code}: {reason.message}")


def _print_summary(counts: dict[str, int], old: str, new: str, as_json: bool) -> None:
    flips = sum(counts[flip] for flip in FLIPS)
    unchanged = counts["events"] - flips - counts["reasons"]
    if as_json:
        summary = {**counts, "unchanged": unchanged, "oldVersion": old, "newVersion": new}
        sys.stdout.buffer.write(orjson.dumps({"summary": summary}) + b"\n")
        return
    # approved<->rejected always shown; flips to or from review only when there are some
    shown = [flip for flip in FLIPS if flip in FLIPS[:2] or counts[flip]]
    detail = ", ".join(f"{counts[flip]} {flip}" for flip in shown)
    print(
        f"{counts['events']} events: {flips} decisions changed ({detail}),"
        f" {counts['reasons']} reasons changed, {unchanged} unchanged"
    )
