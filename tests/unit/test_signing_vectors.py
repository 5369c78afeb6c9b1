"""The reader vectors of tests/vectors/signing.json hold the service to docs/signing.md (issue 12, section 7).

Another implementation tests its reader and verifier with the same file: ``readerRefusals`` (records refused, with
the reason code of the first reason), ``frontMatterValues`` (how plain YAML words read: the record is
``---\\nv: <yaml>\\n---\\n`` and reads to ``{"v": <json>}``) and ``weakPublicKeys`` (Ed25519 keys a loader refuses).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.core.decide import decide
from service.core.decode import decode_event
from service.core.keys import InvalidKeyError, VerificationKey, key_from_json
from service.core.rules import load_rules
from service.core.signature import Keyring

VECTORS = json.loads((Path(__file__).parents[2] / "tests" / "vectors" / "signing.json").read_text(encoding="utf-8"))
KEYRING = Keyring(key_from_json(k["verification"], VerificationKey) for k in VECTORS["keys"].values())
NO_RULES = load_rules("rules: []\n", "none.yaml")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(case: dict) -> bytes:
    return base64.b64decode(case["recordBase64"]) if "recordBase64" in case else case["record"].encode("utf-8")


@pytest.mark.parametrize("case", VECTORS["readerRefusals"], ids=lambda c: c["name"])
def test_the_service_refuses_each_reader_vector_with_its_code(case):
    decision = decide(record(case), (), KEYRING, NO_RULES, NOW)
    assert decision.decision == "rejected", case["name"]
    assert decision.reasons[0].code == case["code"], (case["name"], decision.reasons)


def test_the_reader_vectors_cover_every_point_of_the_spec():
    codes = {case["code"] for case in VECTORS["readerRefusals"]}
    assert {"input.duplicate_key", "input.nul_character", "input.malformed_yaml", "input.not_an_object",
            "input.unknown_format", "signature.malformed", "signature.invalid"} <= codes
    # and the signed event they tamper with is accepted as it is
    signed = next(v for v in VECTORS["vectors"] if v["name"] == "contract-json-hmac-sha256")
    value = json.dumps({**signed["event"], "secured": signed["secured"]}).encode()
    assert decide(value, (), KEYRING, NO_RULES, NOW).decision == "approved"


@pytest.mark.parametrize("case", VECTORS["frontMatterValues"], ids=lambda c: c["yaml"] or "<empty>")
def test_plain_yaml_words_read_as_the_spec_says(case):
    assert decode_event(f"---\nv: {case['yaml']}\n---\n".encode()) == {"v": case["json"]}


@pytest.mark.parametrize("public_key", VECTORS["weakPublicKeys"])
def test_each_weak_public_key_is_refused_at_load(public_key):
    file = {"keyId": "weak", "algorithm": "ed25519", "providers": ["example.org"], "publicKey": public_key}
    with pytest.raises(InvalidKeyError, match="small-order"):
        key_from_json(file, VerificationKey)
