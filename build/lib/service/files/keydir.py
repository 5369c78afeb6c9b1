"""Key files, and the directory of verification keys the service trusts.

A key file is one JSON object (format in docs/signing.md): ``keyId``, ``algorithm``, ``providers``, optional
``notBefore``/``notAfter``, and the base64 material in a field that says what the file is: ``publicKey``
(Ed25519 verification), ``privateKey`` (Ed25519 signing), ``secret`` (HMAC, both sides). Verification keys
live in ``<keyId>.key.json``, signing keys in ``<keyId>.signing.json``; both are written mode 0600.

Nothing here logs or raises for a bad file in the directory: problems come back as data, the bad file is
skipped, and the caller decides what to log. Files are re-read only when the directory changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from service.core.keys import AnyKey, InvalidKeyError, KeyKind, VerificationKey, key_from_json, key_to_json
from service.core.signature import Keyring

VERIFICATION_SUFFIX = ".key.json"
SIGNING_SUFFIX = ".signing.json"
_SUFFIXES = (VERIFICATION_SUFFIX, SIGNING_SUFFIX)
MAX_KEY_FILE = 65_536
UNLISTABLE = "cannot list the key directory"


@dataclass(frozen=True, slots=True)
class KeyProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def read_key_file(path: str | os.PathLike, kind: KeyKind) -> AnyKey:
    """One key from a file. Raises OSError or InvalidKeyError (a ValueError)."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_KEY_FILE + 1)
    if len(raw) > MAX_KEY_FILE:
        raise InvalidKeyError(f"larger than {MAX_KEY_FILE} bytes; not a key file")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, absurd nesting; could quote material
        raise InvalidKeyError("not valid JSON") from None
    return key_from_json(doc, kind)


def write_key_file(path: str | os.PathLike, key: AnyKey) -> None:
    """Create ``path`` with mode 0600 (never overwriting a file that exists) holding ``key``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(key_to_json(key), handle, indent=2)
        handle.write("\n")


def load_keyring(
    directory: str | os.PathLike, *, allow_loose_permissions: bool = False
) -> tuple[Keyring, list[KeyProblem]]:
    """``(Keyring, problems)`` from every ``*.key.json`` in ``directory``; bad files are reported, skipped."""
    problems: list[KeyProblem] = []
    keys: dict[str, VerificationKey] = {}
    try:
        names = _key_file_names(directory)
    except OSError as exc:
        return Keyring(), [KeyProblem(str(directory), f"{UNLISTABLE}: {exc.strerror}")]
    for name in names:
        path = Path(directory, name)
        if name.endswith(SIGNING_SUFFIX):
            problems.append(KeyProblem(str(path), "signing keys stay with the producer; not loaded"))
            continue
        try:
            mode = path.stat().st_mode
            if mode & 0o077 and not allow_loose_permissions:
                raise InvalidKeyError(
                    f"permissions {mode & 0o777:o} let others read or change a trusted key; chmod 600 it"
                )
            key = read_key_file(path, VerificationKey)
        except OSError as exc:
            problems.append(KeyProblem(str(path), f"cannot read: {exc.strerror}"))
            continue
        except ValueError as exc:  # InvalidKeyError, or anything else a library finds wrong with the material
            problems.append(KeyProblem(str(path), str(exc)))
            continue
        if name != key.key_id + VERIFICATION_SUFFIX:
            problems.append(KeyProblem(str(path), f"holds key {key.key_id}; name it {key.key_id}.key.json"))
            continue
        keys[key.key_id] = key
    return Keyring(keys.values()), problems


class KeyDirectoryWatcher:
    """Re-reads the key directory when its listing, sizes, mtimes, inodes or modes change. No threads."""

    def __init__(self, directory: str | os.PathLike, *, allow_loose_permissions: bool = False) -> None:
        self.directory = directory
        self.loose = allow_loose_permissions
        self.problems: list[KeyProblem] = []  # from the latest load
        self._seen: object = None
        self._loaded = False

    def poll(self) -> Keyring | None:
        """A new Keyring if the directory changed since the last call (always on the first), else None."""
        seen = _snapshot(self.directory)
        if seen == self._seen:
            return None
        self._seen = seen
        keyring, self.problems = load_keyring(self.directory, allow_loose_permissions=self.loose)
        if self._loaded and self.problems and self.problems[0].message.startswith(UNLISTABLE):
            return None  # a directory that vanished or cannot be read is an outage, not "trust no key": keep the keys
        self._loaded = True
        return keyring


def _key_file_names(directory: str | os.PathLike) -> list[str]:
    # Hidden names are skipped: Kubernetes mounts keep the real files under ..data/ with symlinks beside them.
    with os.scandir(directory) as entries:
        return sorted(e.name for e in entries if e.name.endswith(_SUFFIXES) and e.name[0] != ".")


def _snapshot(directory: str | os.PathLike) -> object:
    try:
        names = _key_file_names(directory)
    except OSError as exc:
        return ("unlistable", exc.errno)
    state = []
    for name in names:
        try:
            st = os.stat(os.path.join(directory, name))  # follows symlinks, as reading does
            state.append((name, st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode))
        except OSError as exc:
            state.append((name, exc.errno))
    return tuple(state)
