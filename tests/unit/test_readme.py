"""The README's examples are real: its rules example loads, and the commands it names exist."""

import re
from pathlib import Path

from service.cli import build_parser
from service.core.rules import load_rules

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_readme_rules_example_loads():
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if "rules:" in b]
    assert blocks, "the README shows a rules example"
    for block in blocks:
        rules = load_rules(block, source="README.md")
        assert len(rules.rules) >= 3


def test_every_moderation_subcommand_in_the_readme_exists():
    commands = set(re.findall(r"(?:^|\s)moderation ([a-z]+)", README)) - {"moderation"}  # compose service name
    known = set(build_parser()._subparsers._group_actions[0].choices)
    assert commands, "the README names moderation subcommands"
    assert commands <= known, commands - known


def test_make_run_and_make_test_are_documented():
    assert "make run" in README and "make test" in README


def test_the_readme_settings_table_is_the_generated_one():
    from service.cli.config import reference

    def table(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith(("| `MODERATION_", "| Environment variable"))]

    assert table(README) and table(README) == table(reference())


def test_the_readme_dry_run_example_works_as_written(tmp_path):
    """The rule author's dry-run, run as the README writes it (in a directory holding proposed.yaml and seeds/)."""
    import os
    import shutil
    import subprocess
    import sys

    import orjson

    [line] = [line for line in README.splitlines() if "# dry-run: decisions + rules fired" in line]
    command = line.split("#", 1)[0].strip()
    assert command.startswith("moderation check") and "--no-verify" in command
    root = Path(__file__).parents[2]
    shutil.copytree(root / "seeds", tmp_path / "seeds")
    shutil.copy(root / "config" / "rules.yaml", tmp_path / "proposed.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = [orjson.loads(row) for row in done.stdout.splitlines()]
    assert len(rows) == len(list((root / "seeds").iterdir()))
    assert {row["signature"] for row in rows} == {"skipped"}
    fired = {Path(row["source"]).name: row["rulesFired"] for row in rows}
    assert fired["002_low_quality_listicle.md"] == ["quality-floor"]
    assert fired["004_clickbait_title.md"] == ["banned-terms"]
    assert sum(1 for rules in fired.values() if rules) >= 5, "rules fire on the seeds, not signature rejections"
