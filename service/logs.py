"""structlog set-up: JSON lines by default, readable console output on a TTY, one line per decision.

The standard library's loggers (aiokafka's, asyncio's) go through the same renderer, so every line on stderr is
JSON; they log at warning and above, or everything at debug. Secrets never reach a log line: settings hold
them as ``SecretStr``, the core's messages name key ids only, and ``redact_secrets`` masks any value registered
as secret at start (``register_secret``), in every field at any depth and once more in the rendered line
(JSON and repr() escaping included).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import structlog

MASK = "***"
_SECRETS: set[str] = set()
_handler: logging.Handler | None = None  # ours on the root logger, replaced when configured again


def register_secret(value: str | None) -> None:
    """Remember a secret's text so that any log line containing it is masked, also as escaped by repr()/JSON."""
    if value and len(value) >= 4:
        for form in (value, repr(value)[1:-1]):
            _SECRETS.update((form, json.dumps(form)[1:-1]))


def forget_secrets() -> None:
    _SECRETS.clear()


def _mask(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):  # longest first: a secret may contain another
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value  # other objects are rendered with repr(); the rendered line is masked again


def redact_secrets(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    if not _SECRETS:
        return event
    return {key: _scrub(value) for key, value in event.items()}


def _masking(renderer: Any) -> Any:
    def render(logger: Any, method: str, event: dict[str, Any]) -> Any:
        line = renderer(logger, method, event)
        return _mask(line) if _SECRETS and isinstance(line, str) else line

    return render


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    global _handler
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and hasattr(stream, "isatty") and stream.isatty())
    renderer = _masking(structlog.dev.ConsoleRenderer(colors=False) if console else structlog.processors.JSONRenderer())
    numeric_level = logging.getLevelName(level.upper())
    shared = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    # Foreign (stdlib) records: same fields, same redaction, same renderer, written to the same stream.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    redact_secrets, renderer],
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(formatter)
    _handler.addFilter(LibraryThrottle())  # handler-level: logger filters do not reach aiokafka's child loggers
    root.addHandler(_handler)
    # Libraries' info lines (aiokafka's coordinator chatter) only at debug; their warnings and errors always.
    root.setLevel(numeric_level if numeric_level <= logging.DEBUG else max(numeric_level, logging.WARNING))


class LibraryThrottle(logging.Filter):
    """At most one line per message per ``every_s`` from aiokafka, with a count of what was held back.

    While a broker is away aiokafka logs every 100 ms retry of every client (aiokafka #905): about a thousand
    lines in eight seconds of a broker restart. The service logs its own ``broker_unreachable`` lines instead.
    """

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[tuple[str, object], float] = {}
        self._held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        key, now = (record.name, record.msg), time.monotonic()
        if now - self._last.get(key, -1e18) < self.every_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} similar lines held back)"
        return True


def reset_logging() -> None:
    """Undo configure_logging (tests): structlog's defaults, our root handler removed, secrets forgotten."""
    global _handler
    structlog.reset_defaults()
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    forget_secrets()
