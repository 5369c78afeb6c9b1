"""Memory under hostile input, in-process (tracemalloc): figures the benchmark reports and no test asserts.

- ``billion_laughs``: peak traced memory while deciding tests/corpus/files/billion-laughs.md, a YAML front
  matter of nested aliases that would make 10^9 strings if expanded. The decoder refuses the first alias
  (``input.yaml_alias``, which tests/unit/test_hostile_inputs.py asserts), so the peak stays near the input's size.
- ``growth``: traced memory kept after deciding the small corpus cases (tests/corpus/cases.yaml) again and
  again, once allocator free lists and bounded caches (orjson's key cache...) are warm. A leak of one small
  object (~30 bytes) per decision would show as ~30 bytes times ``decisions``; what remains is allocator and
  cache noise (a few KB).
"""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from service.core.decide import decide
from service.core.signature import Keyring
from service.files.rules_file import read_rules

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
NOW = datetime(2020, 5, 8, 5, 0, tzinfo=UTC)


def _joined(parts: list) -> str:
    return "".join((_joined(part) if isinstance(part, list) else part) * times for part, times in parts)


def _small_cases(limit: int = 20_000) -> list[bytes]:
    """The corpus cases that need no signed seed, as record values, those under ``limit`` bytes."""
    values = []
    for case in yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8")):
        if "file" in case:
            value = (CORPUS / "files" / case["file"]).read_bytes()
        elif "bytes" in case:
            value = case["bytes"].encode("latin-1")
        elif "parts" in case:
            value = _joined(case["parts"]).encode("utf-8")
        elif "{SIGNED" not in case["text"]:
            value = case["text"].encode("utf-8")
        else:
            continue
        if len(value) < limit:
            values.append(value)
    return values


def billion_laughs() -> dict[str, Any]:
    value = (CORPUS / "files" / "billion-laughs.md").read_bytes()
    rules = read_rules(ROOT / "config" / "rules.yaml")
    tracemalloc.start()
    try:
        decision = decide(value, (), Keyring(), rules, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"input_bytes": len(value), "peak_traced_bytes": peak,
            "reasons": [reason.code for reason in decision.reasons]}


def growth(warm_rounds: int = 60, rounds: int = 40) -> dict[str, Any]:
    values = _small_cases()
    rules = read_rules(ROOT / "config" / "rules.yaml")
    keyring = Keyring()
    tracemalloc.start()  # before warming up: objects replaced in a cache during the measurement then cancel out
    try:
        for _ in range(warm_rounds):
            for value in values:
                decide(value, (), keyring, rules, NOW)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            for value in values:
                decide(value, (), keyring, rules, NOW)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return {"decisions": rounds * len(values), "grown_bytes": grown}


def figures(quick: bool) -> dict[str, Any]:
    return {"billion_laughs": billion_laughs(),
            "growth": growth(warm_rounds=10, rounds=10) if quick else growth()}
