"""What every ``moderation`` command shares: the exit-status convention, errors as one line, common helpers.

Exit status, the same for every command:

    0  done
    1  the operation failed: a broker that cannot be reached or refuses, a ``--check`` that found a
       difference, ``rules validate`` that found a problem, a bug (reported as ``internal error``)
    2  usage or configuration error: a bad option, a missing or unreadable file, an invalid setting,
       configuration file, rules file or key file

Whatever goes wrong is printed as one line on stderr, ``moderation <command>: <message>``, never a traceback
(``moderation --traceback <command> ...`` shows the traceback of an unexpected error, for a bug report). The
mapping is the exception tree of ``service/errors.py``: a UsageError exits 2, any other error 1. Commands raise;
``command()`` turns what they raise into the one line and the status, so a command's code holds no exit codes.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from service.core.keys import SigningKey
from service.core.rules import RuleSet
from service.core.signature import Keyring
from service.errors import ModerationError, RulesError, UsageError
from service.files.keydir import load_keyring
from service.files.rules_file import read_rules
from service.ops.logs import mask
from service.settings import PACKAGED_RULES, Settings, load_settings
from service.signing import load_signing_key

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_RULES = PACKAGED_RULES  # the default policy shipped with the package (a copy of config/rules.yaml)
DEFAULT_RULES_HELP = "rules file (default: the policy shipped with the package, config/rules.yaml)"

Command = Callable[[argparse.Namespace], int | None]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line is a UsageError (one line, exit 2) instead of usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        problem = UsageError(f"{message} (see {self.prog} --help)")
        problem.prog = self.prog  # type: ignore[attr-defined]  # main() names the subcommand with it
        raise problem


def exit_code(exc: BaseException) -> int:
    """2 for what the user must fix, 1 for everything else that went wrong."""
    return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED


def report(prog: str, exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr and return its exit status."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not isinstance(exc, ModerationError):  # a bug: say so, with the exception type
        lines = [f"internal error (a bug; `moderation --traceback ...` shows where): {type(exc).__name__}: "
                 + (lines[0] if lines else "")]
    message = lines[0] if lines else type(exc).__name__
    if len(lines) > 1:
        message += f" (and {len(lines) - 1} more)"
    print(f"{prog}: {mask(message)}", file=sys.stderr)  # a secret registered by the command never shows
    return exit_code(exc)


def command(func: Command) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: its return value (None: 0) or what it raises becomes the exit status, as above."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or EXIT_OK)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # `moderation check ... | head`: the reader has all it wanted
            return EXIT_OK
        except Exception as exc:
            if getattr(args, "traceback", False) and not isinstance(exc, ModerationError):
                raise
            return report(getattr(args, "prog", "moderation"), exc)

    return run


def add_command(subparsers: Any, name: str, func: Command, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose errors follow the convention; ``args.prog`` names it in messages."""
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(func=command(func), prog=parser.prog)
    return parser


def parse_time(text: str | None, option: str = "--now") -> datetime:
    """An ISO 8601 date-time (UTC when it has no offset); now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: not an ISO 8601 date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_cli_keyring(directory: Path, allow_loose_permissions: bool = False) -> Keyring:
    """The keyring from ``--keys DIR``; bad key files are warnings on stderr, a missing directory a usage error."""
    if not directory.is_dir():
        raise UsageError(f"--keys: not a directory: {directory}")
    keyring, problems = load_keyring(directory, allow_loose_permissions=allow_loose_permissions)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return keyring


def read_cli_rules(path: Path) -> RuleSet:
    """A rules file for a command that uses it (check, rules diff): one that does not load is a usage error,
    reported with its first problem (``rules validate`` lists them all)."""
    try:
        return read_rules(path)
    except RulesError as exc:
        more = len(exc.problems) - 1
        first = str(exc.problems[0]) if exc.problems else str(exc)
        hint = f" (and {more} more; `moderation rules validate {path}` lists them)" if more > 0 else ""
        raise UsageError(f"cannot load rules: {first}{hint}") from exc


def load_cli_signing_key(path: Path) -> SigningKey:
    """A ``<id>.signing.json`` file; a file that is missing or not a signing key is a usage error."""
    try:
        return load_signing_key(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # InvalidKeyError, naming the field, never the material
        raise UsageError(f"{path}: {exc}") from exc


def cli_settings(args: argparse.Namespace) -> Settings:
    """The settings as ``run`` reads them, with ``--config`` and ``--bootstrap-servers`` when the command has them."""
    return load_settings(getattr(args, "config", None), bootstrap_servers=getattr(args, "bootstrap_servers", None))


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML configuration file (env MODERATION_CONFIG_FILE)")
