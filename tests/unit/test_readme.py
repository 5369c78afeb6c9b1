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
