"""The AsyncAPI 3.0 description of the service's topics, generated from the models into ``schemas/asyncapi.yaml``.

Payloads are the JSON Schemas of ``Article`` and ``DecisionEvent`` (the same generator as ``schemas/*.json``),
with their ``$defs`` hoisted into ``components.schemas`` so the document is self-contained. Topic names are the
defaults of ``Settings``; every one is configurable. ``python -m service.contracts.asyncapi [--check]`` writes or checks
the file; a unit test fails when it drifts from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from service.contracts.schemas import generated
from service.core.batch import ERROR, ERROR_MESSAGE, ERROR_TYPE
from service.settings import Settings

PATH = Path(__file__).parents[2] / "schemas" / "asyncapi.yaml"
DECISION_HEADER = "moderation-decision"
DEAD_LETTER_HEADERS = {
    ERROR: "`<exception type>: <message>` of the failure (at most 500 characters of message).",
    ERROR_TYPE: "The exception type, e.g. `DecisionTooLarge`.",
    ERROR_MESSAGE: "The exception message (at most 500 characters).",
    "moderation-source-topic": "Topic of the original record.",
    "moderation-source-partition": "Partition of the original record (decimal).",
    "moderation-source-offset": "Offset of the original record (decimal).",
}


def _hoist(schema: dict[str, Any], into: dict[str, Any], name: str) -> None:
    """Move ``schema`` and its ``$defs`` into ``into`` (components.schemas), rewriting the references."""
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    schema = json.loads(text)
    for def_name, definition in schema.pop("$defs", {}).items():
        if into.get(def_name, definition) != definition:
            raise ValueError(f"two models define different schemas named {def_name}")
        into[def_name] = definition
    schema.pop("$id", None)
    into[name] = schema


def _headers(properties: dict[str, str]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": "string", "description": v} for k, v in properties.items()}}


def document() -> dict[str, Any]:
    defaults = Settings.model_construct()
    schemas: dict[str, Any] = {}
    json_schemas = generated()
    _hoist(json.loads(json_schemas["article.schema.json"]), schemas, "Article")
    _hoist(json.loads(json_schemas["decision.schema.json"]), schemas, "DecisionEvent")
    def kafka_key() -> dict[str, Any]:  # a fresh dict each time: shared ones become YAML anchors
        return {"kafka": {"key": {"type": "string", "description": "The input record's key, copied to its outputs."}}}

    messages = {
        "Article": {"name": "Article", "title": "Article event", "contentType": "application/json",
                    "summary": "An article to moderate: JSON, or YAML front matter (same fields); may carry "
                               "`secured`, its signature.",
                    "payload": {"$ref": "#/components/schemas/Article"}, "bindings": kafka_key()},
        "Decision": {"name": "Decision", "title": "Decision event", "contentType": "application/json",
                     "summary": "Exactly one per input record: the decision, the reasons with stable codes "
                                "(input.*, schema.*, signature.*, rule codes), the rules version and the article.",
                     "headers": _headers({DECISION_HEADER: "`approved` or `rejected`."}),
                     "payload": {"$ref": "#/components/schemas/DecisionEvent"}, "bindings": kafka_key()},
        "DeadLetter": {"name": "DeadLetter", "title": "Dead-lettered record", "contentType": "application/octet-stream",
                       "summary": "A record whose processing raised (a bug, not a bad article): the original key, "
                                  "value and headers, plus headers that say what failed and where it came from.",
                       "headers": _headers(DEAD_LETTER_HEADERS),
                       "payload": {"type": "string", "format": "binary", "description": "The original value."},
                       "bindings": kafka_key()},
    }
    topics = {
        "incoming": (defaults.input_topic, "Article", "input_topic", "Article events to moderate."),
        "approved": (defaults.approved_topic, "Decision", "approved_topic", "Decisions that approve the article."),
        "rejected": (defaults.rejected_topic, "Decision", "rejected_topic", "Decisions that reject the event."),
        "deadletter": (defaults.deadletter_topic, "DeadLetter", "deadletter_topic", "Records that could not be "
                       "decided because of a bug; their input offsets are committed like any other."),
    }
    channels, operations = {}, {}
    for channel, (address, message, setting, description) in topics.items():
        channels[channel] = {
            "address": address,
            "description": f"{description} Name set by `{setting}` (MODERATION_{setting.upper()}).",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        action = "receive" if channel == "incoming" else "send"
        operations[f"{action}{channel.capitalize()}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Article moderation",
            "version": "1.0.0",
            "description": "Consumes article events, verifies their signature, applies publish rules, and "
                           "publishes one decision per event (exactly once by default, in Kafka transactions).",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    header = "# Generated by `python -m service.contracts.asyncapi` from the models; do not edit by hand.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=110)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PATH.is_file() or PATH.read_text(encoding="utf-8") != text:
            print(f"{PATH} differs from the models (run `python -m service.contracts.asyncapi`)", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
