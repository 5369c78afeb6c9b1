"""The exact bytes that are signed: the canonical form of an event without its ``secured`` field.

The rules (the full statement, with test vectors, is ``docs/signing.md``):

* UTF-8 JSON with no insignificant whitespace; object keys sorted by Unicode code point (which is the
  same as sorting their UTF-8 bytes; note: *not* RFC 8785's UTF-16 order, which differs above U+FFFF).
* Strings: ``"`` and ``\\`` escaped as ``\\"`` and ``\\\\``; U+0008, U+0009, U+000A, U+000C, U+000D as
  ``\\b \\t \\n \\f \\r``; every other code point below U+0020 as ``\\u00xx`` (lowercase hex); every other
  character, ``/``, DEL and U+2028 included, written as itself. Lone surrogates are refused.
* Integers in decimal, ``-`` for negatives, within ±(2**53 - 1) so that every language can hold them.
* No floats at all (``1.5``, ``1.0``, ``1e3`` are refused): the event schema has none, and languages
  disagree on how to print them. ``true``, ``false``, ``null`` as usual.

``orjson.dumps(..., OPT_SORT_KEYS | OPT_STRICT_INTEGER)`` writes exactly these bytes for JSON values (the
unit tests compare it with a plain reference encoder over every code point); the walk below refuses what
orjson would otherwise write in a way the rules do not define (floats, datetimes, enums, str subclasses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from service.core.errors import CanonicalError  # re-exported: callers import it from here

SECURED = "secured"
# Separates our signatures from any other use of the same key (RFC 9421 and DSSE do the same).
DOMAIN_PREFIX = b"article-moderation/secured/v1\x00"
NONCE_LENGTH = 16
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SCALARS = frozenset((str, int, bool, type(None)))
MAX_DEPTH = 200  # orjson itself stops at 255 with an error; events are a few levels deep


def canonical_bytes(document: Mapping, *, checked: bool = False) -> bytes:
    """The document minus ``secured``, in canonical form. Raises CanonicalError, never anything else.

    ``checked``: the caller knows every value is a str, int, bool, None, dict or list of exactly these types
    (what orjson decodes, less floats: an article the schema accepted), so the walk refusing other types
    (~2 µs for a 2 KB event) is skipped; integers beyond 53 bits are still refused, by orjson.
    """
    if not isinstance(document, Mapping):
        raise CanonicalError(f"an event must be a JSON object, not {type(document).__name__}")
    content = {key: value for key, value in document.items() if key != SECURED}
    if not checked:
        _refuse_unsigned_types(content.values())
    try:
        return orjson.dumps(content, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:  # surrogates, > 53-bit integers, too deep
        raise CanonicalError(f"cannot be put in canonical form: {exc}") from None


def signing_input(nonce: bytes, canonical: bytes) -> bytes:
    """What the tag is computed over: prefix, the 16-byte nonce, then the canonical event."""
    if len(nonce) != NONCE_LENGTH:
        raise ValueError(f"the nonce must be {NONCE_LENGTH} bytes, not {len(nonce)}")
    return DOMAIN_PREFIX + nonce + canonical


def _refuse_unsigned_types(values: Iterable[object], depth: int = 1) -> None:
    # Exact type checks: a str or int subclass (an Enum member, a numpy scalar) could print differently.
    # Recursive rather than an explicit stack: it is twice as fast, and the depth is bounded below.
    if depth > MAX_DEPTH:
        raise CanonicalError(f"nested deeper than {MAX_DEPTH} levels")
    for value in values:
        kind = type(value)
        if kind in _SCALARS:
            continue
        if kind is dict:  # orjson itself refuses keys that are not exactly str
            _refuse_unsigned_types(value.values(), depth + 1)  # type: ignore[attr-defined]
        elif kind is list:
            _refuse_unsigned_types(value, depth + 1)  # type: ignore[arg-type]
        elif kind is float:
            raise CanonicalError(f"floating-point numbers cannot be signed ({value!r}); use an integer")
        else:
            raise CanonicalError(f"{kind.__name__} is not a JSON value")
