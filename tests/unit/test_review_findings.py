"""Regressions from the pre-release review: inputs and edits that once crashed, wedged or weakened the service."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import structlog

from service.cli import main
from service.core.decide import decide
from service.core.keys import SigningKey
from service.core.rules import RulesError, load_rules
from service.core.signature import Keyring
from service.files.keydir import KeyDirectoryWatcher, load_keyring, write_key_file
from service.files.policy import Policy
from service.settings import Settings
from service.signing import sign_event

ROOT = Path(__file__).parents[2]
RULES_TEXT = (ROOT / "config" / "rules.yaml").read_text()
KEY = SigningKey("k1", "hmac-sha256", frozenset({"example.org"}), material=b"r" * 32)
ARTICLE = {"title": "A title", "excerpt": "An excerpt of the article.", "webUrl": "https://example.org/a",
           "publishedDateTime": "2026-11-20T10:00:00Z", "provider": {"name": "Ex", "domain": "example.org"},
           "quality": 60}


@pytest.fixture
def policy_dirs(tmp_path):
    keys, rules = tmp_path / "keys", tmp_path / "rules.yaml"
    keys.mkdir()
    write_key_file(keys / "k1.key.json", KEY.verification_key())
    rules.write_text(RULES_TEXT)
    settings = Settings(keys_dir=keys, rules_path=rules, reload_interval_s=0.001)
    return settings, keys, rules


def refreshed(policy: Policy):
    policy._next_check = 0
    return policy.refresh()


def test_a_vanished_key_directory_keeps_the_keys_in_force(policy_dirs, tmp_path):
    settings, keys, _ = policy_dirs
    policy = Policy(settings, structlog.get_logger("test"))
    assert len(policy.current.keyring) == 1
    shutil.move(keys, tmp_path / "elsewhere")
    assert len(refreshed(policy).keyring) == 1


def test_an_empty_key_directory_at_start_is_an_empty_keyring_not_no_check(tmp_path):
    settings = Settings(keys_dir=tmp_path / "missing", rules_path=ROOT / "config" / "rules.yaml")
    policy = Policy(settings, structlog.get_logger("test"))
    assert isinstance(policy.current.keyring, Keyring) and len(policy.current.keyring) == 0


@pytest.mark.parametrize("condition", [
    "{ field: title, text: [{ list: [x] }] }",          # a list name that is not a name
    "{ field: publishedDateTime, older_than: 999999999 weeks }",  # a span no date arithmetic holds
])
def test_rule_shapes_the_compiler_did_not_foresee_are_load_errors_and_reloads_keep_the_old_rules(
        policy_dirs, condition):
    text = ("rules:\n  - id: odd\n    description: Odd\n    action: reject\n    reason: odd.rule\n"
            f"    when: {condition}\n")
    with pytest.raises(RulesError):
        load_rules(text, "odd.yaml")
    settings, _, rules = policy_dirs
    policy = Policy(settings, structlog.get_logger("test"))
    version = policy.current.rules.version
    rules.write_text(text)
    assert refreshed(policy).rules.version == version


def test_a_watcher_that_raises_keeps_the_policy(policy_dirs, monkeypatch):
    settings, _, _ = policy_dirs
    policy = Policy(settings, structlog.get_logger("test"))
    before = policy.current
    monkeypatch.setattr(KeyDirectoryWatcher, "poll", lambda self: 1 / 0)
    assert refreshed(policy) == before


def test_record_times_at_the_end_of_the_calendar_still_get_a_decision():
    rules = load_rules(RULES_TEXT)
    keyring = Keyring([KEY.verification_key()])
    value = orjson.dumps(sign_event(ARTICLE, KEY))
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert decide(value, (), keyring, rules, late).reasons[0].code == "date.stale"
    far = load_rules("rules:\n  - id: old\n    description: Very old\n    action: reject\n    reason: date.old\n"
                     "    when: { field: publishedDateTime, older_than: 900000 days }\n")
    assert decide(value, (), keyring, far, datetime(2026, 1, 1, tzinfo=UTC)).decision == "approved"


def test_domain_checks_on_free_text_that_only_looks_like_a_url():
    rules = load_rules("rules:\n  - id: d\n    description: Links\n    action: reject\n    reason: text.domain\n"
                       "    when: { field: excerpt, domain: [clickbait.example] }\n")
    value = orjson.dumps({**ARTICLE, "excerpt": "http://[oops see this"})
    assert decide(value, (), None, rules, datetime(2026, 11, 20, tzinfo=UTC)).decision == "approved"


def test_a_pathological_key_file_is_a_reported_problem(tmp_path):
    write_key_file(tmp_path / "k1.key.json", KEY.verification_key())
    bomb = tmp_path / "bomb.key.json"
    bomb.write_bytes(b"[" * 30_000)
    os.chmod(bomb, 0o600)
    keyring, problems = load_keyring(tmp_path)
    assert len(keyring) == 1 and any("bomb" in str(p) for p in problems)


def test_sign_prints_front_matter_with_cr_line_ends_and_refuses_in_place_cleanly(tmp_path, capsys):
    key_file = tmp_path / "k1.signing.json"
    write_key_file(key_file, KEY)
    doc = tmp_path / "cr.md"
    lines = ["---", "title: A title", "webUrl: https://example.org/a", "publishedDateTime: 2026-11-20T10:00:00Z",
             "provider:", "  name: Ex", "  domain: example.org", "---", ""]
    doc.write_bytes("\r".join(lines).encode())
    assert main(["sign", "--key", str(key_file), str(doc)]) == 0
    assert orjson.loads(capsys.readouterr().out)["secured"]
    assert main(["sign", "--key", str(key_file), "--in-place", str(doc)]) == 2
    err = capsys.readouterr().err
    assert "cannot rewrite in place" in err and "Traceback" not in err
