"""The ``moderation`` command: run the service, check events offline, sign, produce, and author rules.

One module per command group, each with ``add_parsers(subparsers)``; what they share (the exit-status
convention, one-line errors, time and key helpers, the default rules) is in ``common.py``:

    run.py      run                           the service (service/bootstrap.py)
    check.py    check                         decide event files offline
    keys.py     keygen, sign                  the producer's side of ``secured``
    kafka.py    produce, topics, watch        talk to Kafka
    rules.py    rules validate, rules diff    for rule authors
    config.py   config show, config docs      the effective settings, their reference
    schemas.py  schemas                       the published contracts
    review.py   review list|approve|reject,   human review: settle held events (its own exit statuses,
                console [add-reviewer]        docs/review.md), and the reviewers' web console

Exit status 0 done, 1 the operation failed, 2 usage or configuration error; always one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from service.cli import check, common, config, kafka, keys, review, rules, run, schemas
from service.errors import UsageError
from service.version import VERSION

GROUPS = (run, check, schemas, keys, rules, kafka, config, review)


def build_parser() -> common.ArgumentParser:
    parser = common.ArgumentParser(prog="moderation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"moderation {VERSION}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the traceback of an unexpected error (for a bug report)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return common.report(getattr(exc, "prog", "moderation"), exc)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
