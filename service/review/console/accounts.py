"""Reviewer accounts: a JSON file of argon2id password hashes, written by ``moderation console add-reviewer``.

``{"reviewers": {"alice": {"hash": "$argon2id$..."}}}``, mode 0600. A password is never stored or logged;
verification costs ~50 ms of argon2id by design (with the console's login rate limit, guessing is slow).
An unknown name is checked against a dummy hash, so the time taken does not tell which names exist.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD = 12
_HASHER = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """What an unknown name is checked against. Made once, when the console starts (so that the first unknown
    name's login takes no longer than a known one's), not at import: every command imports this module (the
    CLI's parser), and one argon2id hash takes 64 MiB for a moment (``moderation run`` peaked at 122 MB of RSS
    for it, against ~65 MB at start without) and ~0.2 s of CPU."""
    return _HASHER.hash("not a password anyone has")


class AccountError(ValueError):
    """A name or password that cannot be an account, or an unreadable accounts file."""


def read_accounts(path: Path) -> dict[str, str]:
    """``{name: hash}``; a missing file holds no accounts."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AccountError(f"cannot read the accounts file {path}: {exc}") from None
    reviewers = doc.get("reviewers") if isinstance(doc, dict) else None
    if not isinstance(reviewers, dict):
        raise AccountError(f"{path}: expected {{\"reviewers\": {{name: {{\"hash\": ...}}}}}}")
    return {name: entry["hash"] for name, entry in reviewers.items()
            if isinstance(entry, dict) and isinstance(entry.get("hash"), str)}


class AccountsFile:
    """The accounts file, read again only when it changed (its mtime, size or inode): the console asks on every
    signed-in request whether the session's reviewer still has an account, and a stat is all that costs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._accounts: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        """``{name: hash}`` as the file holds it now; raises AccountError when it cannot be read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._accounts = None, {}
            return {}
        except OSError as exc:
            raise AccountError(f"cannot read the accounts file {self.path}: {exc}") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._accounts, self._stamp = read_accounts(self.path), stamp
        return self._accounts


def add_reviewer(path: Path, name: str, password: str) -> None:
    """Add or replace ``name``'s password hash; the file is replaced atomically, mode 0600."""
    if not NAME.fullmatch(name):
        raise AccountError("a reviewer name is 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    accounts = read_accounts(path)
    accounts[name] = _HASHER.hash(password)
    body = json.dumps({"reviewers": {n: {"hash": h} for n, h in sorted(accounts.items())}}, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def check_password(accounts: dict[str, str], name: str, password: str) -> bool:
    stored = accounts.get(name)
    try:
        return _HASHER.verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
