"""Prometheus metrics of one service instance, on its own registry (tests build several side by side).

The loop hands typed reports to ``report()`` (``BatchReport``, ``Assignment``: service/ops/reports.py) and the
policy its changes to ``policy_changed()`` (``PolicyChange``); the rules version and key count are read from
the policy at scrape time, so they are never stale. Label values are bounded: decision outcome, reason codes
(built-in families plus the codes rule authors chose), topic and partition of the input. A revoked partition's
lag series is removed, so two instances never export the same partition after a rebalance.

The registry also holds the process and platform collectors (CPU, memory, file descriptors, Python version);
the ``_created`` series are off (``disable_created_metrics``: Prometheus does not read them, they double the
series of every counter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from service.ops.reports import Assignment, BatchReport, Event, PolicyChange
from service.version import VERSION

PREFIX = "moderation"
# Batches take from ~1 ms (a few records) to seconds (a full batch under transactions).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
NO_REASON = "none"  # the reason label of a decision without reasons (an approval)


_POLICY_HELP = {
    PolicyChange.RULES_RELOADED: "Rules files reloaded after a change.",
    PolicyChange.RULES_RELOAD_FAILED: "Changed rules files that did not load (the previous rules stay).",
    PolicyChange.KEYS_RELOADED: "Key directory reloads after a change.",
    PolicyChange.KEY_RELOAD_FAILED: "Key directory reloads that refused a key file, could not list the directory "
                                    "(the previous keys stay) or failed.",
}


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # process-wide in prometheus_client; every registry of ours wants it
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.consumed = Counter(f"{PREFIX}_events_consumed", "Input records taken from Kafka and decided.",
                                registry=r)
        self.decisions = Counter(f"{PREFIX}_decisions", "Decisions, by outcome and first reason code "
                                 f"('{NO_REASON}' when there is none): each decision counted once.",
                                 ["decision", "reason"], registry=r)
        self.reasons = Counter(f"{PREFIX}_reasons", "Reason codes carried by decisions (a decision with three "
                               "codes counts three times).", ["decision", "reason"], registry=r)
        self.dead_lettered = Counter(f"{PREFIX}_dead_lettered", "Records sent to the dead-letter topic (bugs).",
                                     registry=r)
        self.stage_seconds = Histogram(f"{PREFIX}_stage_seconds", "Time per stage of a batch (batch: decide + "
                                       "deliver + commit).", ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.lag = Gauge(f"{PREFIX}_consumer_lag", "Records behind the end of the input partition, after the "
                         "last delivered batch.", ["topic", "partition"], registry=r)
        self.assigned = Gauge(f"{PREFIX}_assigned_partitions", "Input partitions this instance owns.", registry=r)
        self.delivery_failures = Counter(f"{PREFIX}_delivery_failures", "Batches whose decisions were not "
                                         "written (transaction aborted / send failed); retried.", registry=r)
        self.policy_counts = {change: Counter(f"{PREFIX}_{change.value}", _POLICY_HELP[change], registry=r)
                              for change in PolicyChange}
        self._policy_collector: _PolicyCollector | None = None
        self.review_actions = Counter(f"{PREFIX}_review_actions", "Reviewers' actions judged, by status (applied, "
                                      "refused) and refusal code ('none' when applied).", ["status", "refusal"],
                                      registry=r)
        self._review_collector: _ReviewCollector | None = None
        # moderation_build_info{version="..."} 1: which release runs, for dashboards and alerts across a rollout.
        Info(f"{PREFIX}_build", "The running release of the service.", registry=r).info({"version": VERSION})

    def track_policy(self, policy: Any) -> None:
        """Export the rules version and key count of ``policy.current`` (read at every scrape)."""
        if self._policy_collector is None:
            self._policy_collector = _PolicyCollector(policy)
            self.registry.register(self._policy_collector)
        self._policy_collector.policy = policy

    def track_review(self, view: Any) -> None:
        """Export the pending count and the oldest pending age of ``view`` (a ReviewView, read at every scrape)."""
        if self._review_collector is None:
            self._review_collector = _ReviewCollector(view)
            self.registry.register(self._review_collector)

    def review_action(self, applied: bool, refusal: str | None) -> None:
        """The review settler's hook (service/review/settler.py): one action judged."""
        self.review_actions.labels("applied" if applied else "refused", refusal or NO_REASON).inc()

    def policy_changed(self, change: PolicyChange) -> None:
        """The policy's hook (service/files/policy.py)."""
        self.policy_counts[change].inc()

    def report(self, event: Event) -> None:
        """The loop's hook (service/app.py and service/kafka/ownership.py, through ``Reports``)."""
        match event:
            case BatchReport(records=records) if records:
                # A partly failed batch still committed its other partitions: count those (the failed ones are
                # rewound and counted when they are delivered), so metrics agree with the decision log.
                if event.failed:
                    self.delivery_failures.inc()
                delivered = event.delivered
                if not delivered:
                    return
                self.consumed.inc(sum(len(part) for part in delivered.values()))
                self.stage_seconds.labels("batch").observe(event.seconds)
                for tp in delivered:
                    lag = event.lag.get(tp)
                    if lag is not None:
                        self.lag.labels(tp.topic, str(tp.partition)).set(lag)
                self.count_delivered(delivered.values())
            case Assignment(owned=owned, revoked=revoked):
                self.assigned.set(len(owned))
                for tp in revoked:
                    with contextlib.suppress(KeyError):  # no batch delivered for it yet: no series
                        self.lag.remove(tp.topic, str(tp.partition))

    def count_delivered(self, parts: Iterable[Iterable[Any]]) -> None:
        """Decisions and dead letters of a delivered batch (outgoing records by source partition)."""
        decisions, dead = [], 0
        for part in parts:
            for out in part:
                if out.decision is None:
                    dead += 1
                else:
                    decisions.append(out.decision)
        if dead:
            self.dead_lettered.inc(dead)
        self.count_decisions(decisions)

    def count_decisions(self, decisions: Iterable[Any]) -> None:
        """Count a batch's decisions: summed per label pair first, so each counter is touched once a batch
        (``labels()`` takes a lock and checks its arguments each time: ~2 µs)."""
        firsts: dict[tuple[str, str], int] = {}
        carried: dict[tuple[str, str], int] = {}
        for decision in decisions:
            outcome, reasons = decision.decision, decision.reasons
            if not reasons:
                key = (outcome, NO_REASON)
                firsts[key] = firsts.get(key, 0) + 1
                continue
            key = (outcome, reasons[0].code)
            firsts[key] = firsts.get(key, 0) + 1
            for code in dict.fromkeys(reason.code for reason in reasons):
                key = (outcome, code)
                carried[key] = carried.get(key, 0) + 1
        for key, count in firsts.items():
            self.decisions.labels(*key).inc(count)
        for key, count in carried.items():
            self.reasons.labels(*key).inc(count)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric in this registry."""
        return generate_latest(self.registry)


class _PolicyCollector(Collector):
    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def collect(self) -> Iterator[Any]:
        snapshot = self.policy.current
        rules = InfoMetricFamily(f"{PREFIX}_rules", "The rules in force (version = sha256 of the file).")
        rules.add_metric([], {"version": snapshot.rules.version, "rules": str(len(snapshot.rules.rules))})
        yield rules
        keys = GaugeMetricFamily(f"{PREFIX}_keys_loaded", "Verification keys in the keyring in force.")
        keys.add_metric([], len(snapshot.keyring))
        yield keys

    def describe(self) -> Iterator[Any]:
        return iter(())  # generated at scrape time; nothing to check for name clashes up front


class _ReviewCollector(Collector):
    def __init__(self, view: Any) -> None:
        self.view = view

    def collect(self) -> Iterator[Any]:
        pending = GaugeMetricFamily(f"{PREFIX}_review_pending", "Held events no reviewer has settled yet.")
        pending.add_metric([], len(self.view.pending()))
        yield pending
        oldest = GaugeMetricFamily(f"{PREFIX}_review_oldest_pending_seconds",
                                   "How long the oldest unsettled held event has waited (0: none).")
        oldest.add_metric([], self.view.oldest_pending_age())
        yield oldest

    def describe(self) -> Iterator[Any]:
        return iter(())
