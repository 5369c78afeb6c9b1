"""The root of the project's one exception tree, and the exceptions the pure core raises.

The whole tree is drawn, with the shell's exceptions, in ``service/errors.py``; read it there. This part lives
in the core because the core imports nothing from outside itself (tests/unit/test_core_purity.py), so the
classes it raises and their bases must be defined inside it. Nothing here imports anything.

Existing classes keep their built-in bases (``ValueError``) so that ``except ValueError`` written before the
tree existed still catches them.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Every exception this project raises on purpose.

    ``retriable`` says whether the same operation, tried again later unchanged, can succeed (a broker that was
    away); False where only a change by someone (a file, a setting) can fix it.
    """

    retriable: bool = False


class UsageError(ModerationError):
    """What a user gave (a command line, a setting, a rules or key file, an event file) cannot be used.

    The CLI prints it as one line and exits with status 2; the service refuses to start on it.
    """


class OperationFailed(ModerationError):
    """A valid request that did not succeed (a broker that cannot be reached...): the CLI exits with status 1."""


class DataError(ModerationError):
    """A value the core cannot process. Always handled where it is raised: it becomes a reason code, a rules
    problem, a refusal to sign, or a dead-lettered record; it never ends a command or the service."""


class RulesError(UsageError, ValueError):
    """The rules file cannot be used. ``.problems`` holds every ``Problem`` found; ``str()`` lists them, one
    per line, each naming the file, the line and (when known) the rule id."""

    def __init__(self, problems: list | tuple) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InvalidKeyError(UsageError, ValueError):
    """A key is not usable. The message names the key id or the field, never the material."""


class CanonicalError(DataError, ValueError):
    """The event holds a value that has no canonical form (a float, a lone surrogate, a huge integer...)."""


class DuplicateKeyError(DataError):
    """A key twice in one JSON object (raised and caught inside the decoder: ``input.duplicate_key``)."""


class YamlProblem(DataError):
    """A rules file's YAML cannot be read (raised inside the rules loader, reported as a RulesError problem)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class DecisionTooLarge(DataError):
    """The decision event would exceed what the broker accepts (the record is dead-lettered)."""
