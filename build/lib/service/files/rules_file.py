"""The rules file on disk: read it once, and notice when it changes (hot reload without restarts).

``RulesFileWatcher.poll()`` is called by the service loop between batches; it never raises for a bad file
and never logs: it returns what happened and the caller decides (keep the old rules, log, count a metric).
Write new rules atomically (write a temporary file, then rename it over the old one) so a poll never sees
half a file; if it does, the half file fails to load, is reported, and the next poll picks up the rest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from service.core.rules import Problem, RulesError, RuleSet, load_rules


def read_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Load the rules file at ``path``. Raises RulesError (naming the file) if it cannot be read or used."""
    return _load(str(path), _read(str(path)))


def _read(source: str) -> bytes:
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        problem = Problem(source, None, None, f"cannot read the rules file: {exc.strerror or exc}")
        raise RulesError([problem]) from None


def _load(source: str, data: bytes) -> RuleSet:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError([Problem(source, None, None, f"not UTF-8 (byte {exc.start})")]) from None
    return load_rules(text, source)


class RulesFileWatcher:
    """Polls one rules file. Cheap when nothing changed: one ``stat`` per poll."""

    def __init__(self, path: str | os.PathLike[str], current: RuleSet) -> None:
        self.path = str(path)
        self.current = current
        self._seen: tuple[int, int] | None = self._stat()
        self._seen_digest = current.version

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def poll(self) -> RuleSet | RulesError | None:
        """None: unchanged (or the change was already reported). A RuleSet: the file changed and loaded; it
        becomes ``current``. A RulesError: the file changed and cannot be used; ``current`` is kept."""
        stat = self._stat()
        if stat is not None and stat == self._seen:
            return None
        try:
            data = _read(self.path)
        except RulesError as exc:
            if self._seen is None:
                return None  # still missing: reported on the poll that first saw it gone
            self._seen = None
            return exc
        self._seen = stat
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest == self._seen_digest:
            return None  # touched or rewritten with the same bytes, or the same bad file again
        self._seen_digest = digest
        try:
            self.current = _load(self.path, data)
        except RulesError as exc:
            return exc
        return self.current
