"""Small-order (weak) Ed25519 public keys are refused when a key is loaded (issue 12, section 7).

With such a key RFC 8032 verification accepts one fixed signature for every message: the identity point
``AQAAAA...A=`` and the signature (R = identity, S = 0) verify anything. The blocklist in service/core/keys.py is
derived here again from the curve arithmetic, so a typo in it cannot hide.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.core.keys import (
    ED25519,
    SMALL_ORDER_Y,
    InvalidKeyError,
    SigningKey,
    VerificationKey,
    is_small_order,
    key_from_json,
)
from service.files.keydir import load_keyring

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the main subgroup
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def times(k: int, point: tuple[int, int]) -> tuple[int, int]:
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point, k = add(point, point), k >> 1
    return result


def point_with_y(y: int) -> tuple[int, int] | None:
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P  # RFC 8032 5.1.3
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    return (x, y) if v * x * x % P == u % P else None


def encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def torsion_points() -> set[tuple[int, int]]:
    """The 8 points of order dividing 8: [L]Q for curve points Q, until a generator of order 8 turns up."""
    for y in range(2, 1000):
        q = point_with_y(y)
        if q is None:
            continue
        t = times(L, q)
        if times(4, t) != IDENTITY:  # order 8: its multiples are the whole torsion subgroup
            return {times(k, t) for k in range(8)}
    raise AssertionError("no point of order 8 found")


def small_order_encodings() -> set[bytes]:
    """Every 32-byte string that decodes to a small-order point: canonical, with the sign bit set on x = 0,
    and with y + p in place of y where that still fits in 255 bits."""
    found = set()
    for x, y in torsion_points():
        for y_written in (y, y + P):
            if y_written < 2**255:
                found.add((y_written | ((x & 1) << 255)).to_bytes(32, "little"))
                if x == 0:  # "negative zero": a non-canonical sign bit
                    found.add((y_written | (1 << 255)).to_bytes(32, "little"))
    return found


def test_the_blocklist_is_the_small_order_points_with_their_non_canonical_twins():
    encodings = small_order_encodings()
    assert len(torsion_points()) == 8 and len(encodings) == 14
    assert {e[:31] + bytes((e[31] & 0x7F,)) for e in encodings} == SMALL_ORDER_Y
    assert all(is_small_order(e) for e in encodings)


def test_real_keys_are_not_small_order():
    for seed in (bytes(32), bytes(range(32)), b"\xff" * 32):
        public = SigningKey("k", ED25519, ("example.org",), material=seed).verification_key().material
        assert not is_small_order(public)


@pytest.mark.parametrize("encoding", sorted(small_order_encodings()), ids=lambda e: e.hex()[:8] + e.hex()[-2:])
def test_a_weak_public_key_is_refused_when_the_key_is_made(encoding):
    with pytest.raises(InvalidKeyError, match="small-order point") as caught:
        VerificationKey("weak", ED25519, ("example.org",), material=encoding)
    assert base64.b64encode(encoding).decode() not in str(caught.value)  # material never in messages


def test_why_the_identity_key_is_dangerous_and_that_the_key_directory_refuses_it(tmp_path):
    identity = encode(IDENTITY)
    assert identity == b"\x01" + bytes(31)
    forged = identity + bytes(32)  # R = identity, S = 0
    for message in (b"one event", b"any other event"):
        Ed25519PublicKey.from_public_bytes(identity).verify(forged, message)  # RFC 8032 accepts: no exception
    file = {"keyId": "weak", "algorithm": "ed25519", "providers": ["example.org"],
            "publicKey": base64.b64encode(identity).decode()}
    with pytest.raises(InvalidKeyError, match="small-order"):
        key_from_json(file, VerificationKey)
    path = tmp_path / "weak.key.json"
    path.write_text(json.dumps(file))
    os.chmod(path, 0o600)
    keyring, problems = load_keyring(tmp_path)
    assert len(keyring) == 0 and any("small-order" in str(problem) for problem in problems)
