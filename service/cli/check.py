"""``moderation check``: decide event files offline, with the service's core and rules, one JSON line per event.

Rows: ``{"source", "decision", "reasons", "rulesFired", "rulesVersion", "signer", "signature", "title"}``;
``signature`` is ``"verified"``, ``"failed"`` (a ``signature.*`` reason), ``"not reached"`` (the event was
rejected before the signature step: unreadable, or not an article) or ``"skipped"`` (``--no-verify``: the rules
are applied to every readable event, for rule authors without keys).
An exact copy of a signed event later in the files is a replay, as in the service.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from service.cli.common import (
    DEFAULT_RULES,
    DEFAULT_RULES_HELP,
    add_command,
    load_cli_keyring,
    parse_time,
    read_cli_rules,
)
from service.core.decide import decide_record
from service.core.decision import Decision
from service.core.envelope import outcome_fields
from service.core.replay import ReplayWindows
from service.core.signature import Keyring
from service.files.eventfiles import iter_event_files


def add_parsers(sub: Any) -> None:
    check = add_command(sub, "check", cmd_check, help="decide event files offline, one JSON decision per event")
    check.add_argument("paths", nargs="+", metavar="PATH", help="event files: JSON, front matter, or .jsonl")
    check.add_argument("--rules", type=Path, default=DEFAULT_RULES, help=DEFAULT_RULES_HELP)
    verify = check.add_mutually_exclusive_group()
    verify.add_argument("--keys", type=Path, help="directory of verification keys (default: none, so no "
                        "signature verifies)")
    verify.add_argument("--no-verify", action="store_true", help="skip the signature step: rules only (dry-run)")
    check.add_argument("--now", help="reference time for the rules, ISO 8601 (default: now)")
    check.add_argument("--allow-loose-key-permissions", action="store_true", help=argparse.SUPPRESS)


def cmd_check(args: argparse.Namespace) -> int:
    """Decide every event in the given files offline and print one JSON decision per event."""
    rules = read_cli_rules(args.rules)
    keyring: Keyring | None = None if args.no_verify else Keyring(())
    if args.keys is not None:
        keyring = load_cli_keyring(args.keys, args.allow_loose_key_permissions)
    now = parse_time(args.now)
    replay = ReplayWindows().batch()  # an exact copy of a signed event later in the corpus is a replay too
    out = sys.stdout.buffer
    for source, value in iter_event_files(args.paths):
        decision = decide_record(value, (), keyring, rules, now, replay=replay, partition="check", where=source)
        out.write(orjson.dumps(row(source, decision, verified=keyring is not None)) + b"\n")
        out.flush()
    if args.keys is None and not args.no_verify:
        print("note: without --keys no signature verifies; --no-verify applies the rules only", file=sys.stderr)
    return 0


def signature_step(decision: Decision) -> str:
    if decision.signer:
        return "verified"
    failed = any(reason.code.startswith("signature.") for reason in decision.reasons)
    return "failed" if failed else "not reached"


def row(source: str, decision: Decision, *, verified: bool) -> dict[str, Any]:
    article = decision.article if isinstance(decision.article, dict) else {}
    return {
        "source": source,
        **outcome_fields(decision),
        "signature": signature_step(decision) if verified else "skipped",
        "title": article.get("title"),
    }
