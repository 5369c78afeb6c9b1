"""Metrics from the loop's and the policy's hooks, health judgements on a fake clock, and the ops HTTP server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from service.core.decision import Decision
from service.core.reasons import Reason
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.ops.health import Health, LoopPulse
from service.ops.http_server import OpsServer
from service.ops.metrics import Metrics

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def decision(outcome: str, *codes: str) -> Decision:
    return Decision(outcome, tuple(Reason(code, "why") for code in codes), (), RULES.version, NOW)  # type: ignore[arg-type]


def values(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_loop_events_become_counters_histograms_and_gauges():
    metrics = Metrics()
    metrics.on_event("batch", records=3, seconds=0.02, lag={TopicPartition("in", 0): 7, TopicPartition("in", 1): None})
    metrics.on_event("decision", decision=decision("approved"))
    metrics.on_event("decision", decision=decision("rejected", "quality.too_low", "date.stale", "quality.too_low"))
    metrics.on_event("dead_lettered")
    metrics.on_event("delivery_failed")
    metrics.on_event("assigned", partitions=4)
    found = values(metrics)
    assert found[("moderation_events_consumed_total", ())] == 3
    assert found[("moderation_decisions_total", (("decision", "approved"), ("reason", "none")))] == 1
    assert found[("moderation_decisions_total", (("decision", "rejected"), ("reason", "quality.too_low")))] == 1
    assert ("moderation_decisions_total", (("decision", "rejected"), ("reason", "date.stale"))) not in found
    assert found[("moderation_reasons_total", (("decision", "rejected"), ("reason", "date.stale")))] == 1
    assert found[("moderation_reasons_total", (("decision", "rejected"), ("reason", "quality.too_low")))] == 1
    assert found[("moderation_stage_seconds_count", (("stage", "batch"),))] == 1
    assert found[("moderation_stage_seconds_bucket", (("le", "0.025"), ("stage", "batch")))] == 1
    assert found[("moderation_consumer_lag", (("partition", "0"), ("topic", "in")))] == 7
    assert ("moderation_consumer_lag", (("partition", "1"), ("topic", "in"))) not in found
    assert found[("moderation_dead_lettered_total", ())] == 1
    assert found[("moderation_delivery_failures_total", ())] == 1
    assert found[("moderation_assigned_partitions", ())] == 4


def test_policy_counts_and_the_rules_in_force_are_exported_and_registries_are_independent():
    first, second = Metrics(), Metrics()
    for name in ("rules_reloads", "rules_reload_failures", "rules_reload_failures", "key_reloads", "unknown"):
        first.count(name)
    policy = SimpleNamespace(current=SimpleNamespace(rules=RULES, keyring=Keyring()))
    first.track_policy(policy)
    found = values(first)
    assert found[("moderation_rules_reload_failures_total", ())] == 2
    assert found[("moderation_key_reloads_total", ())] == 1
    info = [labels for name, labels in found if name == "moderation_rules_info"]
    assert dict(info[0]) == {"version": RULES.version, "rules": str(len(RULES.rules))}
    assert found[("moderation_keys_loaded", ())] == 0
    assert values(second)[("moderation_rules_reload_failures_total", ())] == 0


def test_liveness_fails_when_the_event_loop_or_the_consume_loop_stops_turning():
    clock = Clock()
    health = Health(stall_s=10, stale_s=5, clock=clock)
    assert health.live() == (True, "ok (starting)")
    clock.now += 11
    assert health.live()[0] is False and "event loop blocked" in health.live()[1]
    health.tick()
    pulse = LoopPulse(SimpleNamespace(refresh=lambda: "snapshot", current="current"), health)
    assert pulse.refresh() == "snapshot" and pulse.current == "current"
    assert health.live() == (True, "ok")
    clock.now += 11
    health.tick()  # the event loop still answers, but the consume loop has not turned
    assert health.live()[0] is False and "consume loop has not turned" in health.live()[1]


def test_readiness_needs_partitions_and_recent_broker_contact():
    clock = Clock()
    health = Health(stall_s=10, stale_s=5, clock=clock)
    assert health.ready() == (False, "no input partitions assigned")
    health.on_event("assigned", partitions=2)
    assert health.ready() == (True, "ok (2 partitions)")
    clock.now += 6
    assert health.ready()[0] is False and "broker not heard from" in health.ready()[1]
    health.on_event("batch", records=1, seconds=0.1, lag={})
    assert health.ready()[0] is True
    health.on_event("assigned", partitions=0)  # all revoked
    assert health.ready()[0] is False


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_the_http_server_serves_metrics_and_both_probes():
    clock = Clock()
    metrics, health = Metrics(), Health(stall_s=10, stale_s=5, clock=clock)
    metrics.on_event("decision", decision=decision("approved"))
    server = OpsServer("127.0.0.1", 0, metrics, health).start()
    try:
        status, kind, body = get(server.url + "/metrics")
        assert status == 200 and kind.startswith("text/plain") and b"moderation_decisions_total{" in body
        assert get(server.url + "/healthz")[0] == 200
        status, kind, body = get(server.url + "/readyz")
        assert (status, kind) == (503, "application/json") and json.loads(body)["status"] == "fail"
        health.on_event("assigned", partitions=1)
        assert get(server.url + "/readyz?verbose=1")[0] == 200
        assert get(server.url + "/other")[0] == 404
    finally:
        server.stop()
