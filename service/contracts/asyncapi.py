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
from typing import Any, get_args

import yaml

from service.contracts.review_records import EVENT_ID
from service.contracts.review_records import SCHEMAS as REVIEW_SCHEMAS
from service.contracts.schemas import ARTICLE_FILE, generated
from service.core.batch import ERROR, ERROR_MESSAGE, ERROR_TYPE
from service.core.cloudevents import DEADLETTERED, DEFAULT_SOURCE, TYPES
from service.core.decision import Outcome
from service.core.envelope import DECISION_SCHEMA_ID
from service.settings import Settings

PATH = Path(__file__).parents[2] / "schemas" / "asyncapi.yaml"
DECISIONS = list(get_args(Outcome))  # the outcomes a Decision message can carry
DECISION_HEADER = "moderation-decision"
REVIEW_HEADER = "moderation-review"
# Header name -> (JSON Schema of its text, required). Each header's value is UTF-8 text on the wire.
DEAD_LETTER_HEADERS = {
    ERROR: "`<exception type>: <message>` of the failure (at most 500 characters of message).",
    ERROR_TYPE: "The exception type, e.g. `DecisionTooLarge`.",
    ERROR_MESSAGE: "The exception message (at most 500 characters).",
    "moderation-source-topic": "Topic of the original record.",
    "moderation-source-partition": "Partition of the original record (decimal).",
    "moderation-source-offset": "Offset of the original record (decimal).",
}
DEAD_LETTER_OVERSIZED_HEADERS = {
    "moderation-original-bytes": "Only when the original value was too large to keep (the value is then empty): "
                                 "its size in bytes (decimal).",
    "moderation-original-sha256": "Only with moderation-original-bytes: the SHA-256 of the original value (hex).",
}
# The input's own headers that the service sets itself, kept under a new name in a dead letter.
RENAMED_ORIGINALS = "^moderation-original-(ce_.+|content-type|traceparent|tracestate)$"
SETTING_SOURCE = "`cloudevents_source` (MODERATION_CLOUDEVENTS_SOURCE)"


def _cloudevents_headers(outcomes: list[str], content_type: dict[str, Any], data: str) -> dict[str, Any]:
    """The CloudEvents 1.0 attributes (Kafka protocol binding, binary mode) and W3C trace context headers."""
    return {
        "ce_specversion": ({"const": "1.0"}, True, "CloudEvents spec version."),
        "ce_id": ({}, True, "`<input topic>/<partition>/<offset>/<outcome>`: unique per decision, the same when "
                            "a record is decided again (at-least-once redelivery): (ce_source, ce_id) de-duplicates."),
        "ce_source": ({}, True, f"This service: the setting {SETTING_SOURCE}, default `{DEFAULT_SOURCE}`."),
        "ce_type": ({"enum": [TYPES[o] for o in outcomes]}, True, "The outcome, versioned (`.v1`)."),
        "ce_time": ({"format": "date-time"}, True, "When the decision was made (RFC 3339, UTC)."),
        "ce_subject": ({}, False, "The article's webUrl; the record key when there is no article and the key is "
                                  "UTF-8 text; absent otherwise."),
        **({"ce_dataschema": ({"const": DECISION_SCHEMA_ID}, True, "The decision schema's `$id`.")}
           if outcomes != [DEADLETTERED] else {}),
        "content-type": (content_type, True, f"The CloudEvents `datacontenttype`: {data}"),
        "traceparent": ({"pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"}, False,
                        "W3C trace context, when the input record carried a valid traceparent: the same trace id "
                        "and flags, the span id of this record's moderation step."),
        "tracestate": ({}, False, "The input record's tracestate, unchanged, with its traceparent."),
    }


def _hoist(schema: dict[str, Any], into: dict[str, Any], name: str) -> None:
    """Move ``schema`` and its ``$defs`` into ``into`` (components.schemas), rewriting the references.

    A reference to a sibling schema file (the decision's ``article``) becomes one to its component."""
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    text = text.replace(f'"$ref": "{ARTICLE_FILE}"', '"$ref": "#/components/schemas/Article"')
    schema = json.loads(text)
    for def_name, definition in schema.pop("$defs", {}).items():
        if definition == {"$ref": f"#/components/schemas/{def_name}"}:
            continue  # the decision's Article: a reference to the article schema, hoisted on its own
        if into.get(def_name, definition) != definition:
            raise ValueError(f"two models define different schemas named {def_name}")
        into[def_name] = definition
    schema.pop("$id", None)
    schema.pop("$schema", None)  # the document's schemaFormat applies
    into[name] = schema


