"""Edges of key files and of the replay window that mutation testing found unguarded (docs/testing.md).

Each test names the mutant class it kills: a key file whose notBefore was silently dropped, material with
stray characters decoded anyway, an empty validity window accepted, a secret one byte too long accepted;
a replay window that crashes on a partition it never saw, or marks an unsigned copy as a replay.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from service.core.decide import decide_record
from service.core.keys import (
    ED25519,
    HMAC_SHA256,
    MAX_SECRET,
    MIN_SECRET,
    InvalidKeyError,
    SigningKey,
    VerificationKey,
    key_from_json,
    key_to_json,
)
from service.core.replay import ReplayWindows
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.signing import sign_document

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = hashlib.sha256(b"edges").digest()


def hmac_file(**fields: object) -> dict:
    doc = {"keyId": "k1", "algorithm": HMAC_SHA256, "providers": ["example.org"],
           "secret": base64.b64encode(SECRET).decode()}
    return {**doc, **fields}


# --- key files -------------------------------------------------------------------------------------------------

def test_a_key_files_validity_window_survives_the_round_trip() -> None:
    """Kills: notBefore/notAfter written or read under another name, or not read at all (a key would be
    trusted before its window opens)."""
    key = SigningKey("k1", ED25519, frozenset({"example.org"}), T0, T0 + timedelta(days=30), material=SECRET)
    doc = key_to_json(key)
    assert doc["notBefore"] == T0.isoformat() and doc["notAfter"] == (T0 + timedelta(days=30)).isoformat()
    again = key_from_json(doc, SigningKey)
    assert (again.not_before, again.not_after, again.material) == (key.not_before, key.not_after, key.material)
    public = key_from_json(key_to_json(key.verification_key()), VerificationKey)
    assert public.not_before == T0 and public.window_problem(T0 - timedelta(seconds=1)) is not None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"secret": "AAAA!!!!" + base64.b64encode(SECRET).decode()}, "secret must be standard base64"),
        ({"notBefore": 1767225600}, "notBefore must be an ISO 8601 date-time with a timezone"),
        ({"notBefore": "2027-01-01T00:00:00"}, "notBefore must be an ISO 8601 date-time with a timezone"),
        ({"notAfter": "next year"}, "notAfter must be an ISO 8601 date-time with a timezone"),
        ({"notBefore": "2027-01-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z"}, "notBefore must come before"),
        ({"providers": "example.org"}, "providers must be a non-empty list"),
        ({"keyId": "-bad"}, "keyId must be 1-64"),
        ({"algorithm": "rsa"}, "algorithm must be ed25519 or hmac-sha256"),
        ({"extra": 1}, "unknown field(s): extra"),
    ],
)
def test_a_bad_key_file_is_refused_with_a_message_naming_the_problem(fields: dict, words: str) -> None:
    """Kills: stray characters in the material decoded anyway (another key than written), a date given as a
    number crashing the loader, an empty window accepted, and messages emptied of what went wrong."""
    with pytest.raises(InvalidKeyError) as refused:
        key_from_json(hmac_file(**fields), VerificationKey)
    assert words in str(refused.value)


def test_a_signing_key_in_the_service_directory_is_named_as_such() -> None:
    """Kills: the hint that tells an operator they copied the producer's file instead of the public one."""
    signing = key_to_json(SigningKey("k1", ED25519, frozenset({"example.org"}), material=SECRET))
    with pytest.raises(InvalidKeyError, match="is this a signing key: keep it with the producer"):
        key_from_json(signing, VerificationKey)
    public = key_to_json(SigningKey("k1", ED25519, frozenset({"example.org"}), material=SECRET).verification_key())
    with pytest.raises(InvalidKeyError, match="is this a verification key"):
        key_from_json(public, SigningKey)


@pytest.mark.parametrize(("size", "accepted"), [(MIN_SECRET - 1, False), (MIN_SECRET, True),
                                                (MAX_SECRET, True), (MAX_SECRET + 1, False)])
def test_hmac_secret_sizes_at_the_documented_bounds(size: int, accepted: bool) -> None:
    """Kills: `<=` turned `<` at either end of the documented 32-1024 bytes."""
    make = lambda: SigningKey("k1", HMAC_SHA256, frozenset({"example.org"}), material=b"s" * size)  # noqa: E731
    if accepted:
        assert len(make().material) == size
    else:
        with pytest.raises(InvalidKeyError, match=f"hmac secrets are {MIN_SECRET}-{MAX_SECRET} bytes, not {size}"):
            make()


def test_keys_built_in_code_are_checked_like_key_files() -> None:
    """Kills: a naive validity bound or text material slipping past the constructor (a TypeError later)."""
    with pytest.raises(InvalidKeyError, match="with a timezone"):
        SigningKey("k1", ED25519, frozenset({"example.org"}), datetime(2027, 1, 1), material=SECRET)
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        SigningKey("k1", ED25519, frozenset({"example.org"}), material="not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="notBefore must come before notAfter"):
        SigningKey("k1", ED25519, frozenset({"example.org"}), T0, T0, material=SECRET)


# --- replay window ---------------------------------------------------------------------------------------------

def signed_value(key: SigningKey) -> bytes:
    doc = {"title": "Title", "excerpt": "An excerpt that is long enough.", "webUrl": "https://example.org/a",
           "publishedDateTime": "2026-11-20T11:00:00Z", "provider": {"name": "Ex", "domain": "example.org"},
           "quality": 80}
    return orjson.dumps({**doc, "secured": sign_document(doc, key)})


def test_forgetting_or_committing_a_partition_without_entries_is_harmless() -> None:
    """Kills: a KeyError when a rebalance revokes a partition that never had a signed event, or when a
    batch commits a partition whose records were all unsigned."""
    windows = ReplayWindows()
    windows.forget(["never-seen"])
    batch = windows.batch()
    batch.commit(["no-signed-records"])


def test_an_unverified_copy_is_never_called_a_replay_and_a_replay_names_the_secured_field() -> None:
    """Kills: `or` turned `and` in the signed-only guard (a copy of an event from an unknown signer would be
    rejected as a replay, hiding the real reason), and the replay reason losing its path."""
    key = SigningKey("k1", HMAC_SHA256, frozenset({"example.org"}), material=SECRET)
    value = signed_value(key)
    unknown = Keyring()  # nobody trusts k1: decided with an article but no signer
    windows = ReplayWindows()
    batch = windows.batch()
    first = decide_record(value, (), unknown, RULES, T0, replay=batch, partition="p0", where="offset 1")
    second = decide_record(value, (), unknown, RULES, T0, replay=batch, partition="p0", where="offset 2")
    assert first.signer is None and first.article is not None
    assert [r.code for r in second.reasons] == [r.code for r in first.reasons] == ["signature.unknown_signer"]

    trusted = Keyring([key.verification_key()])
    decide_record(value, (), trusted, RULES, T0, replay=batch, partition="p1", where="offset 1")
    copy = decide_record(value, (), trusted, RULES, T0, replay=batch, partition="p1", where="offset 2")
    assert [(r.code, r.path) for r in copy.reasons] == [("signature.replay", "secured")]
