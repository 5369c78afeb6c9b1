"""``moderation keygen`` / ``moderation sign`` and the producer API behind them (service.signing)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.cli import keys as cli_keys
from service.core import reasons as r
from service.core.canonical import canonical_bytes
from service.core.decode import decode_event
from service.core.keys import ED25519, HMAC_SHA256, SigningKey
from service.core.reasons import Reason
from service.core.signature import verify_document
from service.files.keydir import load_keyring
from service.signing import SigningError, load_signing_key, set_secured_line, sign_event

SEED = Path(__file__).parents[2] / "seeds" / "000_eec557f0eb51af83.txt"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EVENT = {"title": "Contract", "webUrl": "https://example.org/c", "publishedDateTime": "2026-11-20T10:00:00Z",
         "quality": 80, "provider": {"name": "Example", "domain": "example.org"}, "topics": ["AI"]}


def moderation(*argv: str | Path) -> int:
    """Run a subcommand as service/cli/__init__.py wires it: ``args.func(args)`` returns the exit status."""
    parser = argparse.ArgumentParser(prog="moderation")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_keys.add_keygen_parser(sub)
    cli_keys.add_sign_parser(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture
def keys(tmp_path, capsys):
    """keygen for example.org and siliconangle.com; returns (signing key path, directory of the service)."""
    assert moderation("keygen", "--algorithm", ED25519, "--key-id", "prod-1", "--provider", "example.org",
                      "--provider", "SiliconAngle.com", "--out", tmp_path / "producer") == 0
    paths = json.loads(capsys.readouterr().out.splitlines()[-1])
    service_dir = tmp_path / "service-keys"
    service_dir.mkdir()
    (service_dir / "prod-1.key.json").write_bytes(Path(paths["verificationKey"]).read_bytes())
    (service_dir / "prod-1.key.json").chmod(0o600)
    return Path(paths["signingKey"]), service_dir


def verify(event: dict, service_dir: Path) -> str | Reason:
    keyring, problems = load_keyring(service_dir)
    assert problems == []
    return verify_document(event, keyring, NOW)


@pytest.mark.parametrize("algorithm", [ED25519, HMAC_SHA256])
def test_keygen_writes_two_owner_only_files_and_prints_their_paths_last(tmp_path, capsys, algorithm):
    status = moderation("keygen", "--algorithm", algorithm, "--key-id", "k", "--provider", "example.org",
                        "--not-after", "2027-01-01T00:00:00Z", "--out", tmp_path / "new")
    out = capsys.readouterr().out
    assert status == 0
    paths = json.loads(out.splitlines()[-1])
    assert set(paths) == {"signingKey", "verificationKey"}
    assert out.splitlines()[-1] == json.dumps(paths)
    signing, verification = Path(paths["signingKey"]), Path(paths["verificationKey"])
    assert signing.name == "k.signing.json" and verification.name == "k.key.json"
    for path in (signing, verification):
        assert path.stat().st_mode & 0o777 == 0o600
    key = load_signing_key(signing)
    assert key.algorithm == algorithm and key.not_after == datetime(2027, 1, 1, tzinfo=UTC)
    keyring, problems = load_keyring(verification.parent)
    assert keyring.keys == (key.verification_key(),)
    assert [p.path for p in problems] == [str(signing)]  # the service warns about a signing key beside it
    if algorithm == ED25519:  # the service never gets the private half
        assert "privateKey" not in verification.read_text() and key.material.hex() not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--key-id", "../escape"],
        ["--key-id", "k", "--not-after", "tomorrow"],
        ["--key-id", "k", "--not-after", "2027-01-01T00:00:00"],  # no timezone
        ["--key-id", "k", "--provider", "not a domain"],
    ],
)
def test_keygen_refuses_bad_input_with_status_2(tmp_path, capsys, argv):
    status = moderation("keygen", "--algorithm", ED25519, "--provider", "example.org", "--out", tmp_path, *argv)
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("moderation keygen: ") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_keygen_never_overwrites(tmp_path, capsys):
    argv = ("keygen", "--algorithm", HMAC_SHA256, "--key-id", "k", "--provider", "example.org", "--out", tmp_path)
    assert moderation(*argv) == 0
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert moderation(*argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_sign_prints_one_compact_signed_event_per_line(tmp_path, capsys, keys):
    signing, service_dir = keys
    (tmp_path / "a.json").write_text(json.dumps(EVENT, indent=2))
    (tmp_path / "b.jsonl").write_text(json.dumps(EVENT) + "\n\n" + json.dumps({**EVENT, "title": "2"}) + "\n")
    (tmp_path / "seed.md").write_bytes(SEED.read_bytes())
    assert moderation("sign", "--key", signing, tmp_path / "a.json", tmp_path / "b.jsonl", tmp_path / "seed.md") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for line in lines:  # compact: exactly what a JSON encoder without whitespace writes
        assert line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)
    events = [json.loads(line) for line in lines]
    assert [e["title"] for e in events[:3]] == ["Contract", "Contract", "2"]
    for event in events:
        assert verify(event, service_dir) == "prod-1"
    original_seed = decode_event(SEED.read_bytes())
    assert canonical_bytes(events[3]) == canonical_bytes(original_seed)  # its old secured is replaced
    assert events[3]["secured"] != original_seed["secured"]


def test_in_place_front_matter_changes_only_the_secured_line(tmp_path, keys):
    signing, service_dir = keys
    path = tmp_path / "seed.md"
    path.write_bytes(SEED.read_bytes())
    assert moderation("sign", "--key", signing, "--in-place", path) == 0
    before, after = SEED.read_text().split("\n"), path.read_text().split("\n")
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1 and after[changed[0]].startswith('secured: "')
    assert verify(decode_event(path.read_bytes()), service_dir) == "prod-1"


def test_in_place_adds_a_missing_secured_line_and_keeps_crlf(tmp_path, keys):
    signing, service_dir = keys
    text = "---\r\n# a comment stays\r\ntitle: 'Hi'\r\nwebUrl: https://example.org/x\r\n" \
           "provider:\r\n  name: E\r\n  domain: example.org\r\n---\r\n"
    path = tmp_path / "new.md"
    path.write_bytes(text.encode())
    assert moderation("sign", "--key", signing, "--in-place", path) == 0
    lines = path.read_bytes().split(b"\r\n")
    assert lines[:7] == text.encode().split(b"\r\n")[:7] and lines[7].startswith(b'secured: "')
    assert lines[8:] == [b"---", b""]
    assert verify(decode_event(path.read_bytes()), service_dir) == "prod-1"


def test_in_place_json_and_jsonl_keep_their_layout(tmp_path, keys):
    signing, service_dir = keys
    compact, pretty, lines = tmp_path / "c.json", tmp_path / "p.json", tmp_path / "l.jsonl"
    compact.write_text(json.dumps(EVENT))
    pretty.write_text(json.dumps({**EVENT, "secured": "old;value"}, indent=2) + "\n")
    lines.write_text(json.dumps(EVENT) + "\n\n" + json.dumps(EVENT) + "\n")
    assert moderation("sign", "--key", signing, "--in-place", compact, pretty, lines) == 0
    assert "\n" not in compact.read_text() and pretty.read_text().count("\n") > 5
    assert list(json.loads(pretty.read_text())) == [*EVENT, "secured"]  # replaced where it was
    rows = lines.read_text().split("\n")
    assert len(rows) == 4 and rows[1] == rows[3] == ""
    for event in (json.loads(compact.read_text()), json.loads(pretty.read_text()), *map(json.loads, rows[::2])):
        assert verify(event, service_dir) == "prod-1"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "no value"),
        (b"{not json", "not valid JSON"),
        (json.dumps({**EVENT, "provider": {"name": "O", "domain": "other.org"}}).encode(), "not for provider"),
        (json.dumps({**EVENT, "score": 0.5}).encode(), "floating-point"),
    ],
)
def test_sign_errors_exit_2_and_in_place_writes_nothing(tmp_path, capsys, keys, content, words):
    signing, _ = keys
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(EVENT))
    bad.write_bytes(content)
    assert moderation("sign", "--key", signing, "--in-place", good, bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("moderation sign: ") and words in err and "Traceback" not in err
    assert good.read_text() == json.dumps(EVENT)


@pytest.mark.parametrize("which", ["missing key", "verification key as key", "missing event"])
def test_sign_reports_unreadable_inputs(tmp_path, capsys, keys, which):
    signing, service_dir = keys
    event = tmp_path / "e.json"
    event.write_text(json.dumps(EVENT))
    key = {"missing key": tmp_path / "nope.signing.json", "verification key as key": service_dir / "prod-1.key.json"}
    argv = [key.get(which, signing), tmp_path / "absent.json" if which == "missing event" else event]
    assert moderation("sign", "--key", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("moderation sign: ") and err.count("\n") == 1


def test_tampering_after_signing_is_caught_like_the_contract_does(tmp_path, capsys, keys):
    signing, service_dir = keys
    (tmp_path / "ev.json").write_text(json.dumps(EVENT))
    assert moderation("sign", "--key", signing, tmp_path / "ev.json") == 0
    line = capsys.readouterr().out.strip()
    tampered = json.loads(line.replace('"Contract"', '"Contract!"'))
    result = verify(tampered, service_dir)
    assert isinstance(result, Reason) and result.code == r.SIGNATURE_INVALID


# -- service.signing --------------------------------------------------------------------------------------

def test_sign_event_returns_a_copy_and_checks_the_provider(keys):
    signing, _ = keys
    original = dict(EVENT)
    signed = sign_event(original, signing)  # a path works as well as a SigningKey
    assert "secured" not in original and signed["secured"]
    with pytest.raises(SigningError, match=r"not for provider\.domain 'other\.org'"):
        sign_event({**EVENT, "provider": {"domain": "other.org"}}, load_signing_key(signing))
    with pytest.raises(SigningError):
        sign_event({"title": "no provider"}, load_signing_key(signing))


def test_set_secured_line_replaces_continued_values_and_refuses_odd_documents():
    text = '---\ntitle: x\n"secured": "aaa\n  bbb"\nafter: 1\n---\n'
    assert set_secured_line(text, "T;N") == '---\ntitle: x\nsecured: "T;N"\nafter: 1\n---\n'
    assert set_secured_line("\n---\nsecuredX: 1\n...\n", "T;N") == '\n---\nsecuredX: 1\nsecured: "T;N"\n...\n'
    for bad in ("title: x\n", "---\ntitle: x\n", "---\nsecured: a\nsecured: b\n---\n"):
        with pytest.raises(SigningError):
            set_secured_line(bad, "T;N")


def test_signing_key_repr_hides_the_material(keys):
    key = load_signing_key(keys[0])
    assert isinstance(key, SigningKey) and key.material.hex() not in repr(key) and "prod-1" in repr(key)
