"""The keyring and publish rules in force, swapped atomically between batches when their files change.

A batch is decided with one (keyring, rules) snapshot, so every decision names exactly the rules version that
made it. A rules file that no longer loads, or a bad key file, is logged and the previous policy keeps running.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from service.core.rules import RuleSet
from service.core.signature import Keyring
from service.files.keydir import KeyDirectoryWatcher
from service.files.rules_file import RulesFileWatcher, read_rules
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class Snapshot:
    keyring: Keyring
    rules: RuleSet


class Policy:
    def __init__(self, settings: Settings, log: Any, metrics: Any = None) -> None:
        self._log = log
        self._metrics = metrics
        self._interval = settings.reload_interval_s
        self._next_check = time.monotonic() + self._interval
        rules = read_rules(settings.rules_file())  # at start, a bad rules file is fatal: nothing to fall back on
        self._rules_watcher = RulesFileWatcher(settings.rules_file(), rules)
        self._keys_watcher = KeyDirectoryWatcher(
            settings.keys_dir, allow_loose_permissions=settings.allow_loose_key_permissions
        )
        first = self._keys_watcher.poll()  # the first poll always loads
        keyring = first if first is not None else Keyring()  # never None: decide() reads None as "skip signatures"
        self._report_key_problems(self._keys_watcher.problems)
        self.current = Snapshot(keyring, rules)
        log.info("policy_loaded", rules_version=rules.version, rules=len(rules.rules), keys=len(keyring))

    @property
    def key_problems(self) -> list[Any]:
        """What was wrong with the key directory at the latest load (bootstrap refuses to start on some)."""
        return list(self._keys_watcher.problems)

    def refresh(self) -> Snapshot:
        """Check the files at most every reload interval; return the snapshot to decide the next batch with."""
        now = time.monotonic()
        if now < self._next_check:
            return self.current
        self._next_check = now + self._interval
        keyring, rules = self.current.keyring, self.current.rules
        changed_rules = self._poll(self._rules_watcher, "rules_reload_failed", "rules_reload_failures")
        if isinstance(changed_rules, RuleSet):
            self._log.info("rules_reloaded", old_version=rules.version, rules_version=changed_rules.version)
            rules = changed_rules
            self._count("rules_reloads")
        elif changed_rules is not None:
            self._log.error("rules_reload_failed", error=str(changed_rules), rules_version=rules.version)
            self._count("rules_reload_failures")
        changed_keys = self._poll(self._keys_watcher, "keys_reload_failed", "key_reload_failures")
        if changed_keys is not None:
            self._report_key_problems(self._keys_watcher.problems)
            self._log.info("keys_reloaded", keys=len(changed_keys), key_ids=sorted(k.key_id for k in changed_keys))
            keyring = changed_keys
            self._count("key_reloads")
        self.current = Snapshot(keyring, rules)
        return self.current

    def _poll(self, watcher: Any, event: str, metric: str) -> Any:
        """A watcher's poll; an unforeseen error keeps the policy in force (and is reported), never stops the loop."""
        try:
            return watcher.poll()
        except Exception as exc:
            self._log.error(event, error=f"{type(exc).__name__}: {exc}", note="the previous policy stays in force")
            self._count(metric)
            return None

    def _report_key_problems(self, problems: list[Any]) -> None:
        for problem in problems:
            self._log.warning("key_file_refused", problem=str(problem))

    def _count(self, name: str) -> None:
        if self._metrics is not None:
            self._metrics.count(name)
