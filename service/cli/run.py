"""``moderation run``: the service itself (wiring and start-up checks in ``service/bootstrap.py``)."""

from __future__ import annotations

import argparse
from typing import Any

from service.cli.common import add_command, add_settings_options


def add_parsers(sub: Any) -> None:
    run = add_command(sub, "run", cmd_run, help="run the service: consume, decide, produce")
    add_settings_options(run)


def cmd_run(args: argparse.Namespace) -> int:
    # Imported here: the Kafka loop (aiokafka) is not needed by any other command, and costs start-up time.
    from service.bootstrap import run_service

    return run_service(args.config)
