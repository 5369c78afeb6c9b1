"""``moderation run``: wire settings, logs, metrics, health, policy and the Kafka loop together.

Order at start: settings (a bad one is a ConfigError: the CLI prints one line and exits 2), logs (the first line,
``service_starting``, names the version; unknown ``MODERATION_*`` variables are warned about), then what the
service needs before it may consume, each failure one ``startup_failed`` log line and exit 2: the TLS files,
the rules file, a key directory that exists and holds a usable key (unless ``allow_no_keys``), the HTTP port,
tracing (an OTLP endpoint needs the ``[otel]`` extra). Then a broker check (exit 2 when the brokers refuse our
credentials or certificate), and the loop until SIGTERM/SIGINT. The HTTP server stops after the loop. An
unexpected exception (a bug) ends the process with status 1 and one ``service_crashed`` log line that carries
the traceback as a field.

``Service`` is the same wiring without the process concerns (signals, exit codes), so tests run it in their
own event loop: it builds every component once and runs the Kafka loop (service/app.py) beside two watcher
tasks, the policy's (swaps the keyring and rules) and health's (ticks, probes the broker through the consumer),
and, unless ``review_settle`` is off, the review settler task (service/review/settler.py: the single writer of
reviewers' final decisions). The settler stops with the loop, within the shutdown budget; a settler that
crashes stops the service, which exits 1 (``review_settler_crashed``, then ``service_crashed``).
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

from service.app import Moderator
from service.core.replay import ReplayWindows
from service.errors import ConfigError, ModerationError
from service.files.keydir import UNLISTABLE
from service.files.policy import Policy
from service.kafka.broker_check import check_brokers
from service.kafka.consumer import make_consumer
from service.kafka.delivery import make_delivery
from service.kafka.ownership import Ownership
from service.kafka.settle import Stall
from service.ops.decision_log import DecisionLog
from service.ops.event_loop import loop_factory
from service.ops.garbage import settle_after_start_up
from service.ops.health import Health
from service.ops.http_server import OpsServer
from service.ops.logs import configure_logging, register_settings_secrets
from service.ops.metrics import Metrics
from service.ops.reports import Reports
from service.ops.tracing import make_tracing
from service.review.settler import Settler
from service.settings import Settings, load_settings, unknown_variables
from service.version import VERSION


class SettlerCrashed(RuntimeError):
    """The review settler ended with an exception: ``moderation run`` exits 1 (``service_crashed``)."""


class Service:
    """One instance: policy, metrics, health, the ops HTTP server, the policy and health watchers and the loop.

    Every component is built here, once, from Settings, and handed to the parts that use it. The Kafka clients
    are built in ``run()``: aiokafka binds them to the running event loop.

    ``http_port``: None listens on ``settings.http_port`` (0 there means no server); an int overrides it, and 0
    then means any free port (tests read ``service.server.url``).
    """

    def __init__(self, settings: Settings, log: Any, *, policy: Policy | None = None, metrics: Metrics | None = None,
                 http_port: int | None = None, tracing: Any = None) -> None:
        self.settings, self.log = settings, log
        self.metrics = metrics or Metrics()
        self.policy = policy or Policy(settings, log, self.metrics)
        self.metrics.track_policy(self.policy)
        self.health = Health(settings.health_stall_s, settings.ready_stale_s,
                             keys_loaded=lambda: self.policy.current.keyring.article_keys)
        self.report = Reports(DecisionLog(log), self.metrics, self.health)
        try:
            self.tracing = make_tracing(settings) if tracing is None else tracing
        except RuntimeError as exc:  # an OTLP endpoint without the [otel] extra
            raise ConfigError(str(exc)) from exc
        port = settings.http_port if http_port is None else http_port
        listen = http_port is not None or settings.http_port != 0
        try:
            self.server = OpsServer(settings.http_host, port, self.metrics, self.health) if listen else None
        except OSError as exc:  # the port in use, a host name that does not resolve: a setting to fix
            raise ConfigError(f"cannot listen on {settings.http_host}:{port} (MODERATION_HTTP_HOST, "
                              f"MODERATION_HTTP_PORT): {exc.strerror or exc}") from exc
        self.moderator: Moderator | None = None
        self.settler: Settler | None = None
        if settings.review_settle:  # the single writer of reviewers' final decisions (service/review)
            policy_in_force = self.policy
            self.settler = Settler(settings, lambda: policy_in_force.current.keyring, log, self.metrics.review_action)
            self.metrics.track_review(self.settler.view)

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
                              replay=replay, pool=pool, tracing=self.tracing)
        return moderator, pool

    async def run(self, stop: asyncio.Event) -> None:
        self.moderator, pool = self._moderator()
        watchers = [asyncio.create_task(self.policy.watch(), name="policy-watch"),
                    asyncio.create_task(self.health.watch(self.moderator.consumer), name="health-watch")]
        if self.server is not None:
            self.server.start()
            self.log.info("http_listening", url=self.server.url, paths=["/metrics", "/healthz", "/readyz"])
        settler = None
        if self.settler is not None:
            settler = asyncio.create_task(self.settler.run(stop), name="review-settler")
            settler.add_done_callback(lambda task: self._settler_ended(task, stop))
        try:
            await self.moderator.run(stop)
        finally:
            if settler is not None:
                stop.set()  # the settler stops with the loop, whatever stopped the loop
                await self._await_settler(settler)
            self.tracing.close()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            if self.server is not None:
                self.server.stop()
        crash = settler.exception() if settler is not None and settler.done() and not settler.cancelled() else None
        if crash is not None:
            raise SettlerCrashed(f"the review settler crashed: {type(crash).__name__}: {crash}") from crash

    def _settler_ended(self, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        """A settler that ends with an exception (a bug) stops the whole service, which then exits 1.

        Why stop rather than keep the loop running with /healthz failing: held events would silently stop being
        settled while articles keep flowing, and a liveness probe is not guaranteed to be configured (docker
        compose, a plain systemd unit). Exiting 1 (``service_crashed``, the traceback in the line) is what every
        orchestrator acts on: it restarts the process, whose settler claims its partitions again and rebuilds
        from the changelog; nothing is lost, as actions are committed only with their outcome.
        """
        if task.cancelled() or task.exception() is None:
            return
        self.log.error("review_settler_crashed", error=repr(task.exception()), note="stopping the service")
        stop.set()

    async def _await_settler(self, settler: asyncio.Task[None]) -> None:
        """The settler's own shutdown, bounded by what is left of the shutdown budget (``shutdown_timeout_s``)."""
        assert self.moderator is not None
        done, _ = await asyncio.wait({settler}, timeout=self.moderator.deadline.remaining(1.0))
        if not done:
            self.log.warning("shutdown_step_failed", step="review-settler", error="TimeoutError()")
            settler.cancel()
            await asyncio.gather(settler, return_exceptions=True)


