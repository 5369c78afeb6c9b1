"""Hostile records get a rejected decision with a specific reason, refused before the work they ask for; nothing
raises.

Memory is never asserted: it is measured and printed here (``pytest -s``), and the benchmark reports the figures
(bench/hostile_memory.py: the billion-laughs peak, growth over thousands of repeated decisions). What is
asserted is structural: which limit refused the record, and where. The only time bound is check_decision's
per-event hang detector (hostile_world.BUDGET_SECONDS, retried once), not a speed target. The corpus of nasty
inputs is ``tests/corpus/cases.yaml``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hostile_world import (
    NOW,
    ROOT,
    SEED_DOCUMENTS,
    SEEDS,
    TEST_KEY,
    as_front_matter,
    as_json,
    check_decision,
    decide_record,
    signed,
)

from service.cli import main as moderation
from service.core import reasons as r
from service.core.decide import decide
from service.core.decode import DEFAULT_LIMITS, Limits, decode_event
from service.core.keys import HMAC_SHA256, SigningKey
from service.core.reasons import Reason
from service.files.keydir import write_key_file
from service.signing import sign_document  # draws the nonce (the core takes it as an argument)

CORPUS = ROOT / "tests" / "corpus"
SEED = SEED_DOCUMENTS["000_eec557f0eb51af83.txt"]


def measured(action):
    """``(result, seconds, peak bytes)`` of ``action()``: tracemalloc sees every Python allocation."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = action()
        return result, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def report(label: str, size: int, seconds: float, peak: int) -> None:
    print(f"\n{label}: {size / 1e6:.1f} MB in, {seconds * 1e3:.1f} ms, peak {peak / 1e6:.1f} MB traced")


# --- the corpus ---------------------------------------------------------------------------------------------------


def joined(parts: list) -> str:
    return "".join((joined(part) if isinstance(part, list) else part) * times for part, times in parts)


def corpus_value(case: dict) -> bytes:
    if "file" in case:
        return (CORPUS / "files" / case["file"]).read_bytes()
    if "bytes" in case:
        return case["bytes"].encode("latin-1")
    if "parts" in case:
        return joined(case["parts"]).encode("utf-8")
    text = case["text"]
    signed_json = as_json(signed(SEED)).decode()
    for name, value in (("{SIGNED_JSON_TAIL}", signed_json[1:]), ("{SIGNED_JSON}", signed_json),
                        ("{SIGNED_FM}", as_front_matter(signed(SEED)).decode())):
        text = text.replace(name, value)
    return text.encode("utf-8")


CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))


