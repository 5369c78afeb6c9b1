"""A consumer's view of the contract: typed models generated from schemas/ with a standard generator
(datamodel-code-generator), and a consumer's code type-checked against them with mypy --strict.

The consumer code that is right passes; the code that forgets a null or misreads a type fails, at the lines
expected: the generated types are real (an article, its fields, the decision's outcomes), not ``dict[str, Any]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCHEMAS = Path(__file__).parents[2] / "schemas"

CONSUMER = '''
import json
from typing import cast

from decisions import Article, DecisionEvent, Reason


def read(value: bytes) -> DecisionEvent:
    return cast(DecisionEvent, json.loads(value))


def headline(event: DecisionEvent) -> str | None:
    article: Article | None = event["article"]
    if article is None:
        return None
    return f"{article['title']} ({article['provider']['domain']})"


def codes(event: DecisionEvent) -> list[str]:
    reasons: list[Reason] = event["reasons"]
    return [reason["code"] for reason in reasons]


def approved(event: DecisionEvent) -> bool:
    return event["decision"] == "approved" and event["source"]["offset"] >= 0
'''

MISTAKES = '''
from decisions import DecisionEvent


def title(event: DecisionEvent) -> str:
    return event["article"]["title"]  # line 6: the article may be null


def quality(event: DecisionEvent) -> int:
    article = event["article"]
    assert article is not None
    return article["quality"] + 1  # line 12: quality is optional (int | None)


def held(event: DecisionEvent) -> bool:
    return event["decision"] == "maybe"  # line 16: not an outcome


def offset(event: DecisionEvent) -> str:
    return event["source"]["offset"]  # line 20: an int
'''


def test_models_generated_from_the_schemas_type_a_consumer_and_catch_its_mistakes(tmp_path):
    package = tmp_path / "decisions"
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)  # the generator resolves article.schema.json next to the decision schema
    generate = subprocess.run(
        [sys.executable, "-m", "datamodel_code_generator", "--input", str(schemas / "decision.schema.json"),
         "--input-file-type", "jsonschema", "--output-model-type", "typing.TypedDict", "--output", str(package),
         "--target-python-version", "3.11", "--use-standard-collections", "--use-union-operator",
         "--formatters", "ruff-format", "--disable-timestamp"],
        capture_output=True, text=True, check=False)
    assert generate.returncode == 0, generate.stderr
    (tmp_path / "consumer.py").write_text(CONSUMER)
    (tmp_path / "mistakes.py").write_text(MISTAKES)

    from mypy import api

    files = [str(tmp_path / "consumer.py"), str(tmp_path / "mistakes.py")]
    out, err, status = api.run(["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / ".mypy"),
                                "--python-version", "3.11", *files])
    lines = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, (out, err)
    assert not [line for line in lines if "consumer.py" in line], out  # the right code type-checks
    flagged = sorted({int(line.split(":")[1]) for line in lines if "mistakes.py" in line})
    assert flagged == [6, 12, 16, 20], out
