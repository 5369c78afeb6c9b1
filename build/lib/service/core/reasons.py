"""Reasons: why a decision went the way it did.

A reason is data with a stable ``code`` that a program can branch on, the ``rule`` that produced it (None for
the built-in checks), a human ``message`` and, where there is one, the failing field ``path``
(dotted, with list indexes: ``images.0.url``).

Code families (the prefix before the dot is stable; new codes may be added within a family):

    input.*      the bytes could not be read as an event (empty, too large, not UTF-8, not JSON/YAML, limits)
    schema.*     the event was read but does not match the article schema
    signature.*  the ``secured`` field is missing, malformed, from an unknown signer, or does not verify
    <rule code>  a publish rule fired (codes are chosen by rule authors, e.g. ``quality.too_low``)
    internal.*   the decision could not be completed (a bug); such records also go to the dead-letter topic

Messages never contain key material, only key ids.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    rule: str | None = None
    path: str | None = None


# input.*
INPUT_EMPTY = "input.empty"
INPUT_TOO_LARGE = "input.too_large"
INPUT_NOT_UTF8 = "input.not_utf8"
INPUT_MALFORMED_JSON = "input.malformed_json"
INPUT_MALFORMED_YAML = "input.malformed_yaml"
INPUT_UNKNOWN_FORMAT = "input.unknown_format"
INPUT_NOT_AN_OBJECT = "input.not_an_object"
INPUT_TOO_DEEP = "input.too_deep"
INPUT_YAML_ALIAS = "input.yaml_alias"
INPUT_STRING_TOO_LONG = "input.string_too_long"  # limits.py: Limits.max_string_chars
INPUT_KEY_TOO_LONG = "input.key_too_long"  # Limits.max_key_chars
INPUT_TOO_MANY_ITEMS = "input.too_many_items"  # Limits.max_items, per list or mapping
INPUT_TOO_MANY_VALUES = "input.too_many_values"  # Limits.max_values, all lists and mappings together
INPUT_NUL_CHARACTER = "input.nul_character"  # U+0000 in any string or key
INPUT_DUPLICATE_KEY = "input.duplicate_key"  # a key twice in one object (JSON) or mapping (YAML)

# schema.*
SCHEMA_MISSING_FIELD = "schema.missing_field"
SCHEMA_UNKNOWN_FIELD = "schema.unknown_field"
SCHEMA_WRONG_TYPE = "schema.wrong_type"
SCHEMA_INVALID_VALUE = "schema.invalid_value"
SCHEMA_TOO_LONG = "schema.too_long"

# signature.*
SIGNATURE_MISSING = "signature.missing"
SIGNATURE_MALFORMED = "signature.malformed"
SIGNATURE_UNKNOWN_SIGNER = "signature.unknown_signer"
SIGNATURE_INVALID = "signature.invalid"
SIGNATURE_REPLAY = "signature.replay"

# internal.*
INTERNAL_ERROR = "internal.error"