def test_corpus_cases_are_well_formed():
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)) and len(CASES) >= 60
    for case in CASES:
        assert len({"text", "bytes", "parts", "file"} & case.keys()) == 1, case["name"]
        assert case["decision"] in ("approved", "rejected") and case["why"], case["name"]
        assert ("code" in case) == (case["decision"] == "rejected"), case["name"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_corpus_case(case):
    decision, seconds = decide_record(corpus_value(case))
    check_decision(decision, seconds)
    codes = [reason.code for reason in decision.reasons]
    assert decision.decision == case["decision"], codes
    if "code" in case:
        assert case["code"] in codes
        if "path" in case:
            assert case["path"] in [reason.path for reason in decision.reasons if reason.code == case["code"]]


# --- big, deep, broken: bounded work ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "front-matter"])
def test_a_50_mb_record_is_refused_unread(form):
    value = (b'{"title": "' if form == "json" else b"---\ntitle: ") + b"x" * 50_000_000
    decision, seconds, peak = measured(lambda: decide_record(value)[0])
    report(f"50 MB {form}, default limits", len(value), seconds, peak)
    assert [reason.code for reason in decision.reasons] == [r.INPUT_TOO_LARGE]


def test_a_50_mb_string_is_refused_by_the_string_limit_when_the_size_limit_allows_it():
    """With max_record_bytes raised, the tree walk still stops the one giant string before any later step."""
    value = b'{"title": "' + b"x" * 50_000_000 + b'"}'
    limits = Limits(max_record_bytes=64_000_000)
    decision, seconds, peak = measured(lambda: decide(value, (), None, _NoRules(), NOW, limits))
    report("50 MB JSON string, 64 MB record limit", len(value), seconds, peak)
    assert [(reason.code, reason.path) for reason in decision.reasons] == [(r.INPUT_STRING_TOO_LONG, "title")]


def test_a_50_mb_list_is_refused_by_the_item_limit_when_the_size_limit_allows_it():
    value = b'{"topics": [' + b"0," * 25_000_000 + b"0]}"
    limits = Limits(max_record_bytes=64_000_000)
    decision, seconds, peak = measured(lambda: decide(value, (), None, _NoRules(), NOW, limits))
    report("50 MB JSON list, 64 MB record limit", len(value), seconds, peak)
    assert [(reason.code, reason.path) for reason in decision.reasons] == [(r.INPUT_TOO_MANY_ITEMS, "topics")]


@pytest.mark.parametrize(
    "value",
    [
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b"---\na: " + b"[" * 10_000 + b"]" * 10_000 + b"\n---\n",
        b"---\na: " + b"{a: " * 10_000 + b"1" + b"}" * 10_000 + b"\n---\n",
        b"---\n" + b"".join(b"  " * i + b"k:\n" for i in range(400)) + b"  " * 400 + b"k: 1\n---\n",
    ],
    ids=["json-objects", "json-arrays", "yaml-flow-sequences", "yaml-flow-mappings", "yaml-block-400"],
)
def test_deep_nesting_is_refused(value):
    decision, seconds, peak = measured(lambda: decide_record(value)[0])
    report("deep nesting", len(value), seconds, peak)
    assert [reason.code for reason in decision.reasons] == [r.INPUT_TOO_DEEP]


@pytest.mark.parametrize("form", ["json", "front-matter"])
@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"])
def test_invalid_utf8_anywhere_in_an_event_is_refused(form, bad):
    good = as_json(SEED) if form == "json" else as_front_matter(SEED)
    at = good.index(b"facial")  # inside the title: the bytes parse as a string until the bad ones
    value = good[:at] + bad + good[at:]
    decision, seconds = decide_record(value)
    check_decision(decision, seconds)
    assert [reason.code for reason in decision.reasons] == [r.INPUT_NOT_UTF8]


def test_billion_laughs_does_not_expand():
    value = (CORPUS / "files" / "billion-laughs.md").read_bytes()
    decision, seconds, peak = measured(lambda: decide_record(value)[0])
    report("billion laughs (10^9 strings if expanded)", len(value), seconds, peak)
    # Refused at the first alias, before anything is built from it: nothing can expand. (Its peak memory is a
    # benchmark figure, bench/hostile_memory.py, not an assertion.)
    assert [reason.code for reason in decision.reasons] == [r.INPUT_YAML_ALIAS]


def test_many_scalar_aliases_of_a_long_string_are_refused():
    """Accepted before: 4,000 aliases of a 60 KB string decode to 240 MB of text for any JSON writer."""
    value = ("---\na: &x " + "y" * 60_000 + "\n" + "".join(f"k{i}: *x\n" for i in range(4_000)) + "---\n").encode()
    decision, seconds, peak = measured(lambda: decide_record(value)[0])
    report("4,000 scalar aliases of 60 KB", len(value), seconds, peak)
    assert [reason.code for reason in decision.reasons] == [r.INPUT_YAML_ALIAS]


# --- semantics: duplicates, line endings, numbers -----------------------------------------------------------------


def test_duplicate_keys_are_refused_in_both_formats_with_the_key_named():
    for value in (b'{"a": {"b": 1, "b": 2}}', b"---\na:\n  b: 1\n  b: 2\n---\n"):
        reason = decode_event(value)
        assert isinstance(reason, Reason) and reason.code == r.INPUT_DUPLICATE_KEY and "'b'" in reason.message


def test_a_signed_event_with_a_smuggled_duplicate_is_not_approved():
    """Without the refusal, orjson keeps the last title: the signature verifies, while a first-wins reader of the
    same bytes sees "evil". The control: the same bytes without the duplicate are approved."""
    good = as_json(signed(SEED))
    assert decide_record(good)[0].approved
    decision, _ = decide_record(b'{"title": "evil", ' + good[1:])
    assert [reason.code for reason in decision.reasons] == [r.INPUT_DUPLICATE_KEY]


def test_mixed_line_endings_read_the_same_and_keep_the_signature():
    lf = as_front_matter(signed(SEED))
    lines = lf.split(b"\n")
    mixed = b"".join(line + (b"\r\n", b"\r", b"\n")[i % 3] for i, line in enumerate(lines[:-1]))
    assert mixed.count(b"\r\n") and mixed.count(b"\r") > mixed.count(b"\r\n")
    assert decode_event(mixed) == decode_event(lf) == decode_event(lf.replace(b"\n", b"\r\n"))
    decision, seconds = decide_record(mixed)
    check_decision(decision, seconds)
    assert decision.approved and decision.signer == TEST_KEY.key_id


@pytest.mark.parametrize("digits", [1, 18, 19, 20, 21, 40, 300, 308])
def test_integers_of_every_size_read_alike_in_json_and_yaml(digits):
    for number in (int("9" * digits), -int("9" * digits), 2**64, 2**64 - 1, -(2**63), -(2**63) - 1):
        assert decode_event(b'{"q": %d}' % number) == decode_event(b"---\nq: %d\n---\n" % number)


def test_every_seed_passes_the_default_limits():
    """No false positives: the limits only stop shapes no article has."""
    for name, value in SEEDS.items():
        document = decode_event(value)
        assert isinstance(document, dict), (name, document)


# --- the limits: each one configurable, each with its own code -----------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "code", "path"),
    [
        (Limits(max_record_bytes=1000), r.INPUT_TOO_LARGE, None),
        (Limits(max_depth=4), r.INPUT_TOO_DEEP, "related.0.images.0"),
        (Limits(max_string_chars=100), r.INPUT_STRING_TOO_LONG, "excerpt"),
        (Limits(max_key_chars=8), r.INPUT_KEY_TOO_LONG, None),
        (Limits(max_items=1), r.INPUT_TOO_MANY_ITEMS, None),
        (Limits(max_values=20), r.INPUT_TOO_MANY_VALUES, None),
    ],
)
@pytest.mark.parametrize("form", ["json", "front-matter"])
def test_each_limit_has_its_own_code(limits, code, path, form):
    value = as_json(SEED) if form == "json" else as_front_matter(SEED)
    reason = decode_event(value, limits)
    assert isinstance(reason, Reason) and reason.code == code and reason.path == path, reason
    assert isinstance(decode_event(value), dict)


