"""Deterministic, realistic signed article events for the benchmark.

Shaped like the seed (category, title, excerpt, dates, provider, topics, images, related articles with their
own images), in JSON, padded to a target size (1 KB, 2 KB or 8 KB of encoded bytes, ``secured`` included).
Event ``i`` depends only on ``(i, now, size)``: two runs with the same ``now`` produce the same bytes.

Every ``REJECT_EVERY``-th event (10%) breaks one rule of config/rules.yaml, cycling through
``REJECTED_BY`` (banned term, quality floor, http image, stale date, all-caps title); every other event passes
all of them. Dates are relative to ``now`` because rules judge freshness against the record's timestamp.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from service.core.keys import ED25519, HMAC_SHA256, SigningKey
from service.files.keydir import write_key_file
from service.signing import sign_event

SIZES = {"1k": 1024, "2k": 2048, "8k": 8192}
ALGORITHMS = {"hmac": HMAC_SHA256, "ed25519": ED25519}
REJECT_EVERY = 10
REJECTED_BY = ("banned-terms", "quality-floor", "https-image-urls", "stale-article", "title-all-caps")
# (name, domain, trusted by config/rules.yaml: skips the quality floor)
PROVIDERS = (
    ("SiliconANGLE", "siliconangle.com"), ("Reuters", "reuters.com"), ("AP News", "apnews.com"),
    ("The Verge", "theverge.com"), ("Wired", "wired.com"), ("Ars Technica", "arstechnica.com"),
)
RELATED_PROVIDERS = (("Engadget", "engadget.com"), ("TechCrunch", "techcrunch.com"), ("BBC", "bbc.co.uk"))
UNTRUSTED = ("siliconangle.com", "theverge.com", "wired.com", "arstechnica.com")
TOPICS = ("AI", "Computer Vision", "Cloud", "Security", "Policy", "Chips", "Climate", "Science", "Markets")
# No banned term of config/rules.yaml can be formed from these words.
WORDS = (
    "company", "data", "model", "report", "network", "users", "open", "research", "cloud", "security", "market",
    "policy", "chips", "energy", "team", "launch", "update", "system", "service", "platform", "public", "results",
    "study", "record", "growth", "court", "ruling", "privacy", "release", "customers", "devices", "software",
    "hardware", "quarter", "analysts", "regulators", "partners", "engineers", "dataset", "climate",
)


def signing_key(algorithm: str = "hmac") -> SigningKey:
    """A fixed key (bench only: its material is derived from its name) bound to every provider above."""
    name = ALGORITHMS.get(algorithm, algorithm)
    material = hashlib.sha256(f"bench-{name}".encode()).digest()
    return SigningKey(f"bench-{algorithm}", name, frozenset(d for _, d in PROVIDERS), material=material)


def write_verification_key(key: SigningKey, keys_dir: Path) -> Path:
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / f"{key.key_id}.key.json"
    if not path.exists():  # the key is fixed: a file already there holds the same one (write_key_file won't replace)
        write_key_file(path, key.verification_key())
    return path


def is_rejected(i: int) -> bool:
    return i % REJECT_EVERY == REJECT_EVERY - 1


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:]


def _image(rng: random.Random, host: str, scheme: str = "https") -> dict:
    return {"url": f"{scheme}://{host}/img/{rng.getrandbits(48):012x}.jpg", "width": rng.choice((600, 800, 1200)),
            "height": rng.choice((314, 350, 630)), "isCached": rng.random() < 0.5}


def article(i: int, now: datetime, size: int = SIZES["2k"], secured_length: int = 69) -> dict:
    """Event ``i`` without ``secured``, sized so that with a ``secured`` of that length it is ``size`` bytes."""
    rng = random.Random(i)
    name, domain = PROVIDERS[i % len(PROVIDERS)]
    published = now - timedelta(minutes=rng.randint(1, 2880))
    slug = f"{rng.getrandbits(40):010x}"
    event: dict = {
        "category": "news", "title": f"{_sentence(rng, rng.randint(6, 12))} ({i})", "excerpt": "",
        "publishedDateTime": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webUrl": f"https://{domain}/{published:%Y/%m/%d}/{slug}/", "type": "article",
        "quality": rng.randint(25, 120), "heat": rng.randint(-1, 50), "published": False,
        "provider": {"name": name, "domain": domain},
        "topics": rng.sample(TOPICS, rng.randint(1, 3)),
        "images": [{**_image(rng, f"cdn.{domain}"), "title": _sentence(rng, 5)} for _ in range(rng.randint(1, 2))],
        "related": [],
    }
    small = size < SIZES["2k"]  # 1 KB: one short related item, one untitled image
    if small:
        event["images"] = [_image(rng, f"cdn.{domain}")]
    for _ in range(1 if small else rng.randint(1, 2)):
        rname, rdomain = rng.choice(RELATED_PROVIDERS)
        if small:
            event["related"].append({"title": _sentence(rng, 6), "webUrl": f"https://www.{rdomain}/{slug}.html"})
            continue
        event["related"].append({
            "title": _sentence(rng, 8), "excerpt": _sentence(rng, 25),
            "publishedDateTime": (published - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "webUrl": f"https://www.{rdomain}/{slug}-{rng.randint(1, 999)}.html", "type": "article",
            "provider": {"name": rname, "domain": rdomain}, "quality": rng.randint(20, 120),
            "images": [_image(rng, f"images.{rdomain}")],
        })
    if is_rejected(i):
        _break_a_rule(event, i // REJECT_EVERY, rng)
    room = size - len(orjson.dumps(event)) - len(',"secured":""') - secured_length
    event["excerpt"] = _excerpt(rng, max(room, 40))
    return event


def _break_a_rule(event: dict, which: int, rng: random.Random) -> None:
    rule = REJECTED_BY[which % len(REJECTED_BY)]
    if rule == "banned-terms":
        event["title"] = f"Click here: {event['title']}"
    elif rule == "quality-floor":
        name, domain = PROVIDERS[0]  # an untrusted source: trusted ones skip the floor
        event["provider"], event["quality"] = {"name": name, "domain": domain}, rng.randint(-1, 19)
        event["webUrl"] = f"https://{domain}/{event['webUrl'].split('/', 3)[3]}"
    elif rule == "https-image-urls":
        event["images"][0]["url"] = event["images"][0]["url"].replace("https://", "http://")
    elif rule == "stale-article":
        event["publishedDateTime"] = "2020-05-08T04:01:00Z"
    else:
        event["title"] = event["title"].upper()


def _excerpt(rng: random.Random, length: int) -> str:
    words: list[str] = []
    total = 0
    while total < length:
        words.append(rng.choice(WORDS))
        total += len(words[-1]) + 1
    text = " ".join(words)[:length].rstrip()
    return text[0].upper() + text[1:] + "."


def signed_event(i: int, key: SigningKey, now: datetime, size: str = "2k") -> bytes:
    """Event ``i``, signed by ``key``, as JSON bytes of about ``SIZES[size]`` bytes."""
    secured_length = 113 if key.algorithm == ED25519 else 69  # base64 tag ; base64 nonce
    document = article(i, now, SIZES[size], secured_length)
    nonce = hashlib.sha256(f"{i}".encode()).digest()[:16]  # deterministic, unique per event
    return orjson.dumps(sign_event(document, key, nonce=nonce))


def signed_events(count: int, key: SigningKey, now: datetime, size: str = "2k", start: int = 0) -> list[bytes]:
    return [signed_event(i, key, now, size) for i in range(start, start + count)]


def record_key(i: int) -> bytes:
    """The record key of event ``i``: the service and the relay both keep it, so latency is matched by it."""
    return b"e%09d" % i
