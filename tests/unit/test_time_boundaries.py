"""The documented time windows at exactly their edges: the replay window's age and a key's validity window.

- Replay (docs/signing.md, Replay): a copy counts "for at most MODERATION_REPLAY_WINDOW_S of record time", so
  a copy whose record time is exactly that much later than its original's is still a replay; a microsecond
  later it is not.
- Key validity (docs/signing.md, Key files): valid for ``notBefore <= t < notAfter``, half-open.

Each edge is probed at the edge and one microsecond either side, where an inclusive and a strict comparison
disagree; tests further from the edge cannot tell them apart.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from service.core.decide import decide_record
from service.core.keys import ED25519, HMAC_SHA256, SigningKey
from service.core.reasons import Reason
from service.core.replay import ReplayWindows
from service.core.signature import Keyring, verify_document
from service.files.rules_file import read_rules
from service.signing import sign_document

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")

TICK = timedelta(microseconds=1)
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=1)
DOCUMENT = {
    "title": "Title", "excerpt": "An excerpt that is long enough.", "webUrl": "https://reuters.com/a",
    "publishedDateTime": "2026-11-20T11:00:00Z", "provider": {"name": "Reuters", "domain": "reuters.com"},
    "quality": 80,
}


def key(algorithm: str = HMAC_SHA256, **window: datetime) -> SigningKey:
    material = hashlib.sha256(b"boundary test key").digest()
    return SigningKey("k1", algorithm, frozenset({"reuters.com"}), material=material, **window)


# --- replay window ---------------------------------------------------------------------------------------------

def replay_code_after(age: timedelta) -> str | None:
    """Decide a signed event at T0, deliver it, then decide an exact copy ``age`` later in record time."""
    signing = key()
    keyring = Keyring([signing.verification_key()])
    value = orjson.dumps({**DOCUMENT, "secured": sign_document(DOCUMENT, signing)})
    windows = ReplayWindows(max_age=WINDOW)
    first = windows.batch()
    decision = decide_record(value, (), keyring, RULES, T0, replay=first, partition="p0", where="offset 1")
    assert decision.decision == "approved"
    first.commit(["p0"])
    copy = decide_record(value, (), keyring, RULES, T0 + age, replay=windows.batch(), partition="p0",
                         where="offset 2")
    return copy.reasons[0].code if copy.decision == "rejected" else None


@pytest.mark.parametrize(
    ("age", "code"),
    [(WINDOW - TICK, "signature.replay"), (WINDOW, "signature.replay"), (WINDOW + TICK, None)],
)
def test_a_copy_is_a_replay_up_to_and_including_the_window_age(age: timedelta, code: str | None) -> None:
    assert replay_code_after(age) == code


# --- key validity window ---------------------------------------------------------------------------------------

NOT_BEFORE, NOT_AFTER = T0, T0 + timedelta(days=30)


@pytest.mark.parametrize("algorithm", [ED25519, HMAC_SHA256])
@pytest.mark.parametrize(
    ("now", "valid"),
    [
        (NOT_BEFORE - TICK, False),
        (NOT_BEFORE, True),  # notBefore <= t
        (NOT_AFTER - TICK, True),
        (NOT_AFTER, False),  # t < notAfter
    ],
)
def test_a_key_is_valid_from_not_before_inclusive_to_not_after_exclusive(
    algorithm: str, now: datetime, valid: bool
) -> None:
    signing = key(algorithm, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    document = {**DOCUMENT, "secured": sign_document(DOCUMENT, signing)}
    result = verify_document(document, Keyring([signing.verification_key()]), now)
    if valid:
        assert result == "k1"
    else:
        assert isinstance(result, Reason) and result.code == "signature.unknown_signer"
