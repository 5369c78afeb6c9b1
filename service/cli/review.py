"""``moderation review list|approve|reject``: the reviewer's command line (contract in docs/review.md).

Exit status: 0 this action settled the event (list: always 0); 1 it was already settled (one line naming who
settled it first and when); 2 usage errors: unknown id, missing reviewer or reason, no review-actions signing
key (MODERATION_REVIEW_SIGNING_KEY), an action the service refused as invalid; 3 no verdict within --timeout
(the action stays on the topic and is judged when the service gets to it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from service.settings import Settings, load_settings

SETTLED, ALREADY_SETTLED, USAGE, NO_ANSWER = 0, 1, 2, 3


class _Usage(Exception):
    """One line on stderr, exit 2."""


def add_review_parser(subparsers: Any) -> None:
    review = subparsers.add_parser("review", help="list held events; approve or reject one (signed actions)")
    sub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: settings)")
        p.add_argument("--config", type=Path, help="YAML configuration file")

    listing = sub.add_parser("list", help="pending held events, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    common(listing)
    listing.set_defaults(func=_run(_list))
    for name, verb in (("approve", "approved"), ("reject", "rejected")):
        p = sub.add_parser(name, help=f"settle a held event as {verb}; waits for the service's verdict")
        p.add_argument("id", metavar="ID", help="the held event's id, <topic>:<partition>:<offset>")
        p.add_argument("--reviewer", required=True, metavar="NAME")
        if name == "reject":
            p.add_argument("--reason", required=True, metavar="CODE", help="reason code, e.g. quality.too_low")
        p.add_argument("--note", default="", metavar="TEXT")
        p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="wait at most S seconds (30)")
        common(p)
        p.set_defaults(func=_run(_act), verb=verb)


def _run(action: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(action(args))
        except _Usage as exc:
            print(f"moderation review: {exc}", file=sys.stderr)
            return USAGE
        except KeyboardInterrupt:
            return 130
        except Exception as exc:  # the broker unreachable etc.: one clear line
            print(f"moderation review: {type(exc).__name__}: {exc}", file=sys.stderr)
            return NO_ANSWER
    return run


def _settings(args: argparse.Namespace) -> Settings:
    from pydantic import ValidationError

    from service.settings import describe_error

    try:
        return load_settings(args.config, bootstrap_servers=args.bootstrap_servers)
    except ValidationError as exc:
        raise _Usage(f"invalid configuration: {describe_error(exc)}") from None
    except (ValueError, OSError) as exc:
        raise _Usage(f"invalid configuration: {exc}") from None


async def _view(settings: Settings) -> Any:
    from service.review.view import ReviewView

    view = await ReviewView(settings).start()
    try:
        await view.catch_up()
    finally:
        await view.stop()
    return view


async def _list(args: argparse.Namespace) -> int:
    view = await _view(_settings(args))
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


def load_review_key(settings: Settings) -> Any:
    """The review-actions signing key named by MODERATION_REVIEW_SIGNING_KEY; raises _Usage naming the problem."""
    from service.core.keys import REVIEW_ACTIONS
    from service.signing import load_signing_key

    path = settings.review_signing_key
    if path is None:
        raise _Usage("no signing key: set MODERATION_REVIEW_SIGNING_KEY to a review-actions .signing.json file")
    try:
        key = load_signing_key(path)
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _Usage(f"{path}: {exc}") from None
    if key.purpose != REVIEW_ACTIONS:
        raise _Usage(f"{path}: key {key.key_id} has purpose {key.purpose}; actions need a review-actions key")
    return key


async def _act(args: argparse.Namespace) -> int:
    from service.review.submit import signed_action, submit

    settings = _settings(args)
    if not args.reviewer.strip():
        raise _Usage("--reviewer: a name is required")
    key = load_review_key(settings)
    view = await _view(settings)
    if args.id not in view.held:
        raise _Usage(f"unknown id {args.id}: no held event has it (see moderation review list)")
    settled = view.resolved.get(args.id)
    if settled is not None:
        print(f"{args.id}: already settled by {settled.get('reviewer')} at {settled.get('settledAt')}")
        return ALREADY_SETTLED
    try:
        action = signed_action(key, args.id, args.verb, args.reviewer, args.note, getattr(args, "reason", None))
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    result = await submit(settings, action, args.timeout)
    if result.outcome is None:
        print(f"moderation review: no verdict within {args.timeout:g} s; action {action['actionId']} stays queued",
              file=sys.stderr)
        return NO_ANSWER
    if result.applied:
        print(f"{args.id}: {args.verb} by {args.reviewer}")
        return SETTLED
    if result.already_settled:
        print(f"{args.id}: already settled by {result.outcome.get('settledBy')} at {result.outcome.get('settledAt')}")
        return ALREADY_SETTLED
    raise _Usage(f"the service refused the action ({result.outcome.get('refusal')}): {result.outcome.get('message')}")


def add_console_parser(subparsers: Any) -> None:
    console = subparsers.add_parser("console", help="serve the reviewers' web console; add-reviewer makes accounts")
    console.add_argument("--config", type=Path, help="YAML configuration file")
    console.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default: settings)")
    console.set_defaults(func=_console)
    sub = console.add_subparsers(dest="console_command", metavar="ACTION")
    add = sub.add_parser("add-reviewer", help="add a reviewer (or change a password) in the accounts file")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--accounts", type=Path, help="accounts file (default: MODERATION_CONSOLE_ACCOUNTS)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin (no prompt)")
    add.add_argument("--config", type=Path, help="YAML configuration file")
    add.set_defaults(func=_add_reviewer)


def _add_reviewer(args: argparse.Namespace) -> int:
    import getpass

    from service.review.console.accounts import AccountError, add_reviewer

    try:
        defaults = argparse.Namespace(config=args.config, bootstrap_servers=None)
        path = args.accounts or _settings(defaults).console_accounts
    except _Usage as exc:
        print(f"moderation console: {exc}", file=sys.stderr)
        return USAGE
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("moderation console: the passwords differ", file=sys.stderr)
            return USAGE
    try:
        add_reviewer(path, args.name, password)
    except AccountError as exc:
        print(f"moderation console: {exc}", file=sys.stderr)
        return USAGE
    print(f"reviewer {args.name} saved in {path}")
    return 0


def _console(args: argparse.Namespace) -> int:
    import structlog

    from service.ops.logs import configure_logging
    from service.review.console import serve_console

    try:
        settings = _settings(args)
        key = load_review_key(settings)
    except _Usage as exc:
        print(f"moderation console: {exc}", file=sys.stderr)
        return USAGE
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve_console(settings, key, structlog.get_logger("console")))
    except KeyboardInterrupt:
        return 0
    return 0
