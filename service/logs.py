"""structlog set-up: JSON lines by default, readable console output on a TTY, one line per decision.

Secrets never reach a log line: settings hold them as ``SecretStr`` and the core's messages name key ids only;
``redact_secrets`` is a last line of defence for values that are registered as secret at start.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret's text so that any log line containing it is masked."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact_secrets(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    if not _SECRETS:
        return event
    for key, value in event.items():
        text = value if isinstance(value, str) else None
        if text is not None and any(secret in text for secret in _SECRETS):
            for secret in _SECRETS:
                text = text.replace(secret, "***")
            event[key] = text
    return event


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
