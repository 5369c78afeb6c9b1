"""The rules file adapter (read, watch) and the `moderation rules validate|diff` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rules_helpers import SEED, make_document, reject_rule, rules_yaml

from service.cli import main
from service.core.rules import RulesError, RuleSet
from service.files.rules_file import RulesFileWatcher, read_rules

FLOOR_20 = rules_yaml(reject_rule({"field": "quality", "lt": 20}, "floor", reason="quality.too_low"))
FLOOR_50 = FLOOR_20.replace("lt: 20", "lt: 50")
BROKEN = FLOOR_20.replace("quality", "qualty", 1)


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_read_rules_names_the_file(tmp_path):
    good = write(tmp_path / "good.yaml", FLOOR_20)
    assert read_rules(good).source == str(good) and read_rules(good).rules == ("floor",)
    with pytest.raises(RulesError, match=r"bad\.yaml:\d+: rule 'floor'"):
        read_rules(write(tmp_path / "bad.yaml", BROKEN))
    with pytest.raises(RulesError, match="cannot read"):
        read_rules(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"rules: []\n# caf\xe9\n")
    with pytest.raises(RulesError, match="not UTF-8"):
        read_rules(tmp_path / "latin1.yaml")


def test_watcher_reports_changes_once_and_keeps_good_rules(tmp_path):
    path = write(tmp_path / "rules.yaml", FLOOR_20, 1_000_000_000)
    watcher = RulesFileWatcher(path, read_rules(path))
    assert watcher.poll() is None  # unchanged
    write(path, FLOOR_20, 2_000_000_000)
    assert watcher.poll() is None  # touched, same bytes
    write(path, FLOOR_50, 3_000_000_000)
    reloaded = watcher.poll()
    assert isinstance(reloaded, RuleSet) and "lt: 50" in FLOOR_50 and watcher.current is reloaded
    assert watcher.poll() is None
    write(path, BROKEN, 4_000_000_000)
    error = watcher.poll()
    assert isinstance(error, RulesError) and watcher.current is reloaded  # the old rules stay
    write(path, BROKEN, 5_000_000_000)
    assert watcher.poll() is None  # the same bad file is not reported again
    path.unlink()
    assert isinstance(watcher.poll(), RulesError)
    assert watcher.poll() is None
    write(path, FLOOR_20, 6_000_000_000)
    back = watcher.poll()
    assert isinstance(back, RuleSet) and back.version != reloaded.version


def test_validate_prints_ok_or_every_problem(tmp_path, capsys):
    good = write(tmp_path / "good.yaml", FLOOR_20)
    assert main(["rules", "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok {good} sha256:") and out.rstrip().endswith("1 rules")
    bad = write(tmp_path / "bad.yaml", BROKEN)
    assert main(["rules", "validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:" in out and "rule 'floor'" in out and f"invalid {bad}: 1 problem(s)" in out


def test_diff_lists_changed_decisions_and_counts(tmp_path, capsys):
    old, new = write(tmp_path / "old.yaml", FLOOR_20), write(tmp_path / "new.yaml", FLOOR_50)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.json").write_text(json.dumps(SEED))  # quality 47: rejected by the new floor only
    lines = [json.dumps(make_document(quality=q)) for q in (10, 60)] + ["not json"]
    (corpus / "more.jsonl").write_text("\n".join(lines) + "\n")
    args = ["rules", "diff", str(old), str(new), str(corpus), "--now", "2020-05-08T05:00:00Z"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{corpus / 'seed.json'}: approved->rejected" in out
    assert "quality.too_low" in out and "more.jsonl" not in out
    assert out.rstrip().splitlines()[-1].startswith("4 events: 1 decisions changed (1 approved->rejected")
    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["source"].endswith("seed.json") and rows[0]["new"]["rulesFired"] == ["floor"]
    assert rows[0]["old"]["decision"] == "approved" and rows[0]["new"]["decision"] == "rejected"
    assert rows[-1]["summary"]["events"] == 4 and rows[-1]["summary"]["approved->rejected"] == 1


def test_diff_refuses_a_broken_rules_file(tmp_path, capsys):
    old, bad = write(tmp_path / "old.yaml", FLOOR_20), write(tmp_path / "bad.yaml", BROKEN)
    assert main(["rules", "diff", str(old), str(bad), str(old)]) == 2  # a usage error, as in `check`
    err = capsys.readouterr().err
    assert "rule 'floor'" in err and err.count("\n") == 1
