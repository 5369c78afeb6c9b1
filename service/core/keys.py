"""Signing and verification keys.

Rules of this module:
* One algorithm per key, fixed when the key is made; a message never chooses it (RFC 8725 section 3.1).
* Key material never appears in a repr, an exception or a message: only key ids do.
* A key is bound to the provider domains it may sign for (lower-cased), and optionally to a validity
  window ``not_before <= now < not_after`` (half-open, timezone-aware).
* A key has one purpose: ``articles`` (the default: it signs article events) or ``review-actions`` (it signs
  reviewers' actions, service/core/review_action.py, and has no providers). A key of one purpose never verifies
  anything of the other: an article producer's key cannot settle a held event, and a reviewer's key cannot
  sign an article.
* A small-order (weak) Ed25519 public key is refused when the key is made: with one, a single fixed signature
  verifies every message (RFC 8032 verification does not exclude them; libsodium does, the same way as here).
The key-file format (JSON) is at the end; ``service.files.keydir`` reads and writes the files.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.core.errors import InvalidKeyError  # re-exported: callers import it from here

ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
TAG_LENGTH = {ED25519: 64, HMAC_SHA256: 32}
MIN_SECRET, MAX_SECRET = 32, 1024  # RFC 2104: a secret shorter than the hash output is discouraged
ARTICLES, REVIEW_ACTIONS = "articles", "review-actions"
PURPOSES = (ARTICLES, REVIEW_ACTIONS)
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # also a file name: no '/', no leading dot
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


# The y coordinates (sign bit cleared) of the eight points of small order on edwards25519 and of their
# non-canonical encodings, as libsodium's ge25519_has_small_order lists them: 0 (order 4), 1 (order 1), the two
# of order 8, p-1 (order 2), p (= 0) and p+1 (= 1). Clearing the sign bit covers both x signs: 14 encodings.
# tests/unit/test_keys_weak.py derives the list from the curve arithmetic.
SMALL_ORDER_Y = frozenset(bytes.fromhex(h) for h in (
    "00" * 32,
    "01" + "00" * 31,
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
))


def is_small_order(public_key: bytes) -> bool:
    """Is this 32-byte Ed25519 public key one of the small-order (weak) encodings?"""
    return len(public_key) == 32 and public_key[:31] + bytes((public_key[31] & 0x7F,)) in SMALL_ORDER_Y


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    algorithm: str
    providers: frozenset[str]
    not_before: datetime | None = None
    not_after: datetime | None = None
    material: bytes = field(default=b"", repr=False)
    purpose: str = ARTICLES

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise InvalidKeyError("keyId must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit")
        name = f"key {self.key_id}"
        if self.algorithm not in TAG_LENGTH:
            raise InvalidKeyError(f"{name}: algorithm must be one of {', '.join(TAG_LENGTH)}")
        if self.purpose not in PURPOSES:
            raise InvalidKeyError(f"{name}: purpose must be one of {', '.join(PURPOSES)}")
        given = tuple(self.providers) if not isinstance(self.providers, str | bytes) else ()
        if self.purpose == REVIEW_ACTIONS:
            if self.algorithm != ED25519:  # an HMAC verification key is the signing secret itself: whoever could
                # read the service's key directory could then sign actions and settle events
                raise InvalidKeyError(f"{name}: a review-actions key is ed25519 (with hmac-sha256 the service's "
                                      "verification key would be the reviewers' signing secret)")
            if given:
                raise InvalidKeyError(f"{name}: a review-actions key signs actions, not articles: no providers")
        elif not given or not all(isinstance(p, str) and _DOMAIN.fullmatch(p.lower()) for p in given):
            raise InvalidKeyError(f"{name}: providers must be a non-empty list of domain names")
        object.__setattr__(self, "providers", frozenset(p.lower() for p in given))
        for moment in (self.not_before, self.not_after):
            if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
                raise InvalidKeyError(f"{name}: notBefore/notAfter must be date-times with a timezone")
        if self.not_before and self.not_after and self.not_before >= self.not_after:
            raise InvalidKeyError(f"{name}: notBefore must come before notAfter")
        size = len(self.material) if isinstance(self.material, bytes) else -1
        if self.algorithm == ED25519 and size != 32:
            raise InvalidKeyError(f"{name}: an ed25519 key is 32 bytes, not {size}")
        if self.algorithm == HMAC_SHA256 and not MIN_SECRET <= size <= MAX_SECRET:
            raise InvalidKeyError(f"{name}: hmac secrets are {MIN_SECRET}-{MAX_SECRET} bytes, not {size}")

    def window_problem(self, now: datetime) -> str | None:
        """Why the key may not be used at ``now``, or None when it may."""
        if self.not_before is not None and now < self.not_before:
            return f"key {self.key_id} is not valid before {self.not_before.isoformat()}"
        if self.not_after is not None and now >= self.not_after:
            return f"key {self.key_id} expired at {self.not_after.isoformat()}"
        return None


@dataclass(frozen=True, slots=True)
class VerificationKey(_Key):
    """A key the service trusts: an Ed25519 public key, or an HMAC shared secret (then it is secret too)."""

    _public: Ed25519PublicKey | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _Key.__post_init__(self)
        if self.algorithm == ED25519:  # parsed once here, not once per verification
            if is_small_order(self.material):
                raise InvalidKeyError(
                    f"key {self.key_id}: the public key is a small-order point (a weak key: one fixed signature"
                    " would verify every event); make a new key with `moderation keygen`"
                )
            object.__setattr__(self, "_public", Ed25519PublicKey.from_public_bytes(self.material))

    def verify(self, message: bytes, tag: bytes) -> bool:
        if self._public is not None:
            try:
                self._public.verify(tag, message)
            except InvalidSignature:
                return False
            return True
        # Constant time: the comparison must not tell an attacker how many leading bytes were right.
        return hmac.compare_digest(hmac.digest(self.material, message, "sha256"), tag)


@dataclass(frozen=True, slots=True)
class SigningKey(_Key):
    """A producer's key: an Ed25519 private key (its 32-byte seed), or the HMAC shared secret."""

    _private: Ed25519PrivateKey | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _Key.__post_init__(self)
        if self.algorithm == ED25519:
            object.__setattr__(self, "_private", Ed25519PrivateKey.from_private_bytes(self.material))

    def sign(self, message: bytes) -> bytes:
        if self._private is not None:
            return self._private.sign(message)
        return hmac.digest(self.material, message, "sha256")

    def verification_key(self) -> VerificationKey:
        """What the service must hold: the public half (Ed25519) or the same secret (HMAC)."""
        material = self.material
        if self._private is not None:
            material = self._private.public_key().public_bytes_raw()
        return VerificationKey(
            self.key_id, self.algorithm, self.providers, self.not_before, self.not_after, material, self.purpose
        )


