"""What a downstream consumer would use to read our records: the JSON Schemas and the CloudEvents SDK.

Imported as a plain module by unit and integration tests (pytest puts ``tests/`` on sys.path for conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parents[1] / "schemas"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def validator(name: str = "decision.schema.json") -> jsonschema.Validator:
    """A validator of the checked-in schema ``name``, with every schema of ``schemas/`` resolvable by its $id."""
    registry: Registry = Registry()
    for path in SCHEMAS.glob("*.schema.json"):
        schema = _load(path.name)
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    schema = _load(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def cloudevent(record: Any) -> Any:
    """The record as the official CloudEvents SDK (v2) reads it: binary mode of the Kafka protocol binding."""
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

    return from_binary_event(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))