def _headers(headers: dict[str, tuple[dict[str, Any], bool, str]], **more: Any) -> dict[str, Any]:
    properties = {name: {"type": "string", **schema, "description": text} for name, (schema, _, text) in
                  headers.items()}
    required = [name for name, (_, needed, _) in headers.items() if needed]
    return {"type": "object", "properties": properties, "required": required, **more}


def _described(headers: dict[str, str], required: bool) -> dict[str, tuple[dict[str, Any], bool, str]]:
    return {name: ({}, required, text) for name, text in headers.items()}


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
                                "(input.*, schema.*, signature.*, rule codes), the rules version and the article. "
                                "A CloudEvent in the binary mode of the Kafka protocol binding.",
                     "headers": _headers({
                         DECISION_HEADER: ({"enum": DECISIONS}, True, "The decision, as in the body."),
                         REVIEW_HEADER: ({"const": "settled"}, False, "Only on a final decision a reviewer "
                                         "made (approved or rejected topic, a `review` block in the body): "
                                         "`settled`."),
                         **_cloudevents_headers(DECISIONS, {"const": "application/json"}, "the decision JSON."),
                     }),
                     "payload": {"$ref": "#/components/schemas/DecisionEvent"}, "bindings": kafka_key()},
        "DeadLetter": {"name": "DeadLetter", "title": "Dead-lettered record", "contentType": "application/octet-stream",
                       "summary": "A record whose processing raised (a bug, not a bad article): the original key, "
                                  "value and headers, plus headers that say what failed and where it came from, "
                                  "and the CloudEvents attributes of a dead-lettering.",
                       "headers": _headers({
                           **_described(DEAD_LETTER_HEADERS, True), **_described(DEAD_LETTER_OVERSIZED_HEADERS, False),
                           **_cloudevents_headers([DEADLETTERED], {}, "the original record's content-type when it "
                                                  "declared one and the value is kept, else application/octet-stream."),
                       }, patternProperties={RENAMED_ORIGINALS: {
                           "type": "string", "description": "The input record's own header of that name."}},
                           additionalProperties={"description": "The input record's other headers, unchanged."}),
                       "payload": {"type": "string", "format": "binary", "description": "The original value."},
                       "bindings": kafka_key()},
        "ReviewAction": {"name": "ReviewAction", "title": "Reviewer's action", "contentType": "application/json",
                         "summary": "A signed approve/reject of a held event; only the service's settler reads it.",
                         "payload": {"$ref": "#/components/schemas/ReviewAction"},
                         "bindings": {"kafka": {"key": {**EVENT_ID}}}},
        "ReviewResolution": {"name": "ReviewResolution", "title": "Resolution or action outcome",
                             "contentType": "application/json",
                             "summary": "The settler's changelog: resolutions (key: event id) and one outcome per "
                                        "action record. Written only by the service, in the transaction that "
                                        "writes the final decision.",
                             "payload": {"oneOf": [{"$ref": "#/components/schemas/ReviewResolution"},
                                                   {"$ref": "#/components/schemas/ReviewOutcome"}]},
                             "bindings": {"kafka": {"key": {"type": "string", "description": "The event id, "
                                                            "`action:<actionId>` or `record:<topic>:<partition>:"
                                                            "<offset>`."}}}},
    }
    schemas.update(REVIEW_SCHEMAS)
    topics = {
        "incoming": (defaults.input_topic, "Article", "input_topic", "Article events to moderate."),
        "approved": (defaults.approved_topic, "Decision", "approved_topic", "Decisions that approve the article."),
        "rejected": (defaults.rejected_topic, "Decision", "rejected_topic", "Decisions that reject the event."),
        "review": (defaults.review_topic, "Decision", "review_topic", "Decisions held for a person (decision "
                   "`review`); a reviewer's action settles each one exactly once, as a decision with a `review` "
                   "block on the approved or rejected topic, with the same `source`."),
        "deadletter": (defaults.deadletter_topic, "DeadLetter", "deadletter_topic", "Records that could not be "
                       "decided because of a bug; their input offsets are committed like any other."),
        "reviewActions": (defaults.review_actions_topic, "ReviewAction", "review_actions_topic", "Reviewers' signed "
                          "actions; the service's settler applies the first valid one per held event."),
        "reviewResolutions": (defaults.review_resolutions_topic, "ReviewResolution", "review_resolutions_topic",
                              "Compacted (`cleanup.policy=compact`): the settler's resolutions and action outcomes, "
                              "its changelog; the console and the CLI read outcomes from it."),
    }
    channels, operations = {}, {}
    for channel, (address, message, setting, description) in topics.items():
        channels[channel] = {
            "address": address,
            "description": f"{description} Name set by `{setting}` (MODERATION_{setting.upper()}).",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        action = "receive" if channel in ("incoming", "reviewActions") else "send"
        operations[f"{action}{channel[:1].upper()}{channel[1:]}"] = {
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
