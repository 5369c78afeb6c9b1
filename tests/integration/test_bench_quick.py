"""The benchmark's quick mode runs end to end on the session broker, so it never rots. No thresholds here:
figures on a shared CI machine say nothing; only that every figure was produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).parents[2]


def test_quick_bench_produces_every_figure(kafka_bootstrap, tmp_path):
    out = tmp_path / "quick.json"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "service/relay at-least-once hmac" in done.stdout  # the table was printed

    figures = json.loads(out.read_text())
    assert figures["mode"] == "quick"
    assert {"cores", "cpu_model", "memory_gb", "python", "kafka"} <= set(figures["machine"])
    runs = {(r["system"], r["delivery"], r["algorithm"]): r for r in figures["runs"]}
    assert set(runs) == {("relay", "at-least-once", "hmac"), ("service", "at-least-once", "hmac")}
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
    ratio = figures["ratios"]["at-least-once"]["hmac"]
    assert all(isinstance(ratio[k], float) for k in ("throughput", "cpu_per_event", "latency_p99", "peak_rss"))
    stages = figures["scaling"]["stages"]
    assert set(stages) == {"hmac", "ed25519"} and all(v > 0 for s in stages.values() for v in s.values())
    assert set(figures["scaling"]["by_size"]["hmac"]) == {"1k", "2k", "8k"}
    assert {"10 banned terms", "10,000 banned terms", "10 rules", "500 rules"} <= set(figures["scaling"]["by_rules"])
    assert set(figures["targets"]) and all("met" in v for v in figures["targets"].values())
