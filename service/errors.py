"""Every exception the project raises on purpose, in one tree (import them from here).

    ModerationError                .retriable: can the same operation, tried again unchanged, succeed?
    ├── UsageError                 what a user gave cannot be used; the CLI exits 2, the service does not start
    │   ├── ConfigError            a setting, the --config file, or what `run` needs at start (keys, rules, port)
    │   ├── EventFileError         an event file that cannot be read
    │   ├── RulesError             a rules file that cannot be used, every problem listed (core)
    │   ├── InvalidKeyError        a key file that cannot be used; names the key, never the material (core)
    │   └── SigningError           an event this key cannot sign (a provider it is not bound to...)
    ├── OperationFailed            a valid request that did not succeed; the CLI exits 1
    │   ├── BrokerUnavailable      retriable: Kafka could not be reached, or answered with an error
    │   └── DeliveryFailed         retriable: decisions for some partitions were not written nor committed
    └── DataError                  a value the core cannot process; handled where raised, never ends a command
        ├── CanonicalError         no canonical form (a float, a lone surrogate...): signature.malformed (core)
        ├── DuplicateKeyError      inside the JSON decoder: input.duplicate_key (core)
        ├── YamlProblem            inside the rules loader: a RulesError problem (core)
        └── DecisionTooLarge       the decision would not fit in a Kafka record: dead-lettered (core)

    devtools (outside the package): BrokerStartError (OperationFailed), ToolMissingError (UsageError)

Two modules, one tree: the classes marked (core), and the root and its three branches, are defined in
``service/core/errors.py``, because the core must import nothing from outside itself (it stays pure and can be
tested alone); this module adds the shell's classes and re-exports the core's, so callers import from here.
Neither module imports anything impure.

Foreign exceptions are translated where they enter the project, keeping the original as ``__cause__``
(``raise ConfigError(...) from exc``): pydantic's ValidationError and YAML errors in ``settings.py``, aiokafka's
errors in the CLI's Kafka commands, OSError from the HTTP server's bind in ``bootstrap.py``. An exception that
is not a ModerationError is a bug: the CLI reports it in one line (exit 1), the service dead-letters the record.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from service.core.errors import (
    CanonicalError,
    DataError,
    DecisionTooLarge,
    DuplicateKeyError,
    InvalidKeyError,
    ModerationError,
    OperationFailed,
    RulesError,
    UsageError,
    YamlProblem,
)

__all__ = [
    "BrokerUnavailable", "CanonicalError", "ConfigError", "DataError", "DecisionTooLarge", "DeliveryFailed",
    "DuplicateKeyError", "EventFileError", "InvalidKeyError", "ModerationError", "OperationFailed", "RulesError",
    "SigningError", "UsageError", "YamlProblem",
]


class ConfigError(UsageError):
    """A setting, the configuration file, or what the service needs at start is wrong; names the setting."""


class EventFileError(UsageError):
    """A path that cannot be read (missing, a directory, unreadable): a usage error, not a rejected event."""


class SigningError(UsageError, ValueError):
    """The event cannot be signed with this key (wrong provider, content without a canonical form...)."""


class BrokerUnavailable(OperationFailed):
    """Kafka could not be reached or refused the request (aiokafka's error is the ``__cause__``)."""

    retriable = True


class DeliveryFailed(OperationFailed):
    """Decisions for these input partitions were not written; their offsets were not committed."""

    retriable = True

    def __init__(self, partitions: Set[Any], cause: BaseException) -> None:
        super().__init__(f"delivery failed for {len(partitions)} partition(s): {cause!r}")
        self.partitions = partitions
        self.cause = cause
