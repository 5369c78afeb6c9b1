"""The article event, as producers publish it (see ``seeds/``).

Field names are the wire names (camelCase), so rule paths, JSON Schema and error paths all read the same.
Types are strict: ``"47"`` is not a quality and ``1588910460`` is not a date. Unknown fields are refused,
because everything in the event is signed and published downstream: a typo'd field would travel unchecked.
Only ``title``, ``webUrl``, ``publishedDateTime`` and ``provider`` are required; publish rules decide what
else a publisher insists on.
"""

from __future__ import annotations

import re
from typing import Annotated
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
)

MAX_TEXT = 20_000
MAX_LIST = 200


def _must_be_text(value: object) -> object:
    # Lax datetime parsing would also take numbers (epoch seconds): a date must be written as text.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a timezone, e.g. 2020-05-08T04:01:00Z")
    return value


# A plain absolute http(s) URL: lower-case scheme, an ASCII host name (optional port), then printable ASCII.
# Every string it matches passes the urlsplit() check below (hostname non-empty, no brackets, ASCII netloc);
# it only spares that check's ~2.5 µs for the URLs events carry (tests/unit/test_perf_equivalence.py).
_PLAIN_WEB_URL = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]*)?(?:[/?#][!-~]*)?")


def _must_be_web_url(value: str) -> str:
    if _PLAIN_WEB_URL.fullmatch(value) is not None:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
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
