"""Every signing vector, checked by a second implementation written from docs/signing.md alone (always runs).

The vectors are written by the service's code (test_signature.py --write-vectors) and test_signature.py checks
them against that same code; the JavaScript reference in docs/signing.md is only run where Node is installed.
Here tests/unit/independent_signer.py, which imports nothing from the service, must reproduce each vector's
canonical bytes, signing input and tag byte for byte, verify its `secured` value, and refuse every refused case.
Front matter is not re-read here (that needs a second YAML reader): the JSON `event` of each vector is checked,
and test_signature.py holds the front matter to the same values.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import independent_signer as spec
import pytest

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "signing.json").read_text(encoding="utf-8"))


def material(key_file: dict[str, Any]) -> bytes:
    name = next(field for field in ("privateKey", "publicKey", "secret") if field in key_file)
    return spec.b64_canonical(key_file[name])


def test_the_independent_ed25519_matches_rfc_8032_test_1() -> None:
    """The pure-Python Ed25519 is itself right: RFC 8032 section 7.1, TEST 1 (empty message)."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert spec.ed25519_public(seed) == public
    assert spec.ed25519_sign(seed, b"") == signature
    assert spec.ed25519_verify(public, b"", signature)
    assert not spec.ed25519_verify(public, b"x", signature)


def test_the_prefix_is_the_documented_one() -> None:
    assert VECTORS["prefixHex"] == spec.PREFIX.hex() and len(spec.PREFIX) == 30


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_every_vector_is_reproduced_by_the_independent_signer(vector: dict[str, Any]) -> None:
    keys = VECTORS["keys"][vector["key"]]
    algorithm = keys["signing"]["algorithm"]
    event, nonce = vector["event"], spec.b64_canonical(vector["nonce"])

    assert spec.canonical(event).hex() == vector["canonicalHex"]
    assert len(nonce) == 16
    assert spec.secured(algorithm, material(keys["signing"]), nonce, event) == vector["secured"]
    assert vector["secured"] == f"{vector['tag']};{vector['nonce']}"
    assert len(vector["secured"]) == spec.SECURED_LENGTH[algorithm]

    verification = material(keys["verification"])
    if algorithm == "ed25519":
        assert spec.ed25519_public(material(keys["signing"])) == verification
    signed = {**event, "secured": vector["secured"]}
    assert spec.verify(algorithm, verification, signed)
    # and the check can fail: any change to the content breaks it
    tampered = {**signed, "title": str(event.get("title", "")) + "."}
    assert not spec.verify(algorithm, verification, tampered)


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda c: c["name"])
def test_every_refused_case_is_refused_by_the_independent_signer(case: dict[str, Any]) -> None:
    with pytest.raises(spec.Refused):
        spec.canonical(spec.read_json(case["eventJson"]))


def test_the_independent_canonical_form_follows_each_documented_rule() -> None:
    """The rules of docs/signing.md one by one, so the second implementation is not only fitted to the vectors."""
    assert spec.canonical({"b": 1, "a": [True, False, None], "secured": "x"}) == b'{"a":[true,false,null],"b":1}'
    assert spec.canonical({"\U0001f600": 1, "\uffff": 2}) == '{"\uffff":2,"\U0001f600":1}'.encode()
    text = '"\\\b\t\n\f\r\x00\x1f\x7f/\u2028é'
    assert spec.canonical({"s": text}) == ('{"s":"\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001f\x7f/\u2028é"}').encode()
    assert spec.canonical({"n": -(2**53 - 1)}) == b'{"n":-9007199254740991}'
    assert spec.canonical({"nested": {"secured": 1}}) == b'{"nested":{"secured":1}}'  # only the top level goes
    for refused in ({"f": 1.0}, {"n": 2**53}, {"s": "\ud800"}):
        with pytest.raises(spec.Refused):
            spec.canonical(refused)
    assert spec.read_json('{"a": 1, "a": 2}') == {"a": 2}  # the last of duplicate keys
    assert base64.b64encode(spec.b64_canonical("AAAA")) == b"AAAA"
    with pytest.raises(spec.Refused):
        spec.b64_canonical("AB==")  # unused bits set: not the canonical spelling
