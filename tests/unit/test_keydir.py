"""The key directory: loading verification keys, reporting bad files, permissions, and the watcher."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.core.keys import ED25519, HMAC_SHA256, InvalidKeyError, SigningKey, VerificationKey
from service.core.signature import Keyring, verify_document
from service.files.keydir import KeyDirectoryWatcher, load_keyring, read_key_file, write_key_file
from service.signing import sign_document  # draws the nonce (the core takes it as an argument)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def key(key_id: str, algorithm: str = ED25519, providers=("example.org",), **window) -> SigningKey:
    return SigningKey(key_id, algorithm, frozenset(providers), material=bytes([len(key_id)]) * 32, **window)


def install(directory: Path, signing: SigningKey) -> Path:
    path = directory / f"{signing.key_id}.key.json"
    write_key_file(path, signing.verification_key())
    return path


def raw_file(directory: Path, name: str, content: object, mode: int = 0o600) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    path.chmod(mode)
    return path


def test_written_files_are_owner_only_and_read_back_equal(tmp_path):
    original = key("k1", HMAC_SHA256, ("a.org", "b.org"), not_after=NOW)
    write_key_file(tmp_path / "k1.signing.json", original)
    install(tmp_path, original)
    for name in ("k1.signing.json", "k1.key.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert read_key_file(tmp_path / "k1.signing.json", SigningKey) == original
    assert read_key_file(tmp_path / "k1.key.json", VerificationKey) == original.verification_key()
    with pytest.raises(FileExistsError):
        write_key_file(tmp_path / "k1.key.json", original)  # never overwrites


def test_loads_every_key_and_indexes_by_provider(tmp_path):
    a, b, c = key("a"), key("bb", HMAC_SHA256), key("ccc", providers=("other.org",))
    for k in (a, b, c):
        install(tmp_path, k)
    raw_file(tmp_path, "README.txt", "not a key")  # other names are ignored
    keyring, problems = load_keyring(tmp_path)
    assert problems == []
    assert {k.key_id for k in keyring.candidates("example.org")} == {"a", "bb"}
    assert [k.key_id for k in keyring.candidates("other.org")] == ["ccc"]
    document = {"provider": {"domain": "example.org"}, "title": "x"}
    document["secured"] = sign_document(document, b)
    assert verify_document(document, keyring, NOW) == "bb"


BAD_FILES = {
    "not json": "{nope",
    "not an object": [1, 2],
    "unknown algorithm": {"keyId": "bad", "algorithm": "rsa", "providers": ["x.org"], "publicKey": "AA=="},
    "alg none": {"keyId": "bad", "algorithm": "none", "providers": ["x.org"]},
    "no material": {"keyId": "bad", "algorithm": "ed25519", "providers": ["x.org"]},
    "signing key material": {"keyId": "bad", "algorithm": "ed25519", "providers": ["x.org"],
                             "privateKey": base64.b64encode(bytes(32)).decode()},
    "short secret": {"keyId": "bad", "algorithm": "hmac-sha256", "providers": ["x.org"],
                     "secret": base64.b64encode(bytes(8)).decode()},
    "bad base64": {"keyId": "bad", "algorithm": "hmac-sha256", "providers": ["x.org"], "secret": "**"},
    "no providers": {"keyId": "bad", "algorithm": "ed25519", "providers": [],
                     "publicKey": base64.b64encode(bytes(32)).decode()},
    "providers as text": {"keyId": "bad", "algorithm": "ed25519", "providers": "x.org",
                          "publicKey": base64.b64encode(bytes(32)).decode()},
    "naive notAfter": {"keyId": "bad", "algorithm": "ed25519", "providers": ["x.org"],
                       "notAfter": "2027-01-01T00:00:00", "publicKey": base64.b64encode(bytes(32)).decode()},
    "extra field": {"keyId": "bad", "algorithm": "ed25519", "providers": ["x.org"], "alg": "none",
                    "publicKey": base64.b64encode(bytes(32)).decode()},
    "name differs from keyId": {"keyId": "other", "algorithm": "ed25519", "providers": ["x.org"],
                                "publicKey": base64.b64encode(bytes(32)).decode()},
}


@pytest.mark.parametrize("content", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_reported_and_skipped_never_fatal(tmp_path, content):
    install(tmp_path, key("good"))
    bad = raw_file(tmp_path, "bad.key.json", content)
    keyring, problems = load_keyring(tmp_path)
    assert [k.key_id for k in keyring] == ["good"]
    assert len(problems) == 1 and problems[0].path == str(bad) and problems[0].message
    assert str(bad) in str(problems[0])


def test_problems_never_quote_the_material(tmp_path):
    secret = base64.b64encode(b"s" * 31).decode()  # one byte short
    raw_file(tmp_path, "x.key.json", {"keyId": "x", "algorithm": "hmac-sha256", "providers": ["x.org"],
                                      "secret": secret})
    raw_file(tmp_path, "y.key.json", '{"keyId": "y", "secret": "' + secret + '", }')
    _, problems = load_keyring(tmp_path)
    assert len(problems) == 2 and all(secret not in str(p) for p in problems)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_loose_permissions_are_refused_unless_allowed(tmp_path, mode):
    path = install(tmp_path, key("k", HMAC_SHA256))
    path.chmod(mode)
    keyring, problems = load_keyring(tmp_path)
    assert len(keyring) == 0 and len(problems) == 1
    assert f"{mode:o}" in problems[0].message and "chmod 600" in problems[0].message
    keyring, problems = load_keyring(tmp_path, allow_loose_permissions=True)
    assert len(keyring) == 1 and problems == []


def test_owner_read_only_is_fine(tmp_path):
    install(tmp_path, key("k")).chmod(0o400)
    assert len(load_keyring(tmp_path)[0]) == 1


def test_a_signing_key_in_the_directory_is_reported_not_loaded(tmp_path):
    write_key_file(tmp_path / "k.signing.json", key("k"))
    keyring, problems = load_keyring(tmp_path)
    assert len(keyring) == 0 and "signing keys stay with the producer" in problems[0].message


def test_a_missing_directory_gives_an_empty_keyring_and_a_problem(tmp_path):
    keyring, problems = load_keyring(tmp_path / "absent")
    assert isinstance(keyring, Keyring) and len(keyring) == 0
    assert "cannot list" in problems[0].message


def test_watcher_reports_changes_only(tmp_path):
    watcher = KeyDirectoryWatcher(tmp_path)
    first = watcher.poll()
    assert first is not None and len(first) == 0  # the first poll always loads
    assert watcher.poll() is None
    install(tmp_path, key("a"))
    added = watcher.poll()
    assert added is not None and [k.key_id for k in added] == ["a"]
    assert watcher.poll() is None and watcher.poll() is None
    path = install(tmp_path, key("bb", HMAC_SHA256))
    assert [k.key_id for k in watcher.poll() or ()] == ["a", "bb"]
    path.unlink()
    removed = watcher.poll()
    assert removed is not None and [k.key_id for k in removed] == ["a"]
    assert watcher.poll() is None


def test_watcher_notices_a_replaced_file_and_a_permission_fix(tmp_path):
    watcher = KeyDirectoryWatcher(tmp_path)
    path = install(tmp_path, key("a"))
    path.chmod(0o644)
    refused = watcher.poll()
    assert refused is not None and len(refused) == 0 and len(watcher.problems) == 1
    path.chmod(0o600)
    fixed = watcher.poll()
    assert fixed is not None and len(fixed) == 1 and watcher.problems == []
    replacement = tmp_path / "tmp"
    write_key_file(replacement, key("a", providers=("example.net",)).verification_key())
    os.replace(replacement, path)  # same name, same size: the inode and mtime tell
    renewed = watcher.poll()
    assert renewed is not None and renewed.candidates("example.net") and not renewed.candidates("example.org")


def test_watcher_survives_the_directory_vanishing(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir()
    install(directory, key("a"))
    watcher = KeyDirectoryWatcher(directory)
    assert len(watcher.poll() or ()) == 1
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    # A directory that cannot be listed is an outage (a remount, a typo'd volume), not a revocation: the keys in
    # force stay, and the problem is reported. Emptying the directory is how every key is revoked.
    assert watcher.poll() is None and watcher.problems
    directory.mkdir()
    emptied = watcher.poll()
    assert emptied is not None and len(emptied) == 0


def test_invalid_key_error_is_a_value_error():
    assert issubclass(InvalidKeyError, ValueError)
