"""schemas/asyncapi.yaml: generated from the models, self-contained, and true to what the service emits."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import orjson
import yaml
from batches import decide_flat as decide_batch

from service.contracts import asyncapi
from service.core.batch import PolicySnapshot, Topics, dead_letter, process_batch
from service.core.decode import decode_event
from service.core.envelope import Source
from service.core.signature import Keyring
from service.files.rules_file import read_rules

ROOT = Path(__file__).parents[2]
SEED = (ROOT / "seeds" / "000_eec557f0eb51af83.txt").read_bytes()
TOPICS = Topics("articles.approved", "articles.rejected", "articles.deadletter")


def checked_in() -> dict:
    return yaml.safe_load((ROOT / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))


def resolve(doc: dict, ref: str) -> object:
    node: object = doc
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved reference {ref}"
        node = node[part]
    return node


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def validator(doc: dict, schema_name: str) -> jsonschema.Validator:
    # In draft 7 a root `$ref` stands for the whole schema, so the document itself is the resolution scope.
    return jsonschema.Draft7Validator({**doc, "$ref": f"#/components/schemas/{schema_name}"})


def record(value: bytes, offset: int = 0, headers=()) -> SimpleNamespace:
    return SimpleNamespace(topic="articles.incoming", partition=0, offset=offset, key=b"k", value=value,
                           headers=list(headers), timestamp=int(datetime.now(UTC).timestamp() * 1000))


def test_the_checked_in_document_is_what_the_models_generate():
    assert (ROOT / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8") == asyncapi.render(), (
        "run `python -m service.contracts.asyncapi`"
    )
    assert asyncapi.main(["--check"]) == 0


def test_every_reference_resolves_and_every_topic_has_an_operation():
    doc = checked_in()
    assert doc["asyncapi"] == "3.0.0"
    for ref in refs(doc):
        resolve(doc, ref)
    assert "$defs" not in str(doc)
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == {"articles.incoming", "articles.approved", "articles.rejected", "articles.deadletter",
                         "articles.review", "articles.review.actions", "articles.review.resolutions"}
    actions = sorted(op["action"] for op in doc["operations"].values())
    assert actions == ["receive", "receive", "send", "send", "send", "send", "send"]


def test_the_article_payload_schema_accepts_the_seed_and_refuses_a_wrong_type():
    check = validator(checked_in(), "Article")
    seed = decode_event(SEED)
    check.validate(seed)
    assert [list(e.path) for e in check.iter_errors({**seed, "quality": "high"})] == [["quality"]]


def headers_check(doc: dict, message: str) -> jsonschema.Validator:
    schema = doc["components"]["messages"][message]["headers"]
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def text(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    assert len({name for name, _ in headers}) == len(headers), f"a header appears twice: {headers}"
    return {name: value.decode() for name, value in headers}


def test_decision_events_and_headers_the_service_emits_match_the_document():
    doc = checked_in()
    check = validator(doc, "DecisionEvent")
    policy = PolicySnapshot(Keyring(), read_rules(ROOT / "config" / "rules.yaml"))
    trace = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("tracestate", b"k=v")]
    (outgoing,) = process_batch({0: [record(SEED), record(b"\x00garbage", 1, trace)]}, policy, datetime.now(UTC),
                                topics=TOPICS).values()
    assert len(outgoing) == 2
    declared = doc["components"]["messages"]["Decision"]["headers"]
    for out in outgoing:
        check.validate(orjson.loads(out.value))
        headers = text(out.headers)
        headers_check(doc, "Decision").validate(headers)
        assert set(declared["required"]) <= set(headers) <= set(declared["properties"])
    assert {"traceparent", "tracestate"} <= set(text(outgoing[1].headers))  # the optional ones, when they apply
    assert not headers_check(doc, "Decision").is_valid({**text(outgoing[0].headers), "ce_specversion": "0.3"})


def test_dead_letter_headers_are_the_documented_ones():
    doc = checked_in()
    trace = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    dead = decide_batch([record(b"x", 5, [("trace", b"1"), ("content-type", b"text/plain"), trace])], Keyring(),
                        None, TOPICS, decided_at=datetime.now(UTC))[0]  # rules=None: a bug, dead-lettered
    assert dead.topic == TOPICS.deadletter
    headers = text(dead.headers)
    headers_check(doc, "DeadLetter").validate(headers)
    declared = doc["components"]["messages"]["DeadLetter"]["headers"]
    added = set(headers) - {"trace", "moderation-original-content-type", "moderation-original-traceparent"}
    assert set(declared["required"]) <= added <= set(declared["properties"])
    assert set(asyncapi.DEAD_LETTER_HEADERS) <= added
    assert headers["content-type"] == "text/plain" and headers["moderation-original-content-type"] == "text/plain"
    plain = dead_letter(record(b"value", 5), Source("articles.incoming", 0, 5), KeyError("x"), TOPICS.deadletter)
    assert set(text(plain.headers)) == set(asyncapi.DEAD_LETTER_HEADERS)  # before the CloudEvents stamp
