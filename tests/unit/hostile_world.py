"""The world the hostile-input tests decide in: the real rules file, a test key for every seed provider, a fixed now.

Imported as a plain module (pytest puts this folder on sys.path, as for ``rules/rules_helpers.py``); the atheris
harness in ``tests/fuzz`` imports it too. ``check_decision`` holds the invariants every decision must keep.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from service.core.decide import decide
from service.core.decision import Decision
from service.core.decode import decode_event
from service.core.keys import ED25519, SigningKey
from service.core.reasons import Reason
from service.core.signature import Keyring, sign_document
from service.files.rules_file import read_rules

ROOT = Path(__file__).parents[2]
NOW = datetime(2020, 5, 8, 5, 0, tzinfo=UTC)
BUDGET_SECONDS = 1.0  # per event: a hang detector, not a speed target (a seed takes about 0.5 ms)
SEEDS: dict[str, bytes] = {path.name: path.read_bytes() for path in sorted((ROOT / "seeds").iterdir())}
SEED_DOCUMENTS: dict[str, dict] = {
    name: doc for name, value in SEEDS.items() if isinstance(doc := decode_event(value), dict)
}
DOMAINS = sorted(
    {d["provider"]["domain"] for d in SEED_DOCUMENTS.values() if isinstance(d.get("provider"), dict)}
)
# A fixed 32-byte seed: signatures are deterministic (Ed25519 with a fixed nonce), so the corpus can hold them.
TEST_KEY = SigningKey("hostile-test", ED25519, tuple(DOMAINS), material=bytes(range(32)))
KEYRING = Keyring([TEST_KEY.verification_key()])
RULES = read_rules(ROOT / "config" / "rules.yaml")
NONCE = b"hostile-nonce-16"
CODE_FAMILIES = ("input.", "schema.", "signature.", "rules.")


def signed(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with a valid ``secured`` for the test key (raises CanonicalError if it has none)."""
    copied = copy.deepcopy(document)
    copied["secured"] = sign_document(copied, TEST_KEY, NONCE)
    return copied


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def as_json(document: Any) -> bytes:
    return orjson.dumps(document)


def as_front_matter(document: Any, newline: str = "\n") -> bytes:
    """The document as front matter; strings PyYAML would read as another type are quoted by the dumper."""
    text = yaml.dump(document, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=10**6)
    return f"---{newline}{text.replace(chr(10), newline)}---{newline}".encode("utf-8", "surrogatepass")


def decide_record(value: bytes | None) -> tuple[Decision, float]:
    """The decision for ``value`` in this world, and the seconds it took.

    Over budget, the record is decided once more and the faster time kept: a hang repeats, a stall of a busy
    machine (another process, a garbage collection) does not.
    """
    started = time.perf_counter()
    decision = decide(value, (), KEYRING, RULES, NOW)
    seconds = time.perf_counter() - started
    if seconds >= BUDGET_SECONDS:
        started = time.perf_counter()
        decision = decide(value, (), KEYRING, RULES, NOW)
        seconds = min(seconds, time.perf_counter() - started)
    return decision, seconds


def check_decision(decision: Decision, seconds: float) -> None:
    """What holds for every decision, whatever the input: the shell can always publish it."""
    assert isinstance(decision, Decision)
    assert seconds < BUDGET_SECONDS, f"one event took {seconds:.3f} s"
    assert decision.decision in ("approved", "rejected")
    assert all(isinstance(reason, Reason) for reason in decision.reasons)
    if decision.decision == "rejected":
        assert decision.reasons, "a rejection always says why"
    if decision.decision == "approved":
        assert decision.signer == TEST_KEY.key_id and decision.article is not None
    for reason in decision.reasons:
        assert reason.rule is not None or reason.code.startswith(CODE_FAMILIES), reason
        assert len(reason.message) < 2_000 and (reason.path is None or len(reason.path) < 2_000), reason
    if decision.article is not None:
        orjson.dumps(decision.article)  # the envelope can always serialise what was decoded (no lone surrogates)
