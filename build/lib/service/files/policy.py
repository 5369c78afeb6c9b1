"""The keyring and publish rules in force, swapped atomically by their own watcher task when their files change.

``watch()`` runs as an asyncio task beside the Kafka loop (bootstrap.py starts it): every reload interval it
polls both files and replaces ``current``. The loop reads ``current`` once per batch, so every decision of a
batch names exactly the rules version that made it. A rules file that no longer loads, or a bad key file, is
logged and counted (``PolicyChange``), and the previous policy keeps running: a key reload failure is a reload
that refused a key file, found the directory unlistable (the keys in force stay) or failed outright.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.core.batch import PolicySnapshot as Snapshot
from service.core.rules import RuleSet
from service.core.signature import Keyring
from service.files.keydir import KeyDirectoryWatcher
from service.files.rules_file import RulesFileWatcher, read_rules
from service.ops.reports import PolicyChange
from service.settings import Settings

__all__ = ["Policy", "Snapshot"]


class Policy:
    def __init__(self, settings: Settings, log: Any, metrics: Any = None) -> None:
        """``metrics.policy_changed(PolicyChange)`` is told of every reload and failed reload (None: nobody)."""
        self._log = log
        self._metrics = metrics
        self.interval = settings.reload_interval_s
        rules = read_rules(settings.rules_path)  # at start, a bad rules file is fatal: there is nothing to fall back on
        self._rules_watcher = RulesFileWatcher(settings.rules_path, rules)
        self._keys_watcher = KeyDirectoryWatcher(
            settings.keys_dir, allow_loose_permissions=settings.allow_loose_key_permissions
        )
        first = self._keys_watcher.poll()  # the first poll always loads
        keyring = first if first is not None else Keyring()  # never None: decide() reads None as "skip signatures"
        self._report_key_problems(self._keys_watcher.problems)
        self.current = Snapshot(keyring, rules)
        log.info("policy_loaded", rules_version=rules.version, rules=len(rules.rules), keys=len(keyring))

    async def watch(self) -> None:
        """Poll the files every reload interval and swap ``current``; runs until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.refresh()

    def refresh(self) -> Snapshot:
        """Check the files now; return the snapshot in force afterwards."""
        keyring, rules = self.current.keyring, self.current.rules
        changed_rules = self._poll(self._rules_watcher, "rules_reload_failed", PolicyChange.RULES_RELOAD_FAILED)
        if isinstance(changed_rules, RuleSet):
            self._log.info("rules_reloaded", old_version=rules.version, rules_version=changed_rules.version)
            rules = changed_rules
            self._count(PolicyChange.RULES_RELOADED)
        elif changed_rules is not None:
            self._log.error("rules_reload_failed", error=str(changed_rules), rules_version=rules.version)
            self._count(PolicyChange.RULES_RELOAD_FAILED)
        keyring = self._reload_keys(keyring)
        self.current = Snapshot(keyring, rules)
        return self.current

    def _reload_keys(self, keyring: Keyring) -> Keyring:
        before = self._keys_watcher.problems
        changed = self._poll(self._keys_watcher, "keys_reload_failed", PolicyChange.KEY_RELOAD_FAILED)
        loaded = self._keys_watcher.problems is not before  # the watcher read the directory again
        if loaded:
            self._report_key_problems(self._keys_watcher.problems)
            if self._keys_watcher.problems:  # a refused file, or an unlistable directory (keys kept)
                self._count(PolicyChange.KEY_RELOAD_FAILED)
        if changed is None:
            return keyring
        self._log.info("keys_reloaded", keys=len(changed), key_ids=sorted(k.key_id for k in changed))
        self._count(PolicyChange.KEYS_RELOADED)
        return changed

    def _poll(self, watcher: Any, event: str, failure: PolicyChange) -> Any:
        """A watcher's poll; an unforeseen error keeps the policy in force (and is reported), never stops the loop."""
        try:
            return watcher.poll()
        except Exception as exc:
            self._log.error(event, error=f"{type(exc).__name__}: {exc}", note="the previous policy stays in force")
            self._count(failure)
            return None

    def _report_key_problems(self, problems: list[Any]) -> None:
        for problem in problems:
            self._log.warning("key_file_refused", problem=str(problem))

    def _count(self, change: PolicyChange) -> None:
        if self._metrics is not None:
            self._metrics.policy_changed(change)