def run_service(config_file: Path | None = None) -> int:
    """Start the service; 0 after a clean shutdown, 2 when it cannot start. Raises ConfigError for bad settings."""
    settings = load_settings(config_file)
    configure_logging(settings.log_level, settings.log_format)
    register_settings_secrets(settings)
    log = structlog.get_logger("moderation")
    log.info("service_starting", version=VERSION, python=sys.version.split()[0], delivery=settings.delivery,
             input_topic=settings.input_topic, group=settings.group_id)
    for variable in unknown_variables():
        log.warning("unknown_variable", variable=variable, note="not a setting; ignored")
    try:
        settings.kafka_security()  # TLS files are read now, not at the first connection
        metrics = Metrics()
        policy = Policy(settings, log, metrics)
        require_keys(settings, policy)
        service = Service(settings, log, policy=policy, metrics=metrics)
    except ModerationError as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    except OSError as exc:  # e.g. a key directory entry that cannot be examined: one clear line, not a traceback
        log.error("startup_failed", error=f"{type(exc).__name__}: {exc}")
        return 2
    settle_after_start_up()
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            return runner.run(_serve(settings, service, log))
    except Exception:  # a bug: the traceback goes into one JSON log line (exception field), for the bug report
        log.exception("service_crashed")
        return 1


def require_keys(settings: Settings, policy: Policy) -> None:
    """Refuse to start when every signed event would be rejected: no key directory, or no usable key in it.

    A typo in ``MODERATION_KEYS_DIR`` would otherwise start a healthy-looking service that rejects a whole
    stream as ``signature.unknown_signer``, exactly once. ``allow_no_keys`` accepts an empty directory (keys
    added later are loaded without a restart), never a missing one.
    """
    where = f"keys_dir {settings.keys_dir} (MODERATION_KEYS_DIR)"
    unlistable = [p for p in policy.key_problems if p.message.startswith(UNLISTABLE)]
    if unlistable:
        raise ConfigError(f"{where}: {unlistable[0].message.removeprefix(UNLISTABLE + ': ')}")
    if policy.current.keyring.article_keys == 0 and not settings.allow_no_keys:
        refused = policy.key_problems
        detail = f"{len(refused)} file(s) refused, first: {refused[0]}" if refused else "no *.key.json file"
        raise ConfigError(f"{where}: no usable verification key ({detail}); add one, or set "
                          "MODERATION_ALLOW_NO_KEYS=true to start without keys")


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
