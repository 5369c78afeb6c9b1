"""What deployment relies on: the image installs locked, hash-checked versions of every runtime dependency, and
Compose gives the graceful shutdown the time it takes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.settings import Settings

ROOT = Path(__file__).parents[2]


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in requirements.lock."""
    found: dict[str, tuple[str, list[str]]] = {}
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", block)
        if match:
            found[canonicalize_name(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return found


def test_the_lock_pins_every_runtime_dependency_within_its_range_with_hashes():
    dependencies = [Requirement(line) for line in
                    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    lock = locked()
    assert lock, "requirements.lock lists no requirement"
    for requirement in dependencies:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement.name} is a runtime dependency but not in requirements.lock (make lock)"
        version, _ = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} not in {requirement}"
    unhashed = sorted(name for name, (_, hashes) in lock.items() if not hashes)
    assert unhashed == [], f"locked without a hash: {unhashed}"


def test_the_image_installs_the_lock_with_hashes_and_the_service_without_resolving_again():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements.lock" in dockerfile
    assert re.search(r"pip install --require-hashes\b[^\n]*-r requirements\.lock", dockerfile)
    assert re.search(r"pip install --no-deps /wheels/\*\.whl", dockerfile)  # nothing unlocked comes in


def test_compose_waits_longer_than_the_graceful_shutdown_before_killing_the_service():
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["moderation"]
    grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert grace, service.get("stop_grace_period")
    budget = float(service["environment"].get("MODERATION_SHUTDOWN_TIMEOUT_S",
                                              Settings.model_fields["shutdown_timeout_s"].default))
    assert int(grace[1]) > budget
