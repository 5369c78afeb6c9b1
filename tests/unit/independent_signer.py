"""A second implementation of the `secured` field, written from docs/signing.md alone, for checking the vectors.

tests/vectors/signing.json is written by the service's own code; checked only against that code it would be
the implementation agreeing with itself. This module imports nothing from the service (no orjson, no
`cryptography`): the canonical form is encoded by hand from the spec's six rules, and Ed25519 is the pure-Python
reference of RFC 8032 section 6 (slow, fine for a handful of vectors). HMAC-SHA256 is the standard library's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

PREFIX = b"article-moderation/secured/v1\x00"  # "the ASCII text and one zero byte", 30 bytes
MAX_INT = 2**53 - 1
SECURED_LENGTH = {"ed25519": 113, "hmac-sha256": 69}


class Refused(ValueError):
    """The spec gives this value no canonical form."""


# --- canonical form (docs/signing.md, "What is signed, byte for byte") ----------------------------------------

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            raise Refused("an unpaired surrogate cannot be signed")
        else:
            out.append(char)  # DEL, U+2028, U+2029 and all non-ASCII as themselves
    return '"' + "".join(out) + '"'


def _encode(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise Refused(f"integer outside ±(2^53 - 1): {value}")
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        # Python orders str by code point, which is the spec's order (not RFC 8785's UTF-16 order).
        return "{" + ",".join(_string(k) + ":" + _encode(value[k]) for k in sorted(value)) + "}"
    raise Refused(f"no canonical form for {type(value).__name__}")  # floats above all


def canonical(event: dict[str, Any]) -> bytes:
    """The event without its top-level `secured` member, as canonical UTF-8 JSON."""
    return _encode({k: v for k, v in event.items() if k != "secured"}).encode("utf-8")


def read_json(text: str) -> Any:
    """JSON as the spec reads it: the last of duplicate keys wins; any number with a fraction or exponent is
    refused, even an integral one; NaN and Infinity are not JSON."""
    def refuse(literal: str) -> Any:
        raise Refused(f"not a signable number: {literal}")

    return json.loads(text, parse_float=refuse, parse_constant=refuse)


def signing_input(nonce: bytes, event: dict[str, Any]) -> bytes:
    return PREFIX + nonce + canonical(event)


# --- the secured value ----------------------------------------------------------------------------------------

def b64_canonical(text: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling, or Refused."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    if base64.b64encode(raw).decode() != text:
        raise Refused("not the canonical base64 spelling")
    return raw


def tag(algorithm: str, material: bytes, message: bytes) -> bytes:
    if algorithm == "ed25519":
        return ed25519_sign(material, message)
    if algorithm == "hmac-sha256":
        return hmac.new(material, message, hashlib.sha256).digest()
    raise Refused(f"unknown algorithm {algorithm}")


def secured(algorithm: str, material: bytes, nonce: bytes, event: dict[str, Any]) -> str:
    signature = tag(algorithm, material, signing_input(nonce, event))
    return base64.b64encode(signature).decode() + ";" + base64.b64encode(nonce).decode()


def verify(algorithm: str, material: bytes, event: dict[str, Any]) -> bool:
    """Does the event's `secured` verify under this key (Ed25519 public key, or HMAC secret)?"""
    value = event.get("secured")
    if not isinstance(value, str) or len(value) != SECURED_LENGTH[algorithm] or value.count(";") != 1:
        return False
    tag_text, nonce_text = value.split(";")
    try:
        signature, nonce = b64_canonical(tag_text), b64_canonical(nonce_text)
        message = signing_input(nonce, event)
    except Refused:
        return False
    if len(nonce) != 16:
        return False
    if algorithm == "ed25519":
        return ed25519_verify(material, message, signature)
    return hmac.compare_digest(hmac.new(material, message, hashlib.sha256).digest(), signature)


# --- Ed25519, RFC 8032 section 6 (reference code, transcribed) ------------------------------------------------

_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_Q = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a: tuple, b: tuple) -> tuple:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c, d = 2 * a[3] * b[3] * _D % _P, 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f, g * h, f * g, e * h)


def _mul(s: int, point: tuple) -> tuple:
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _equal(a: tuple, b: tuple) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    return _P - x if (x & 1) != sign else x


_GY = 4 * pow(5, -1, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(point: tuple) -> bytes:
    zinv = pow(point[2], -1, _P)
    x, y = point[0] * zinv % _P, point[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(data: bytes) -> tuple | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _expand(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def _hash_mod_q(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % _Q


def ed25519_public(seed: bytes) -> bytes:
    return _compress(_mul(_expand(seed)[0], _G))


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    scalar, prefix = _expand(seed)
    public = _compress(_mul(scalar, _G))
    r = _hash_mod_q(prefix + message)
    big_r = _compress(_mul(r, _G))
    s = (r + _hash_mod_q(big_r + public + message) * scalar) % _Q
    return big_r + int.to_bytes(s, 32, "little")


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _Q:
        return False
    h = _hash_mod_q(signature[:32] + public + message)
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))