AnyKey = SigningKey | VerificationKey
KeyKind = type[SigningKey] | type[VerificationKey]

# Key files: the material's field name says what the file holds, so that a signing key dropped into the
# service's key directory is refused rather than trusted.
_MATERIAL = {
    (SigningKey, ED25519): "privateKey", (SigningKey, HMAC_SHA256): "secret",
    (VerificationKey, ED25519): "publicKey", (VerificationKey, HMAC_SHA256): "secret",
}
_FIELDS = {"keyId", "algorithm", "purpose", "providers", "notBefore", "notAfter", "privateKey", "publicKey", "secret"}


def key_to_json(key: AnyKey) -> dict:
    doc: dict = {"keyId": key.key_id, "algorithm": key.algorithm, "providers": sorted(key.providers)}
    if key.purpose != ARTICLES:  # absent means articles: key files written before purposes existed stay valid
        doc["purpose"] = key.purpose
    for name, moment in (("notBefore", key.not_before), ("notAfter", key.not_after)):
        if moment is not None:
            doc[name] = moment.isoformat()
    doc[_MATERIAL[type(key), key.algorithm]] = base64.b64encode(key.material).decode("ascii")
    return doc


def key_from_json(doc: object, kind: KeyKind) -> AnyKey:
    """Parse a key file's JSON value; raises InvalidKeyError naming the problem (never the material)."""
    if not isinstance(doc, dict):
        raise InvalidKeyError("a key file holds one JSON object")
    unknown = sorted(str(name)[:40] for name in set(doc) - _FIELDS)
    if unknown:
        raise InvalidKeyError(f"unknown field(s): {', '.join(unknown[:5])}")
    algorithm = doc.get("algorithm")
    field = _MATERIAL.get((kind, algorithm)) if isinstance(algorithm, str) else None
    if field is None:
        raise InvalidKeyError("algorithm must be ed25519 or hmac-sha256")
    if field not in doc:
        hint = "a signing key: keep it with the producer" if kind is VerificationKey else "a verification key"
        raise InvalidKeyError(f"no '{field}' field for a {kind.__name__}; is this {hint}?")
    providers = doc.get("providers", [] if doc.get("purpose") == REVIEW_ACTIONS else None)
    return kind(
        doc.get("keyId"), algorithm, tuple(providers) if isinstance(providers, list) else (),  # type: ignore[arg-type]
        _moment(doc, "notBefore"), _moment(doc, "notAfter"), _base64(doc[field], field),
        doc.get("purpose", ARTICLES),  # type: ignore[arg-type]
    )


def _moment(doc: dict, name: str) -> datetime | None:
    text = doc.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise InvalidKeyError(f"{name} must be an ISO 8601 date-time with a timezone: 2027-01-01T00:00:00Z")
    return moment


def _base64(text: object, name: str) -> bytes:
    try:
        if isinstance(text, str):
            return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    raise InvalidKeyError(f"{name} must be standard base64")