def test_front_matter_has_its_own_size_limit():
    value = as_front_matter(SEED)
    reason = decode_event(value, Limits(max_front_matter_bytes=len(value) - 1))
    assert isinstance(reason, Reason) and reason.code == r.INPUT_TOO_LARGE and "front-matter" in reason.message
    assert isinstance(decode_event(value, Limits(max_front_matter_bytes=len(value))), dict)  # inclusive


def test_security_doc_lists_every_limit_with_its_default():
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(Limits):
        default = f"{getattr(DEFAULT_LIMITS, field.name):,}"
        assert re.search(rf"`{field.name}`.*{re.escape(default)}", doc), field.name


# --- secrets: key files that others can read are refused, end to end ---------------------------------------------


def test_check_refuses_a_key_file_others_can_read_and_never_prints_the_secret(tmp_path, capsys):
    """``moderation check --keys``: a verification key readable by group/others is skipped with a warning, so the
    event is not trusted; chmod 600 and it is. The HMAC secret appears in no output."""
    secret = bytes(range(100, 148))
    key = SigningKey("loose-key", HMAC_SHA256, ("siliconangle.com",), material=secret)
    keys = tmp_path / "keys"
    keys.mkdir()
    write_key_file(keys / "loose-key.key.json", key.verification_key())
    event = tmp_path / "event.json"
    document = json.loads(as_json(SEED))
    document["secured"] = sign_document(document, key)
    event.write_bytes(as_json(document))
    argv = ["check", str(event), "--keys", str(keys), "--rules", str(ROOT / "config" / "rules.yaml"),
            "--now", NOW.isoformat()]
    shown = (base64.b64encode(secret).decode(), secret.hex())

    os.chmod(keys / "loose-key.key.json", 0o644)
    assert moderation(argv) == 0
    out, err = capsys.readouterr()
    row = json.loads(out.splitlines()[-1])
    assert row["decision"] == "rejected" and row["reasons"][0]["code"] == r.SIGNATURE_UNKNOWN_SIGNER
    assert "permissions 644" in err and "chmod 600" in err
    assert not any(s in out + err for s in shown)

    os.chmod(keys / "loose-key.key.json", 0o600)
    assert moderation(argv) == 0
    out, err = capsys.readouterr()
    row = json.loads(out.splitlines()[-1])
    assert (row["decision"], row["signer"], err) == ("approved", "loose-key", "")
    assert not any(s in out + err for s in shown)


class _NoRules:
    """Rules that approve everything: the big-input tests measure decoding, not the rules file."""

    version = "sha256:none"

    def evaluate(self, article, document, now):  # pragma: no cover - never reached by rejected records
        return type("Outcome", (), {"approved": True, "fired": (), "reasons": ()})()


def test_the_corpus_files_exist():
    assert {case["file"] for case in CASES if "file" in case} <= {p.name for p in Path(CORPUS / "files").iterdir()}
