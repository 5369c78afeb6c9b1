"""``moderation run``: wire settings, logs, policy and the Kafka loop together, and stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import structlog
from pydantic import ValidationError

from service.app import Moderator
from service.logs import configure_logging, register_secret
from service.settings import Settings, load_settings


def run_service(config_file: Path | None = None) -> int:
    try:
        settings = load_settings(config_file)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"moderation run: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if settings.sasl_password is not None:
        register_secret(settings.sasl_password.get_secret_value())
    log = structlog.get_logger("moderation")
    from service.core.rules import RulesError
    from service.policy import Policy

    try:
        policy = Policy(settings, log)
    except (OSError, RulesError) as exc:
        log.error("policy_invalid", error=str(exc))
        return 2
    asyncio.run(_serve(settings, policy, log))
    return 0


async def _serve(settings: Settings, policy: object, log: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Moderator(settings, policy, log).run(stop)  # type: ignore[arg-type]
