"""The ``secured`` field: ``<base64 tag>;<base64 nonce>`` over the canonical event (spec: docs/signing.md).

Rules of this module:
* The key is chosen by the event's ``provider.domain`` among keys the operator trusts (the Keyring); nothing
  in the message picks a key or an algorithm. Several keys per provider may be live at once (rotation):
  each one whose algorithm fits the tag length is tried.
* ``verify_document`` never raises for any ``secured`` value or document shape; every failure is a Reason
  with a stable ``signature.*`` code. Messages name key ids and domains, never key material.
* Validity windows are checked against ``now``, the argument: the service passes the record's timestamp,
  not the wall clock, so reprocessing a record gives the same decision.
* Signing takes its nonce as an argument: randomness stays in the shell (``service/signing.py`` draws it
  with ``secrets``), so the same arguments always give the same ``secured`` value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from service.core import reasons as r
from service.core.canonical import NONCE_LENGTH, SECURED, CanonicalError, canonical_bytes, signing_input
from service.core.keys import ARTICLES, TAG_LENGTH, SigningKey, VerificationKey
from service.core.reasons import Reason

__all__ = ["MAX_SECURED_LENGTH", "Keyring", "Verified", "parse_secured", "sign_document", "verify_document",
           "verify_signature"]

MAX_SECURED_LENGTH = 1024  # an Ed25519 value is 113 characters, the seed's 517; longer is refused unread


class Keyring:
    """The trusted verification keys, indexed by provider domain. Immutable."""

    __slots__ = ("_by_domain", "_keys")

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        keys = tuple(keys)
        by_domain: dict[str, list[VerificationKey]] = {}
        seen: set[str] = set()
        for key in keys:
            if not isinstance(key, VerificationKey):
                raise TypeError(f"a Keyring holds VerificationKey objects, not {type(key).__name__}")
            if key.key_id in seen:
                raise ValueError(f"two keys have the id {key.key_id}")
            seen.add(key.key_id)
            if key.purpose != ARTICLES:
                continue  # held (and counted) but never a candidate for an article: review-actions keys
            for domain in key.providers:
                by_domain.setdefault(domain, []).append(key)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_by_domain", MappingProxyType({d: tuple(k) for d, k in by_domain.items()}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Keyring is immutable; build a new one")

    def candidates(self, domain: str) -> tuple[VerificationKey, ...]:
        """Keys bound to ``domain`` (case-insensitive): one dict lookup, whatever the number of producers."""
        return self._by_domain.get(domain.lower(), ()) if isinstance(domain, str) else ()

    @property
    def keys(self) -> tuple[VerificationKey, ...]:
        return self._keys

    @property
    def article_keys(self) -> int:
        """How many keys can verify articles (review-actions keys are held here too, and verify none)."""
        return sum(key.purpose == ARTICLES for key in self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[VerificationKey]:
        return iter(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys: {', '.join(k.key_id for k in self._keys)})"


def sign_document(document: Mapping, key: SigningKey, nonce: bytes) -> str:
    """The ``secured`` value for ``document`` (any ``secured`` already in it is ignored) with this nonce.

    The nonce must be fresh and random for every signature (``service.signing.new_nonce()``); it is an argument
    so the core draws no randomness. Raises CanonicalError when the document has no canonical form (floats,
    lone surrogates...), ValueError for a nonce that is not 16 bytes, TypeError for a key that is not a
    SigningKey.
    """
    if not isinstance(key, SigningKey):
        raise TypeError(f"signing needs a SigningKey, not {type(key).__name__}")
    if key.purpose != ARTICLES:
        raise ValueError(f"key {key.key_id} has purpose {key.purpose}; it cannot sign articles")
    tag = key.sign(signing_input(nonce, canonical_bytes(document)))
    return f"{base64.b64encode(tag).decode('ascii')};{base64.b64encode(nonce).decode('ascii')}"


def parse_secured(value: object) -> tuple[bytes, bytes] | Reason:
    """``(tag, nonce)`` from a ``secured`` value, or a ``signature.malformed`` reason."""
    if not isinstance(value, str):
        return _malformed(f"must be a string, not {type(value).__name__}")
    if len(value) > MAX_SECURED_LENGTH:
        return _malformed(f"is {len(value)} characters long; at most {MAX_SECURED_LENGTH} are read")
    parts = value.split(";")
    if len(parts) != 2:
        return _malformed("must be '<base64 tag>;<base64 nonce>'")
    tag, nonce = _strict_base64(parts[0]), _strict_base64(parts[1])
    if tag is None or nonce is None:
        return _malformed("must be two parts in standard base64 with padding, separated by ';'")
    if len(nonce) != NONCE_LENGTH:
        return _malformed(f"has a {len(nonce)}-byte nonce; it must be {NONCE_LENGTH} bytes")
    return tag, nonce


# Not frozen, built once per signed record: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~4x the time). Nothing assigns to one after it is built (docs/benchmarks.md, issue 14).
@dataclass(slots=True)
class Verified:
    """Who signed an event, and the nonce of its ``secured`` value (replay detection keys on the pair)."""

    key_id: str
    nonce: bytes


def verify_document(document: Mapping, keyring: Keyring, now: datetime) -> str | Reason:
    """The id of the key that signed ``document``, or why it cannot be trusted (see ``verify_signature``)."""
    verified = verify_signature(document, keyring, now)
    return verified if isinstance(verified, Reason) else verified.key_id


def verify_signature(document: Mapping, keyring: Keyring, now: datetime, *,
                     values_checked: bool = False) -> Verified | Reason:
    """The key that signed ``document`` and the nonce, or why it cannot be trusted. ``secured`` is parsed once.

    ``now`` must be timezone-aware (a naive one is a programming error and raises ValueError).
    ``values_checked``: ``document`` is known to hold only JSON values of the canonical form's types
    (``canonical_bytes(..., checked=True)``), as an article the schema accepted does.
    """
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("verify_document needs a timezone-aware datetime for now")
    secured = document.get(SECURED) if isinstance(document, Mapping) else None
    if secured is None:
        return Reason(r.SIGNATURE_MISSING, "the event has no secured field", path=SECURED)
    parsed = parse_secured(secured)
    if isinstance(parsed, Reason):
        return parsed
    tag, nonce = parsed
    provider = document.get("provider")
    domain = provider.get("domain") if isinstance(provider, Mapping) else None
    keys = keyring.candidates(domain) if isinstance(domain, str) else ()
    if not keys:
        if not isinstance(domain, str):
            return _unknown("the event has no provider.domain, so no key can be chosen")
        return _unknown(f"no key is bound to provider {_quote(domain)}")
    usable = [key for key in keys if key.window_problem(now) is None]
    if not usable:
        problems = "; ".join(str(key.window_problem(now)) for key in keys)
        return _unknown(f"no key for provider {_quote(domain)} is valid at {now.isoformat()}: {problems}")
    fitting = [key for key in usable if TAG_LENGTH[key.algorithm] == len(tag)]
    if not fitting:
        expected = ", ".join(sorted({f"{TAG_LENGTH[k.algorithm]} ({k.algorithm})" for k in usable}))
        return _malformed(f"has a {len(tag)}-byte tag; the keys for {_quote(domain)} expect {expected}")
    try:
        message = signing_input(nonce, canonical_bytes(document, checked=values_checked))
    except CanonicalError as exc:
        return Reason(r.SIGNATURE_INVALID, f"the event cannot have been signed: {exc}", path=SECURED)
    for key in fitting:
        if key.verify(message, tag):
            return Verified(key.key_id, nonce)
    ids = ", ".join(key.key_id for key in fitting)
    problem = f"the signature does not match the event under any key for {_quote(domain)} ({ids})"
    return Reason(r.SIGNATURE_INVALID, problem, path=SECURED)


def _strict_base64(text: str) -> bytes | None:
    # Only the one canonical spelling: no whitespace, padding present, unused bits zero. Otherwise the same
    # signature could be written many ways, and a copy would not look like a copy.
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw and base64.b64encode(raw).decode("ascii") == text else None


def _quote(domain: object) -> str:
    return repr(domain if len(str(domain)) <= 100 else f"{str(domain)[:100]}...")


def _malformed(problem: str) -> Reason:
    return Reason(r.SIGNATURE_MALFORMED, f"the secured field {problem}", path=SECURED)


def _unknown(problem: str) -> Reason:
    return Reason(r.SIGNATURE_UNKNOWN_SIGNER, problem, path="provider.domain")
