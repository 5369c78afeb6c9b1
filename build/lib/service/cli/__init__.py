"""The ``moderation`` command: run the service, check events offline, sign, produce, and author rules.

Every subcommand reports usage errors as one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from service.cli import config as cli_config
from service.cli import kafka as cli_kafka
from service.cli import keys as cli_keys
from service.cli import rules as cli_rules
from service.core.envelope import reason_dict
from service.core.signature import Keyring

DEFAULT_RULES = Path("config/rules.yaml")


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def parse_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now: not an ISO 8601 date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_cli_keyring(directory: Path, allow_loose_permissions: bool = False) -> Keyring:
    """The keyring from ``--keys DIR``; bad key files are warnings on stderr, a missing directory a usage error."""
    from service.files.keydir import load_keyring

    if not directory.is_dir():
        raise UsageError(f"--keys: not a directory: {directory}")
    keyring, problems = load_keyring(directory, allow_loose_permissions=allow_loose_permissions)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return keyring


def cmd_check(args: argparse.Namespace) -> int:
    """Decide every event in the given files offline and print one JSON decision per event."""
    from service.core.decide import decide_record
    from service.core.replay import ReplayWindows
    from service.core.rules import RulesError
    from service.files.eventfiles import EventFileError, iter_event_files
    from service.files.rules_file import read_rules

    try:
        rules = read_rules(args.rules)
    except (OSError, RulesError) as exc:
        raise UsageError(f"cannot load rules: {exc}") from None
    keyring = Keyring(())
    if args.keys is not None:
        keyring = load_cli_keyring(args.keys, args.allow_loose_key_permissions)
    now = parse_time(args.now)
    replay = ReplayWindows().batch()  # an exact copy of a signed event later in the corpus is a replay too
    out = sys.stdout.buffer
    try:
        for source, value in iter_event_files(args.paths):
            decision = decide_record(value, (), keyring, rules, now, replay=replay, partition="check", where=source)
            row = {
                "source": source,
                "decision": decision.decision,
                "reasons": [reason_dict(reason) for reason in decision.reasons],
                "rulesFired": list(decision.rulesFired),
                "rulesVersion": decision.rulesVersion,
                "signer": decision.signer,
                "title": (decision.article or {}).get("title") if isinstance(decision.article, dict) else None,
            }
            out.write(orjson.dumps(row) + b"\n")
            out.flush()
    except EventFileError as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from service.bootstrap import run_service

    return run_service(args.config)


def cmd_schemas(args: argparse.Namespace) -> int:
    from service.contracts import schemas

    if args.check:
        drift = schemas.drifted(args.dir)
        for name in drift:
            print(f"schema drift: {args.dir / name} differs from the models (run `moderation schemas`)",
                  file=sys.stderr)
        return 1 if drift else 0
    from service.contracts import asyncapi

    for path in schemas.write(args.dir):
        print(path)
    asyncapi.PATH.write_text(asyncapi.render(), encoding="utf-8")
    print(asyncapi.PATH)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service: consume, decide, produce")
    run.add_argument("--config", type=Path, help="YAML configuration file (env MODERATION_CONFIG_FILE)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="decide event files offline, one JSON decision per event")
    check.add_argument("paths", nargs="+", metavar="PATH", help="event files: JSON, front matter, or .jsonl")
    check.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="rules file (default: %(default)s)")
    check.add_argument("--keys", type=Path, help="directory of verification keys (default: none, so unsigned)")
    check.add_argument("--now", help="reference time for the rules, ISO 8601 (default: now)")
    check.add_argument("--allow-loose-key-permissions", action="store_true", help=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check)

    schemas = sub.add_parser("schemas", help="write the JSON Schemas generated from the models")
    schemas.add_argument("--dir", type=Path, default=Path("schemas"))
    schemas.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")
    schemas.set_defaults(func=cmd_schemas)

    cli_keys.add_keygen_parser(sub)
    cli_keys.add_sign_parser(sub)
    cli_rules.add_rules_parser(sub)
    cli_kafka.add_parsers(sub)
    cli_config.add_config_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"moderation {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
