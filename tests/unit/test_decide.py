"""decide(): the order of the steps, and reasons a producer can act on."""

from datetime import UTC, datetime
from pathlib import Path

import orjson

from service.core.decide import decide
from service.core.keys import SigningKey
from service.core.signature import Keyring
from service.files.rules_file import read_rules
from service.signing import sign_event

RULES = read_rules(Path(__file__).parents[2] / "config" / "rules.yaml")
KEY = SigningKey("k1", "hmac-sha256", frozenset({"example.org"}), material=b"k" * 32)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ARTICLE = {"title": "A title", "excerpt": "An excerpt of the article.", "webUrl": "https://example.org/a",
           "publishedDateTime": "2026-11-20T10:00:00Z", "provider": {"name": "Ex", "domain": "example.org"},
           "quality": 60}


def test_schema_reasons_say_what_the_field_must_hold_with_its_path():
    bad = {**ARTICLE, "provider": {"name": "X", "domain": "bad domain!"}, "images": [{"url": "ftp://x"}]}
    decision = decide(orjson.dumps(bad), (), Keyring(), RULES, NOW)
    by_path = {reason.path: reason for reason in decision.reasons}
    assert by_path["provider.domain"].message == "provider.domain: must be a domain name such as example.org"
    assert by_path["images.0.url"].message == "images.0.url: must be an absolute http(s) URL"
    assert {reason.code for reason in decision.reasons} == {"schema.invalid_value"}


def test_a_bad_signature_stops_before_the_rules_and_a_good_one_reaches_them():
    keyring = Keyring([KEY.verification_key()])
    low = sign_event({**ARTICLE, "quality": 5}, KEY)
    decided = decide(orjson.dumps(low), (), keyring, RULES, NOW)
    assert decided.signer == "k1" and decided.rulesFired == ("quality-floor",)
    forged = {**low, "quality": 90}
    refused = decide(orjson.dumps(forged), (), keyring, RULES, NOW)
    assert [r.code for r in refused.reasons] == ["signature.invalid"] and refused.rulesFired == ()


def test_without_a_keyring_only_the_rules_are_applied_for_dry_runs():
    decided = decide(orjson.dumps(ARTICLE), (), None, RULES, NOW)
    assert decided.decision == "approved" and decided.signer is None
    assert decided.rulesVersion == RULES.version and decided.evaluatedAt == NOW
