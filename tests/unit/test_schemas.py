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
