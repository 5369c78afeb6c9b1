"""What a downstream consumer would use to read our records: the JSON Schemas and the CloudEvents SDK.

Imported as a plain module by unit and integration tests (pytest puts ``tests/`` on sys.path for conftest.py).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parents[1] / "schemas"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@cache
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


@cache
def _message_headers(message: str) -> jsonschema.Validator:
    import yaml

    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    schema = document["components"]["messages"][message]["headers"]
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _utf8(value: bytes | None) -> bool:
    try:
        (value or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check(record: Any) -> None:
    """What every record the service writes promises a consumer; raises AssertionError or a ValidationError.

    Headers: no name twice, and the AsyncAPI document's header schema of its message (Decision or DeadLetter).
    A decision's value: the decision schema (its article typed by the article schema). And, when its key and
    headers are text (the SDK decodes both as UTF-8), the CloudEvents SDK reads it as a valid CloudEvent whose
    data is the value.
    """
    names = [name for name, _ in record.headers]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    headers = dict(record.headers)
    dead = headers.get("ce_type", b"").endswith(b".deadlettered.v1")
    text = {name: value.decode("utf-8", "replace") for name, value in headers.items() if value is not None}
    _message_headers("DeadLetter" if dead else "Decision").validate(text)
    if not dead:
        validator().validate(json.loads(record.value))
    if _utf8(record.key) and all(_utf8(value) for value in headers.values()):
        event = cloudevent(record)
        if not dead:
            assert event.get_data() == json.loads(record.value)
