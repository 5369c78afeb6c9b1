"""JSON Schemas of the article event and the decision event, generated from the models.

``moderation schemas`` writes them into ``schemas/``; ``moderation schemas --check`` (and a test) fails when the
checked-in files differ from what the models generate, so the published contract cannot drift.

Both declare ``$schema`` (JSON Schema 2020-12, what pydantic generates) and an ``$id`` under ``BASE_ID``; the
decision's ``$id`` is also the ``ce_dataschema`` header of every decision record (service/core/cloudevents.py).
The decision schema does not copy the article schema: its ``article`` is ``#/$defs/Article``, which is
``{"$ref": "article.schema.json"}``; that resolves against its ``$id`` to the article schema's ``$id`` (and, for a
code generator reading files, to the file next to it), and the named definition gives generated code an
``Article`` type. Titles are the wire names (``rulesVersion``, not pydantic's ``Rulesversion``), so the
classes a generator derives from them read like the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from service.core.article import Article
from service.core.envelope import DECISION_SCHEMA_ID, SCHEMA_BASE_ID, DecisionEvent

BASE_ID = SCHEMA_BASE_ID
ARTICLE_FILE, ARTICLE_ID = "article.schema.json", BASE_ID + "article.schema.json"
DECISION_ID = DECISION_SCHEMA_ID  # also the ce_dataschema header of every decision
DECISION_FILE = DECISION_ID.removeprefix(BASE_ID)
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class WireTitles(GenerateJsonSchema):
    """Field titles are the field names as written on the wire (pydantic would write ``Rulesversion``)."""

    def get_title_from_name(self, name: str) -> str:
        return name


def article_schema() -> dict[str, Any]:
    schema = Article.model_json_schema(schema_generator=WireTitles)
    return {"$schema": DIALECT, "$id": ARTICLE_ID, **schema, "title": "Article event"}


def decision_schema() -> dict[str, Any]:
    schema = TypeAdapter(DecisionEvent).json_schema(schema_generator=WireTitles)
    article = article_schema()
    # pydantic inlines Article and its parts into $defs: point at the article schema instead.
    defs = schema["$defs"]
    for name, definition in article["$defs"].items():
        if defs.pop(name, definition) != definition:
            raise ValueError(f"the decision schema defines {name} differently from the article schema")
    defs["Article"] = {"$ref": ARTICLE_FILE}  # a named definition: generators call the class Article
    return {"$schema": DIALECT, "$id": DECISION_ID, **schema, "title": "Decision event"}


def generated() -> dict[str, str]:
    return {
        ARTICLE_FILE: json.dumps(article_schema(), indent=2, sort_keys=True) + "\n",
        DECISION_FILE: json.dumps(decision_schema(), indent=2, sort_keys=True) + "\n",
    }


def write(directory: Path, documents: dict[str, str] | None = None) -> list[Path]:
    """Write ``documents`` (file name -> text; the schemas when None) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (generated() if documents is None else documents).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(directory: Path, documents: dict[str, str] | None = None) -> list[str]:
    """Names of the files (the schemas when None) that are missing in ``directory`` or differ from the models."""
    return [
        name for name, text in (generated() if documents is None else documents).items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]
