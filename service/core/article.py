"""The article event, as producers publish it (see ``seeds/``).

Field names are the wire names (camelCase), so rule paths, JSON Schema and error paths all read the same.
Types are strict: ``"47"`` is not a quality and ``1588910460`` is not a date. Unknown fields are refused,
because everything in the event is signed and published downstream: a typo'd field would travel unchecked.
Only ``title``, ``webUrl``, ``publishedDateTime`` and ``provider`` are required; publish rules decide what
else a publisher insists on.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import SchemaValidator

from service.core.urls import PLAIN_URL, PLAIN_URL_ANCHORED_NO_LOOKAHEAD, browser_host

MAX_TEXT = 20_000
MAX_LIST = 200


def _must_be_text(value: object) -> object:
    # Lax datetime parsing would also take numbers (epoch seconds): a date must be written as text.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a timezone, e.g. 2020-05-08T04:01:00Z")
    return value


# A plain absolute http(s) URL (service/core/urls.py PLAIN_URL): ASCII host labels, a port of at most 4 digits,
# then printable ASCII. Every string it matches passes both checks below; it spares them (~2.5 µs with ada-url)
# for the URLs events carry (tests/unit/test_perf_equivalence.py, tests/unit/test_urls.py).
_PLAIN_WEB_URL = PLAIN_URL


def _must_be_web_url(value: str) -> str:
    if _PLAIN_WEB_URL.fullmatch(value) is not None:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    # A URL a browser (WHATWG URL Standard) refuses to open, such as https://a b/ or a port over 65535, is
    # refused too: a rule could not know which host it names.
    if browser_host(value) is None:
        raise ValueError("must be a URL a browser can open (WHATWG URL Standard)")
    return value


Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]
ShortText = Annotated[StrictStr, Field(max_length=1_000)]
WebUrl = Annotated[StrictStr, Field(max_length=4_096), AfterValidator(_must_be_web_url)]
# Two or more dot-separated labels of 1-63 letters, digits or hyphens, checked in pydantic-core (Rust): the
# same set as the former pattern ^[A-Za-z0-9.-]+$ plus a Python label check, without a Python call per domain.
Domain = Annotated[StrictStr, Field(max_length=253, pattern=r"^[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+$")]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_must_be_text)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
Score = Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Provider(_Model):
    name: ShortText
    domain: Domain


class Image(_Model):
    url: WebUrl
    width: Count | None = None
    height: Count | None = None
    isCached: StrictBool | None = None
    title: ShortText | None = None


class RelatedArticle(_Model):
    title: ShortText
    excerpt: Text | None = None
    publishedDateTime: Timestamp | None = None
    webUrl: WebUrl
    ampWebUrl: WebUrl | None = None
    cdnAmpWebUrl: WebUrl | None = None
    type: ShortText | None = None
    provider: Provider | None = None
    quality: Score | None = None
    images: Annotated[tuple[Image, ...], Field(max_length=MAX_LIST)] | None = None


class Article(_Model):
    category: ShortText | None = None
    title: ShortText
    excerpt: Text | None = None
    publishedDateTime: Timestamp
    webUrl: WebUrl
    type: ShortText | None = None
    quality: Score | None = None
    heat: Score | None = None
    published: StrictBool | None = None
    provider: Provider
    topics: Annotated[tuple[ShortText, ...], Field(max_length=MAX_LIST)] | None = None
    images: Annotated[tuple[Image, ...], Field(max_length=MAX_LIST)] | None = None
    related: Annotated[tuple[RelatedArticle, ...], Field(max_length=MAX_LIST)] | None = None
    secured: Annotated[StrictStr, Field(max_length=4_096)] | None = None


# The same models, validated without calling Python for the usual event. Each URL field's check becomes a
# pattern pydantic-core matches itself (PLAIN_URL, rewritten for Rust's regex engine), and each date's "must be
# text" a strict-string step before the date. What this accepts, Article.model_validate accepts as the same
# Article: a plain URL passes _must_be_web_url unchanged, and a string is what _must_be_text lets through. Any
# other input is refused here and judged by Article.model_validate, which gives the verdict and the messages.
# An event with 4 URLs and 2 dates: ~16 -> ~11 µs (docs/benchmarks.md).
def _without_python_checks(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_python_checks(item) for item in node]
    if not isinstance(node, dict):
        return node
    wrapped = node.get("function")
    function = wrapped.get("function") if isinstance(wrapped, dict) else None
    if node.get("type") == "function-after" and function is _must_be_web_url:
        return {**node["schema"], "pattern": PLAIN_URL_ANCHORED_NO_LOOKAHEAD, "regex_engine": "rust-regex"}
    if node.get("type") == "function-before" and function is _must_be_text:
        return {"type": "chain", "steps": [{"type": "str", "strict": True}, _without_python_checks(node["schema"])]}
    return {key: _without_python_checks(value) for key, value in node.items()}


def _plain_validator() -> SchemaValidator:
    # pydantic-core reuses a complete model class's own validator for a model node of a schema it is given
    # (its "prebuilt" shortcut), which would bring the Python checks back: the classes are marked incomplete
    # while this one is built. Should a pydantic-core version reuse them anyway, the result is the original
    # validator: as correct, only slower (a test in tests/unit/test_perf_equivalence.py
    # would fail and say so).
    models = (Article, RelatedArticle, Image, Provider)
    for model in models:
        model.__pydantic_complete__ = False
    try:
        return SchemaValidator(_without_python_checks(Article.__pydantic_core_schema__))
    finally:
        for model in models:
            model.__pydantic_complete__ = True


_PLAIN_ARTICLE = _plain_validator()


def validate_article(document: Any) -> Article:
    """``Article.model_validate(document)``: the same Article or the same ValidationError, faster for the usual
    event (plain ASCII http(s) URLs, dates written as text)."""
    try:
        return _PLAIN_ARTICLE.validate_python(document)
    except ValidationError:
        return Article.model_validate(document)
