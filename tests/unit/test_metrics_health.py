"""Metrics from the loop's typed reports and the policy's changes, health judgements on a fake clock, and the ops
HTTP server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from service.core.batch import Outgoing
from service.core.decision import Decision
from service.core.envelope import Source
from service.core.reasons import Reason
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.ops.health import Health
from service.ops.http_server import OpsServer
from service.ops.metrics import Metrics
from service.ops.reports import Assignment, BatchReport, PolicyChange

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


def outgoing(d: Decision | None, offset: int = 0) -> Outgoing:
    return Outgoing("out", b"k", b"v", [], Source("in", 0, offset), d, None if d else "KeyError: x")


def keys(count: int):
    return lambda: count


P0, P1 = TopicPartition("in", 0), TopicPartition("in", 1)


def test_loop_reports_become_counters_histograms_and_gauges():
    metrics = Metrics()
    delivered = {P0: [outgoing(decision("approved")), outgoing(None, 1)],
                 P1: [outgoing(decision("rejected", "quality.too_low", "date.stale", "quality.too_low"))]}
    metrics.report(BatchReport(records=3, seconds=0.02, delivered=delivered, lag={P0: 7, P1: None}))
    metrics.report(BatchReport(records=2, seconds=0.5, failed=frozenset({P0})))
    metrics.report(BatchReport())  # an idle turn counts nothing
    metrics.report(Assignment(frozenset({P0, P1, TopicPartition("in", 2), TopicPartition("in", 3)})))
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
    for change in (PolicyChange.RULES_RELOADED, PolicyChange.RULES_RELOAD_FAILED, PolicyChange.RULES_RELOAD_FAILED,
                   PolicyChange.KEYS_RELOADED):
        first.policy_changed(change)
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
    health = Health(stall_s=10, stale_s=5, keys_loaded=keys(1), clock=clock)
    assert health.live() == (True, "ok (starting)")
    clock.now += 11
    assert health.live()[0] is False and "event loop blocked" in health.live()[1]
    health.tick()
    health.report(BatchReport())  # an idle turn of the loop
    assert health.live() == (True, "ok")
    clock.now += 11
    health.tick()  # the event loop still answers, but the consume loop has not turned
    assert health.live()[0] is False and "consume loop has not turned" in health.live()[1]


def test_readiness_needs_partitions_and_recent_broker_contact():
    clock = Clock()
    health = Health(stall_s=10, stale_s=5, keys_loaded=keys(1), clock=clock)
    assert health.ready() == (False, "no input partitions assigned")
    health.report(Assignment(frozenset({P0, P1})))
    assert health.ready() == (True, "ok (2 partitions)")
    clock.now += 6
    assert health.ready()[0] is False and "broker not heard from" in health.ready()[1]
    health.report(BatchReport(records=1, seconds=0.1, failed=frozenset({P0})))  # not committed: no answer
    assert health.ready()[0] is False
    health.report(BatchReport(records=1, seconds=0.1))  # abandoned at shutdown, nothing committed: no answer
    assert health.ready()[0] is False
    health.report(BatchReport(records=2, seconds=0.1, delivered={P1: ["decision"]}, failed=frozenset({P0})))
    assert health.ready()[0] is True  # P1's transaction committed: the broker answered
    health.report(Assignment(frozenset(), revoked=frozenset({P0, P1})))  # all revoked
    assert health.ready()[0] is False


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_the_http_server_serves_metrics_and_both_probes():
    clock = Clock()
    metrics, health = Metrics(), Health(stall_s=10, stale_s=5, keys_loaded=keys(1), clock=clock)
    metrics.count_decisions([decision("approved")])
    server = OpsServer("127.0.0.1", 0, metrics, health).start()
    try:
        status, kind, body = get(server.url + "/metrics")
        assert status == 200 and kind.startswith("text/plain") and b"moderation_decisions_total{" in body
        assert get(server.url + "/healthz")[0] == 200
        status, kind, body = get(server.url + "/readyz")
        assert (status, kind) == (503, "application/json") and json.loads(body)["status"] == "fail"
        health.report(Assignment(frozenset({P0})))
        assert get(server.url + "/readyz?verbose=1")[0] == 200
        assert get(server.url + "/other")[0] == 404
    finally:
        server.stop()


def test_a_partly_failed_batch_counts_the_partitions_it_committed_and_only_those():
    """P1 failed (rewound: its records are counted when decided again); P0 was committed and logged, so the
    metrics count it too: logs and metrics agree, and nothing is counted twice."""
    metrics = Metrics()
    delivered = {P0: [outgoing(decision("approved")), outgoing(None, 1)]}
    metrics.report(BatchReport(records=3, seconds=0.02, delivered=delivered, lag={P0: 4, P1: 8},
                               failed=frozenset({P1})))
    found = values(metrics)
    assert found[("moderation_events_consumed_total", ())] == 2
    assert found[("moderation_decisions_total", (("decision", "approved"), ("reason", "none")))] == 1
    assert found[("moderation_dead_lettered_total", ())] == 1
    assert found[("moderation_delivery_failures_total", ())] == 1
    assert found[("moderation_consumer_lag", (("partition", "0"), ("topic", "in")))] == 4
    assert ("moderation_consumer_lag", (("partition", "1"), ("topic", "in"))) not in found


def test_a_revoked_partition_stops_exporting_its_lag():
    metrics = Metrics()
    delivered = {P0: [outgoing(decision("approved"))], P1: [outgoing(decision("approved"))]}
    metrics.report(BatchReport(records=2, seconds=0.01, delivered=delivered, lag={P0: 5, P1: 9}))
    metrics.report(Assignment(frozenset({P1}), revoked=frozenset({P0, TopicPartition("in", 7)})))
    found = values(metrics)
    assert ("moderation_consumer_lag", (("partition", "0"), ("topic", "in"))) not in found
    assert found[("moderation_consumer_lag", (("partition", "1"), ("topic", "in")))] == 9
    assert found[("moderation_assigned_partitions", ())] == 1


def test_process_and_platform_collectors_are_exported_and_no_created_series():
    names = {name for name, _ in values(Metrics())}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    assert not [name for name in names if name.endswith("_created")]


def test_key_reload_failures_are_counted(tmp_path):
    import structlog

    from service.core.keys import SigningKey
    from service.files.keydir import write_key_file
    from service.files.policy import Policy
    from service.settings import Settings

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    good = SigningKey("good", "hmac-sha256", frozenset({"example.org"}), material=b"g" * 32)
    write_key_file(keys / "good.key.json", good.verification_key())
    metrics = Metrics()
    settings = Settings(keys_dir=keys, rules_path=Path(__file__).parents[2] / "config" / "rules.yaml")
    policy = Policy(settings, structlog.get_logger("test"), metrics)
    policy.refresh()  # nothing changed
    assert values(metrics)[("moderation_key_reload_failures_total", ())] == 0
    (keys / "broken.key.json").write_text("{ not json")
    (keys / "broken.key.json").chmod(0o600)
    policy.refresh()  # a refused file: the good key is still loaded, and the failure is counted
    found = values(metrics)
    assert found[("moderation_key_reload_failures_total", ())] == 1
    assert found[("moderation_key_reloads_total", ())] == 1 and len(policy.current.keyring) == 1
    (keys / "broken.key.json").unlink()
    policy.refresh()  # the directory is clean again
    assert values(metrics)[("moderation_key_reload_failures_total", ())] == 1


def test_readiness_fails_while_no_verification_key_is_loaded():
    loaded = {"keys": 0}
    health = Health(stall_s=10, stale_s=5, keys_loaded=lambda: loaded["keys"], clock=Clock())
    health.report(Assignment(frozenset({P0})))
    ready, reason = health.ready()
    assert ready is False and "no verification key loaded" in reason
    loaded["keys"] = 1  # the policy watcher loaded one
    assert health.ready() == (True, "ok (1 partitions)")


def test_the_service_wires_readiness_to_the_keys_in_force(tmp_path):
    import structlog

    from service.bootstrap import Service
    from service.settings import Settings

    empty = tmp_path / "keys"
    empty.mkdir(mode=0o700)
    settings = Settings(keys_dir=empty, rules_path=Path(__file__).parents[2] / "config" / "rules.yaml", http_port=0)
    service = Service(settings, structlog.get_logger("test"))
    service.report(Assignment(frozenset({P0})))  # what the rebalance listener reports
    assert service.health.ready()[0] is False and "no verification key" in service.health.ready()[1]


def test_one_report_reaches_the_decision_log_metrics_and_health_in_that_order():
    from structlog.testing import capture_logs

    from service.ops.decision_log import DecisionLog
    from service.ops.reports import Reports

    seen = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        def report(self, event) -> None:
            seen.append((self.name, type(event).__name__))

    import structlog

    report = BatchReport(records=2, seconds=0.01, delivered={P0: [outgoing(decision("approved")), outgoing(None, 1)]})
    with capture_logs() as logs:
        Reports(DecisionLog(structlog.get_logger("test")), Recorder("metrics"), Recorder("health"))(report)
    assert [(line["event"], line["offset"]) for line in logs] == [("decision", 0), ("dead_lettered", 1)]
    assert seen == [("metrics", "BatchReport"), ("health", "BatchReport")]
