"""``moderation rules validate`` and ``moderation rules diff``: what a rule author runs before deploying.

validate FILE...               load each file as the service would; print ``ok FILE VERSION N rules`` or every
                               problem (file:line: rule 'id': ...); exit 1 if any file is invalid
diff OLD NEW PATH...           decide a corpus of event files (JSON, front matter, .jsonl; directories are
                               walked) with both rule files, print every decision the new file changes and
                               a summary; ``--json`` prints JSON lines instead. Without ``--keys`` signatures
                               are not checked (the diff is about rules); with it they are, as in the service.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def add_rules_parser(subparsers: Any) -> None:
    rules = subparsers.add_parser("rules", help="validate rule files and preview their effect")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")

    validate = sub.add_parser("validate", help="check rule files; exit 1 on any problem")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    diff = sub.add_parser("diff", help="show which decisions a new rules file would change")
    diff.add_argument("old", type=Path, metavar="OLD", help="the rules file in use")
    diff.add_argument("new", type=Path, metavar="NEW", help="the proposed rules file")
    diff.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="event files or directories")
    diff.add_argument("--keys", type=Path, help="verify signatures with the keys in this directory")
    diff.add_argument("--allow-loose-key-permissions", action="store_true", help=argparse.SUPPRESS)
    diff.add_argument("--now", help="reference time for the rules, ISO 8601 (default: now)")
    diff.add_argument("--json", action="store_true", help="JSON lines: one per change, then a summary")
    diff.set_defaults(func=cmd_diff)


def cmd_validate(args: argparse.Namespace) -> int:
    from service.core.rules import RulesError
    from service.files.rules_file import read_rules

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
        print(f"ok {path} {rules.version} {len(rules)} rules")
    return 1 if failed else 0


def cmd_diff(args: argparse.Namespace) -> int:
    from service.cli import UsageError, load_cli_keyring, parse_time
    from service.core.decide import decide
    from service.core.rules import RulesError
    from service.files.eventfiles import EventFileError, iter_event_files
    from service.files.rules_file import read_rules

    try:
        old, new = read_rules(args.old), read_rules(args.new)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return 1
    keyring = None
    if args.keys is not None:
        keyring = load_cli_keyring(args.keys, args.allow_loose_key_permissions)
    now = parse_time(args.now)
    counts = {"events": 0, "approved->rejected": 0, "rejected->approved": 0, "reasons": 0}
    try:
        for source, value in iter_event_files(_expand(args.paths)):
            counts["events"] += 1
            before, after = decide(value, (), keyring, old, now), decide(value, (), keyring, new, now)
            change = _change(before, after)
            if change is None:
                continue
            counts[change] += 1
            _print_change(source, change, before, after, args.json)
    except EventFileError as exc:
        raise UsageError(str(exc)) from None
    _print_summary(counts, old.version, new.version, args.json)
    return 0


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
    from service.core.envelope import reason_dict

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
    flips = counts["approved->rejected"] + counts["rejected->approved"]
    unchanged = counts["events"] - flips - counts["reasons"]
    if as_json:
        summary = {**counts, "unchanged": unchanged, "oldVersion": old, "newVersion": new}
        sys.stdout.buffer.write(orjson.dumps({"summary": summary}) + b"\n")
        return
    to_rejected, to_approved = counts["approved->rejected"], counts["rejected->approved"]
    print(
        f"{counts['events']} events: {flips} decisions changed ({to_rejected} approved->rejected,"
        f" {to_approved} rejected->approved), {counts['reasons']} reasons changed, {unchanged} unchanged"
    )
