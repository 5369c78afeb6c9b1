"""The benchmark's own arithmetic, without a broker: the lag slope and a step's verdict, the bisection's summary,
which runs and brokers a mode measures, and the table's new sections."""

from __future__ import annotations

import pytest

from bench import report
from bench.__main__ import kafka_versions, matrix
from bench.lag import Sample, slope
from bench.sustainable import Search, judge, summary

SEARCH = Search(step_s=10.0, warmup_s=2.0, sample_s=1.0)


def samples(lags: list[int], start: float = 100.0) -> list[Sample]:
    return [Sample(start + i, 1_000_000 + lag, 1_000_000) for i, lag in enumerate(lags)]


def test_slope_is_the_least_squares_line():
    assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope([(0, 0.0), (1, 10.0), (2, 0.0), (3, 10.0)]) == pytest.approx(2.0)
    assert slope([(1, 5.0)]) is None and slope([(1, 5.0), (1, 6.0)]) is None


def test_a_flat_saw_tooth_lag_is_sustainable_and_a_growing_one_is_not():
    flat = judge(samples([0, 900, 400, 900, 400, 900, 400, 900, 400, 900]), 100.0, SEARCH, achieved_eps=5_000)
    assert flat["sustainable"] and abs(flat["slope_eps"]) < 100
    assert flat["lag"]["after_warmup"] == 8 and flat["lag"]["max"] == 900
    # 150 events/s of growth at 5,000 offered: 3%, above the 2% bound
    growing = judge(samples([150 * i for i in range(10)]), 100.0, SEARCH, achieved_eps=5_000)
    assert not growing["sustainable"] and growing["slope_eps"] == pytest.approx(150.0)
    assert growing["slope_share"] == pytest.approx(0.03)


def test_the_warm_up_is_left_out_of_the_slope():
    # the first two seconds climb to the steady in-flight level, then the lag is flat
    found = judge(samples([0, 3_000, 3_000, 3_000, 3_000, 3_000]), 100.0, SEARCH, achieved_eps=5_000)
    assert found["sustainable"] and found["slope_eps"] == 0


def test_summary_takes_the_fastest_sustainable_step():
    steps = [{"sustainable": True, "achieved_offered_eps": 900.0, "events_per_cpu_second": 5_000,
              "process_cpu_share": 0.2, "producer_short": False},
             {"sustainable": False, "achieved_offered_eps": 1_100.0, "events_per_cpu_second": 4_000,
              "process_cpu_share": 0.3, "producer_short": False},
             {"sustainable": True, "achieved_offered_eps": 1_000.0, "events_per_cpu_second": 4_500,
              "process_cpu_share": 0.25, "producer_short": True}]
    found = summary(steps, 1_000.0, 1_100.0, base_eps=2_000.0)
    assert found["max_sustainable_eps"] == 1_000.0 and found["max_vs_closed_loop"] == 0.5
    assert found["events_per_cpu_second_at_max"] == 4_500 and found["bounded_by_producer"]
    assert not found["every_step_sustainable"]
    assert summary(steps[:1], 900.0, 1_100.0, base_eps=2_000.0)["every_step_sustainable"]
    assert summary(steps[1:2], 600.0, 1_100.0, base_eps=2_000.0)["max_sustainable_eps"] is None


def test_the_second_broker_gets_the_reduced_matrix_and_quick_mode_one_broker(monkeypatch):
    assert matrix(quick=False, reduced=True) == [
        ("relay", "at-least-once", "hmac"), ("service", "at-least-once", "hmac"),
        ("relay", "exactly-once", "hmac"), ("service", "exactly-once", "hmac")]
    assert ("service-inline", "at-least-once", "ed25519") in matrix(quick=False)
    assert {run[0] for run in matrix(quick=False, system="service")} == {"service", "service-inline", "service-shell"}
    monkeypatch.delenv("KAFKA_VERSION", raising=False)
    assert kafka_versions(None, quick=False) == ["4.1.1", "3.9.1"]
    assert kafka_versions(None, quick=True) == ["4.1.1"]
    monkeypatch.setenv("KAFKA_VERSION", "3.9.1")
    assert kafka_versions(None, quick=False) == ["3.9.1", "4.1.1"]
    assert kafka_versions("4.1.1", quick=False) == ["4.1.1"]


def test_the_shell_floor_runs_beside_the_service_in_full_and_quick_mode_not_on_the_second_broker():
    full = matrix(quick=False)
    for delivery in ("at-least-once", "exactly-once"):  # right after the service with HMAC, same conditions
        assert full[full.index(("service", delivery, "hmac")) + 1] == ("service-shell", delivery, "hmac")
    assert [run for run in matrix(quick=False, only="exactly-once") if run[0] == "service-shell"] == [
        ("service-shell", "exactly-once", "hmac")]
    assert ("service-shell", "at-least-once", "hmac") in matrix(quick=True)
    assert all(run[0] != "service-shell" for run in matrix(quick=False, reduced=True) + matrix(True, system="relay"))


def test_the_shell_floor_section_sets_the_shell_against_the_service_and_the_relay():
    runs = [{**_run(system, 1.0), "cpu_s_per_1000": cpu} for system, cpu in
            (("relay", 0.025), ("service", 0.1), ("service-shell", 0.04))]
    found = report.shell_floor([*runs, {**_run("service", 1.0), "algorithm": "ed25519", "cpu_s_per_1000": 0.2}])
    assert found == {"at-least-once": {"shell_cpu_s_per_1000": 0.04, "service_cpu_s_per_1000": 0.1,
                                       "relay_cpu_s_per_1000": 0.025, "decision_share": 0.6,
                                       "shell_over_relay": 1.6}}
    assert report.shell_floor(runs[:2]) == {}  # no shell run: no section
    assert report.shell_floor(runs[1:])["at-least-once"]["shell_over_relay"] is None


def _run(system: str, eps: float, complete: bool = True) -> dict:
    return {"system": system, "delivery": "at-least-once", "algorithm": "hmac", "throughput_eps": eps,
            "cpu_s_per_1000": 0.1, "latency_ms": {"p99": 9.0}, "complete": complete}


def test_complete_needs_every_broker_search_and_scale_out_configuration():
    figures = {"brokers": {"4.1.1": {"runs": [_run("relay", 9_000.0)]}, "3.9.1": {"runs": [_run("relay", 8_000.0)]}},
               "sustainable": {"searches": [{"complete": True}]},
               "scale_out": {"deliveries": {"at-least-once": {"one": {"complete": True}, "two": {"complete": True}}}}}
    assert report.complete(figures)
    figures["brokers"]["3.9.1"]["runs"][0]["complete"] = False
    assert not report.complete(figures)


def test_the_table_sets_brokers_side_by_side():
    figures = {"brokers": {"4.1.1": {"runs": [_run("relay", 9_000.0)]}, "3.9.1": {"runs": [_run("relay", 8_000.0)]}}}
    lines = report._brokers(figures)
    assert "Kafka 4.1.1" in lines[1] and "Kafka 3.9.1" in lines[1]
    assert lines[3].startswith("relay at-least-once") and "9,000" in lines[3] and "8,000" in lines[3]
    assert report._brokers({"brokers": {"4.1.1": {"runs": [_run("relay", 1.0)]}}}) == []
