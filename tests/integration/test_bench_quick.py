"""The benchmark's quick mode runs end to end on the session broker, so it never rots. No thresholds here:
figures on a shared CI machine say nothing; only that every figure was produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scaling import CRYPTO_ALONE, LIBRARY_CALLS

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def quick_figures(kafka_bootstrap, tmp_path_factory):
    """One quick run for the tests of this module: (the JSON's figures, the printed table)."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=270)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_quick_bench_produces_every_figure(quick_figures):
    figures, stdout = quick_figures
    assert "service/relay at-least-once hmac" in stdout  # the table was printed

    assert figures["mode"] == "quick"
    assert {"cores", "cpu_model", "memory_gb", "python", "kafka"} <= set(figures["machine"])
    assert all(figures["machine"][f"reference_loop_ms_at_{when}"] > 0 for when in ("start", "end"))
    runs = {(r["system"], r["delivery"], r["algorithm"]): r for r in figures["runs"]}
    assert set(runs) == {("relay", "at-least-once", "hmac"), ("service", "at-least-once", "hmac"),
                         ("service-shell", "at-least-once", "hmac")}
    for run in runs.values():
        assert run["complete"] and run["exit_code"] == 0 and run["duplicates"] == 0
        for name in ("throughput_eps", "cpu_s_per_1000", "peak_rss_mb", "first_decision_s"):
            assert isinstance(run[name], float) and run[name] > 0, (name, run)
        latency = run["latency_ms"]
        assert latency["count"] == figures["plan"]["rate"] * figures["plan"]["latency_s"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    decisions = runs["service", "at-least-once", "hmac"]["decisions"]
    total = sum(decisions.values())
    rejected = sum(n for topic, n in decisions.items() if topic.endswith("rejected"))
    assert rejected == total // 10  # the generator's 10% that config/rules.yaml rejects, and nothing dead-lettered
    shell = runs["service-shell", "at-least-once", "hmac"]["decisions"]  # one canned approval for every event
    assert len(shell) == 1 and next(iter(shell)).endswith("approved") and sum(shell.values()) == total
    floor = figures["shell_floor"]["at-least-once"]
    assert all(isinstance(floor[k], float) for k in floor), floor
    assert "shell floor at-least-once hmac" in stdout
    ratio = figures["ratios"]["at-least-once"]["hmac"]
    assert all(isinstance(ratio[k], float) for k in ("throughput", "cpu_per_event", "latency_p99", "peak_rss"))
    stages = figures["scaling"]["stages"]
    assert set(stages) == {"hmac", "ed25519"} and all(v > 0 for s in stages.values() for v in s.values())
    assert all({LIBRARY_CALLS, CRYPTO_ALONE} <= set(s) for s in stages.values())  # decide()'s floor
    assert set(figures["scaling"]["by_size"]["hmac"]) == {"1k", "2k", "8k"}
    assert {"10 banned terms", "10,000 banned terms", "10 rules", "500 rules"} <= set(figures["scaling"]["by_rules"])
    assert set(figures["targets"]) and all("met" in v for v in figures["targets"].values())


def _sustainable_searches_were_measured(figures: dict) -> None:
    found = figures["sustainable"]
    searches = {(s["system"], s["delivery"]): s for s in found["searches"]}
    assert set(searches) == {("relay", "at-least-once"), ("service", "at-least-once")}
    closed = {(r["system"], r["delivery"]): r["throughput_eps"] for r in figures["runs"]}
    for key, search in searches.items():
        assert search["complete"] and search["exit_code"] == 0, search.get("log_tail")
        assert search["base_eps"] == closed[key]  # the search starts from the same run's closed-loop figure
        assert len(search["steps"]) == search["search"]["steps"] == 2
        for step in search["steps"]:
            assert step["target_eps"] > 0 and step["achieved_offered_eps"] > 0 and step["offered"] > 0
            assert step["written"] == step["offered"]  # the steady producer lost nothing
            assert isinstance(step["producer_short"], bool) and isinstance(step["sustainable"], bool)
            assert step["lag"]["samples"] >= 2 and len(step["lag_series"]) == step["lag"]["samples"]
            assert isinstance(step["slope_eps"], float)
            assert step["consumed"] > 0 and step["process_cpu_share"] > 0 and step["events_per_cpu_second"] > 0
            assert 0 < step["machine_busy_share"] <= 1 and step["producer_cpu_share"] > 0
            assert step["drain"]["drained"] and step["drain"]["lag_left"] == 0
        low, high = search["bracket_eps"]
        assert 0 < low < high
        sustainable = [s["achieved_offered_eps"] for s in search["steps"] if s["sustainable"]]
        assert search["max_sustainable_eps"] == (max(sustainable) if sustainable else None)
    assert searches["service", "at-least-once"]["replay_window_entries"] > 0


def _scale_out_was_measured(figures: dict) -> None:
    found = figures["scale_out"]
    assert set(found["deliveries"]) == {"at-least-once"}
    pair = found["deliveries"]["at-least-once"]
    for instances, name in ((1, "one"), (2, "two")):
        config = pair[name]
        assert config["instances"] == instances and config["complete"], config.get("log_tail")
        assert config["exit_codes"] == [0] * instances and config["duplicates"] == 0
        for figure in ("events_per_s", "cpu_s_per_1000", "drain_s", "instances_cores"):
            assert isinstance(config[figure], float) and config[figure] > 0, (figure, config)
        assert 0 < config["machine_busy_share"] <= 1
        held = config["held_partitions"]  # every instance held some partitions, together all of them
        assert len(held) == instances and all(held) and sum(len(h) for h in held) == figures["plan"]["partitions"]
    assert isinstance(pair["ratio"], float) and pair["ratio"] > 0 and isinstance(pair["bound"], str)


def test_quick_bench_measures_sustainable_rate_scale_out_and_names_its_broker(quick_figures):
    figures, stdout = quick_figures
    assert figures["parts"] == ["matrix", "sustainable", "scale-out"]
    assert figures["kafka"]["external"] and set(figures["brokers"]) == {"external"}  # the session broker only
    assert figures["brokers"]["external"]["runs"] == figures["runs"]
    _sustainable_searches_were_measured(figures)
    _scale_out_was_measured(figures)
    assert "max sustainable rate, open loop" in stdout and "scale-out, service HMAC" in stdout
