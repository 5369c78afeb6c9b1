"""The checked-in JSON Schemas are exactly what the models generate, and they accept what the service emits."""

import json
from pathlib import Path

import jsonschema

from service.contracts import schemas

SCHEMAS = Path(__file__).parents[2] / "schemas"


def test_checked_in_schemas_match_the_models():
    assert schemas.drifted(SCHEMAS) == [], "run `moderation schemas` and commit the result"


def test_drift_is_detected(tmp_path):
    schemas.write(tmp_path)
    (tmp_path / "article.schema.json").write_text("{}")
    assert schemas.drifted(tmp_path) == ["article.schema.json"]


def test_article_schema_accepts_the_seed_and_refuses_a_bad_event():
    from service.core.decode import decode_event

    schema = json.loads((SCHEMAS / "article.schema.json").read_text())
    seed = decode_event((Path(__file__).parents[2] / "seeds" / "000_eec557f0eb51af83.txt").read_bytes())
    jsonschema.validate(seed, schema)
    bad = {**seed, "quality": "high"}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert list(exc.path) == ["quality"]
    else:
        raise AssertionError("a string quality must not validate")


def test_both_schemas_declare_their_dialect_and_id_and_titles_read_like_the_wire():
    article = json.loads((SCHEMAS / "article.schema.json").read_text())
    decision = json.loads((SCHEMAS / "decision.schema.json").read_text())
    for schema in (article, decision):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].startswith(schemas.BASE_ID)
    assert decision["properties"]["rulesVersion"]["title"] == "rulesVersion"
    assert article["properties"]["publishedDateTime"]["title"] == "publishedDateTime"
    assert decision["properties"]["article"]["anyOf"][0] == {"$ref": "#/$defs/Article"}
    assert decision["$defs"]["Article"] == {"$ref": "article.schema.json"} and "Image" not in decision["$defs"]


def test_the_decision_schema_types_the_article_and_accepts_every_kind_of_decision():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import orjson
    from batches import decide_flat as decide_batch
    from contract import validator

    from service.core.batch import Topics
    from service.core.signature import Keyring
    from service.files.rules_file import read_rules

    root = Path(__file__).parents[2]
    seed = (root / "seeds" / "000_eec557f0eb51af83.txt").read_bytes()
    not_an_article = orjson.dumps({"title": "t", "quality": "high"})
    values = [seed, b"\x00garbage", not_an_article, b""]
    records = [SimpleNamespace(topic="in", partition=0, offset=n, key=None, value=v, headers=[], timestamp=None)
               for n, v in enumerate(values)]
    outgoing = decide_batch(records, Keyring(), read_rules(root / "config" / "rules.yaml"),
                            Topics("a", "r", "d"), decided_at=datetime.now(UTC))
    check = validator()
    events = [orjson.loads(out.value) for out in outgoing]
    for event in events:
        check.validate(event)
    assert events[0]["article"]["title"] and events[0]["original"] is None
    assert events[2]["article"] is None and events[2]["original"]["base64"]  # schema.*: the bytes, not a dict
    assert not check.is_valid({**events[0], "article": {"title": 1}})  # typed: not just any object
