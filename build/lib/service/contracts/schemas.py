"""JSON Schemas of the article event and the decision event, generated from the models.

``moderation schemas`` writes them into ``schemas/``; ``moderation schemas --check`` (and a test) fails when the
checked-in files differ from what the models generate, so the published contract cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from service.core.article import Article
from service.core.envelope import DecisionEvent

BASE_ID = "https://github.com/article-moderation/schemas/"


def generated() -> dict[str, str]:
    article = Article.model_json_schema()
    article["$id"] = BASE_ID + "article.schema.json"
    article["title"] = "Article event"
    decision = TypeAdapter(DecisionEvent).json_schema()
    decision["$id"] = BASE_ID + "decision.schema.json"
    decision["title"] = "Decision event"
    return {
        "article.schema.json": json.dumps(article, indent=2, sort_keys=True) + "\n",
        "decision.schema.json": json.dumps(decision, indent=2, sort_keys=True) + "\n",
    }


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(directory: Path) -> list[str]:
    """Names of schema files that are missing or differ from the models."""
    return [
        name for name, text in generated().items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]
