"""``moderation review list|approve|reject`` and ``moderation console [add-reviewer]`` (contract: docs/review.md).

The review commands keep the issue's contract, within the CLI convention of common.py: 0 this action settled
the event (list: always 0); 1 it was already settled (one line on stdout naming who settled it first and when);
2 usage errors: unknown id, missing reviewer or reason, no or wrong review-actions signing key
(MODERATION_REVIEW_SIGNING_KEY), an action the service refused as invalid; 3 no verdict: the broker could not be
reached, or the service did not answer within --timeout (the action, if sent, is judged when it gets to it). A
broker failure is 3 here, not the convention's 1, because 1 tells a script "someone else settled it".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiokafka.errors import KafkaError

from service.cli.common import add_command, add_settings_options, cli_settings, load_cli_signing_key
from service.cli.kafka import kafka_edge
from service.core.keys import REVIEW_ACTIONS, SigningKey
from service.errors import BrokerUnavailable, UsageError
from service.ops.logs import configure_logging, register_settings_secrets
from service.review.console import serve_console
from service.review.console.accounts import AccountError, add_reviewer
from service.review.submit import signed_action, submit
from service.review.view import ReviewView
from service.settings import Settings

SETTLED, ALREADY_SETTLED, NO_ANSWER = 0, 1, 3


def add_parsers(subparsers: Any) -> None:
    review = subparsers.add_parser("review", help="list held events; approve or reject one (signed actions)")
    sub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: settings)")
        add_settings_options(p)

    listing = add_command(sub, "list", _list, help="pending held events, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    common(listing)
    for name, verb in (("approve", "approved"), ("reject", "rejected")):
        p = add_command(sub, name, _act, help=f"settle a held event as {verb}; waits for the service's verdict")
        p.add_argument("id", metavar="ID", help="the held event's id, <topic>:<partition>:<offset>")
        p.add_argument("--reviewer", required=True, metavar="NAME")
        if name == "reject":
            p.add_argument("--reason", required=True, metavar="CODE", help="reason code, e.g. quality.too_low")
        p.add_argument("--note", default="", metavar="TEXT")
        p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="wait at most S seconds (30)")
        common(p)
        p.set_defaults(verb=verb)

    console = add_command(subparsers, "console", _console,
                          help="serve the reviewers' web console; add-reviewer makes accounts")
    common(console)
    console_sub = console.add_subparsers(dest="console_command", metavar="ACTION")
    add = add_command(console_sub, "add-reviewer", _add_reviewer,
                      help="add a reviewer (or change a password) in the accounts file")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--accounts", type=Path, metavar="FILE",
                     help="accounts file (default: MODERATION_CONSOLE_ACCOUNTS)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin (no prompt)")
    add_settings_options(add)


async def _read_view(settings: Settings) -> ReviewView:
    async with kafka_edge(settings):  # an unreachable broker is BrokerUnavailable: one line, exit 1 (list)
        view = await ReviewView(settings).start()
        try:
            await view.catch_up()
        finally:
            await view.stop()
    return view


def _list(args: argparse.Namespace) -> int:
    view = asyncio.run(_read_view(_settings(args)))
    out = sys.stdout
    for item in view.pending():
        summary = item.summary()
        if args.json:
            out.write(orjson.dumps(summary).decode() + "\n")
        else:
            codes = ", ".join(r.get("code", "?") for r in summary["reasons"]) or "-"
            out.write(f"{summary['id']}  {summary['heldAt']}  {codes:<30} {(summary['title'] or '')[:70]}\n")
    out.flush()
    return 0


def load_review_key(settings: Settings) -> SigningKey:
    """The review-actions signing key named by MODERATION_REVIEW_SIGNING_KEY; a UsageError names the problem."""
    path = settings.review_signing_key
    if path is None:
        raise UsageError("no signing key: set MODERATION_REVIEW_SIGNING_KEY to a review-actions .signing.json file")
    key = load_cli_signing_key(path)
    if key.purpose != REVIEW_ACTIONS:
        raise UsageError(f"{path}: key {key.key_id} has purpose {key.purpose}; actions need a review-actions key")
    return key


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, their secrets registered for masking (errors and log lines never show them)."""
    settings = cli_settings(args)
    register_settings_secrets(settings)
    return settings


def _act(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not args.reviewer.strip():
        raise UsageError("--reviewer: a name is required")
    key = load_review_key(settings)
    try:
        return asyncio.run(_settle(settings, key, args))
    except (BrokerUnavailable, KafkaError, OSError, TimeoutError, LookupError) as exc:
        print(f"{args.prog}: no verdict: {type(exc).__name__}: {exc}", file=sys.stderr)
        return NO_ANSWER


async def _settle(settings: Settings, key: SigningKey, args: argparse.Namespace) -> int:
    view = await _read_view(settings)
    if args.id not in view.held:
        raise UsageError(f"unknown id {args.id}: no held event has it (see moderation review list)")
    settled = view.resolved.get(args.id)
    if settled is not None:
        print(f"{args.id}: already settled by {settled.get('reviewer')} at {settled.get('settledAt')}")
        return ALREADY_SETTLED
    try:
        action = signed_action(key, args.id, args.verb, args.reviewer, args.note, getattr(args, "reason", None))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = await submit(settings, action, args.timeout)
    if result.outcome is None:
        print(f"{args.prog}: no verdict within {args.timeout:g} s; action {action['actionId']} stays queued",
              file=sys.stderr)
        return NO_ANSWER
    if result.applied:
        print(f"{args.id}: {args.verb} by {args.reviewer}")
        return SETTLED
    if result.already_settled:
        print(f"{args.id}: already settled by {result.outcome.get('settledBy')} at {result.outcome.get('settledAt')}")
        return ALREADY_SETTLED
    raise UsageError(f"the service refused the action ({result.outcome.get('refusal')}): "
                     f"{result.outcome.get('message')}")


def _add_reviewer(args: argparse.Namespace) -> int:
    path = args.accounts or cli_settings(args).console_accounts
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    try:
        add_reviewer(path, args.name, password)
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    print(f"reviewer {args.name} saved in {path}")
    return 0


def _console(args: argparse.Namespace) -> int:
    settings = _settings(args)
    key = load_review_key(settings)
    configure_logging(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_console(settings, key, structlog.get_logger("console")))
    return 0
