"""``moderation run``: wire settings, logs, metrics, health, policy and the Kafka loop together.

Order at start: settings (exit 2 naming the bad setting), logs, policy (exit 2 on a bad rules file), a broker
check (exit 2 when the brokers refuse our credentials or certificate), the HTTP server, then the loop until
SIGTERM/SIGINT. The HTTP server stops after the loop. ``Service`` is the same wiring without the process
concerns (signals, exit codes), so tests run it in their own event loop: it builds every component once and
runs the Kafka loop (service/app.py) beside two watcher tasks, the policy's (swaps the keyring and rules) and
health's (ticks, probes the broker through the consumer).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

from service.app import Moderator
from service.core.replay import ReplayWindows
from service.core.rules import RulesError
from service.files.policy import Policy
from service.kafka.broker_check import check_brokers
from service.kafka.consumer import make_consumer
from service.kafka.delivery import make_delivery
from service.kafka.ownership import Ownership
from service.kafka.settle import Stall
from service.ops.decision_log import DecisionLog
from service.ops.health import Health
from service.ops.http_server import OpsServer
from service.ops.logs import configure_logging, register_secret
from service.ops.metrics import Metrics
from service.ops.reports import Reports
from service.settings import Settings, describe_error, load_settings, secret_fields


class Service:
    """One instance: policy, metrics, health, the ops HTTP server, the policy and health watchers and the loop.

    Every component is built here, once, from Settings, and handed to the parts that use it. The Kafka clients
    are built in ``run()``: aiokafka binds them to the running event loop.

    ``http_port``: None listens on ``settings.http_port`` (0 there means no server); an int overrides it, and 0
    then means any free port (tests read ``service.server.url``).
    """

    def __init__(self, settings: Settings, log: Any, *, policy: Policy | None = None, metrics: Metrics | None = None,
                 http_port: int | None = None) -> None:
        self.settings, self.log = settings, log
        self.metrics = metrics or Metrics()
        self.policy = policy or Policy(settings, log, self.metrics)
        self.metrics.track_policy(self.policy)
        self.health = Health(settings.health_stall_s, settings.ready_stale_s,
                             keys_loaded=lambda: len(self.policy.current.keyring))
        self.report = Reports(DecisionLog(log), self.metrics, self.health)
        port = settings.http_port if http_port is None else http_port
        listen = http_port is not None or settings.http_port != 0
        self.server = OpsServer(settings.http_host, port, self.metrics, self.health) if listen else None
        self.moderator: Moderator | None = None

    def _moderator(self) -> tuple[Moderator, ThreadPoolExecutor | None]:
        s, log = self.settings, self.log
        consumer = make_consumer(s)
        delivery = make_delivery(s, consumer)
        replay = (  # exact copies of signed events, remembered once their batch is delivered
            ReplayWindows(s.replay_window_entries, timedelta(seconds=s.replay_window_s))
            if s.replay_window_entries else None
        )
        stall = Stall(log)
        ownership = Ownership(consumer, delivery, log, self.report, replay, stall)
        pool = ThreadPoolExecutor(s.decide_threads, thread_name_prefix="decide") if s.decide_threads else None
        moderator = Moderator(s, consumer, delivery, ownership, self.policy, self.report, log, stall=stall,
                              replay=replay, pool=pool)
        return moderator, pool

    async def run(self, stop: asyncio.Event) -> None:
        self.moderator, pool = self._moderator()
        watchers = [asyncio.create_task(self.policy.watch(), name="policy-watch"),
                    asyncio.create_task(self.health.watch(self.moderator.consumer), name="health-watch")]
        if self.server is not None:
            self.server.start()
            self.log.info("http_listening", url=self.server.url, paths=["/metrics", "/healthz", "/readyz"])
        try:
            await self.moderator.run(stop)
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            if self.server is not None:
                self.server.stop()


def run_service(config_file: Path | None = None) -> int:
    try:
        settings = load_settings(config_file)
    except ValidationError as exc:
        print(f"moderation run: invalid configuration: {describe_error(exc)}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:  # a missing config file or secret file
        print(f"moderation run: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for name in secret_fields():
        secret = getattr(settings, name)
        register_secret(secret.get_secret_value() if secret is not None else None)
    log = structlog.get_logger("moderation")
    metrics = Metrics()
    try:
        policy = Policy(settings, log, metrics)
    except (OSError, RulesError) as exc:
        log.error("policy_invalid", error=str(exc))
        return 2
    except Exception as exc:  # e.g. an unreadable key directory's odd file: one clear line, not a traceback
        log.error("policy_invalid", error=f"{type(exc).__name__}: {exc}")
        return 2
    return asyncio.run(_serve(settings, Service(settings, log, policy=policy, metrics=metrics), log))


async def _serve(settings: Settings, service: Service, log: Any) -> int:
    stop = asyncio.Event()  # handlers first: a SIGTERM during the broker check is a clean exit too
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    check = await check_brokers(settings)
    if check.refused:
        log.error("broker_refused", error=check.refused, security_protocol=settings.security_protocol)
        return 2
    if check.unreachable:
        log.warning("broker_unreachable", error=check.unreachable, note="retrying in the loop")
    if stop.is_set():
        return 0
    await service.run(stop)
    return 0
