"""The wheel: what it ships (the service, its default policy and contracts; no dev tooling, no tests), and that
it runs installed into a fresh virtual environment, from an empty directory, with no checkout around it.

Built offline from a copy of the sources (pyproject.toml, README.md, service/) with the backend installed in
the project's venv (``--no-build-isolation``). The fresh venv has no pip and gets the dependencies from the
project's venv through a ``.pth`` line, which adds that directory to ``sys.path`` without running its own
``.pth`` files, so the editable install of the checkout stays out and ``service`` comes from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import orjson
import pytest

from service.contracts import published
from service.settings import PACKAGED_RULES

ROOT = Path(__file__).parents[2]
SEED = ROOT / "seeds" / "002_low_quality_listicle.md"


def test_the_packaged_policy_and_contracts_equal_the_checked_in_ones():
    assert PACKAGED_RULES.read_bytes() == (ROOT / "config" / "rules.yaml").read_bytes(), (
        "cp config/rules.yaml service/defaults/rules.yaml")
    assert published.drifted(published.PACKAGED) == [], "run `moderation schemas`"
    assert published.drifted(ROOT / "schemas") == [], "run `moderation schemas`"


def test_schemas_dir_writes_there_and_nowhere_else(tmp_path, capsys):
    from service.cli import main

    checked_in = {path: path.stat().st_mtime_ns for path in (ROOT / "schemas").iterdir()}
    assert main(["schemas", "--dir", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(published.documents())
    assert {path: path.stat().st_mtime_ns for path in (ROOT / "schemas").iterdir()} == checked_in
    assert main(["schemas", "--check", "--dir", str(tmp_path / "out")]) == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "service", src / "service", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--wheel-dir", str(out), str(src)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [built] = out.glob("article_moderation-*.whl")
    return built


def test_the_wheel_ships_the_service_its_defaults_and_nothing_for_development(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged_rules = archive.read("service/defaults/rules.yaml")
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"service", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}, tops
    assert not [n for n in names if n.startswith(("devtools/", "tests/", "bench/")) or "/tests/" in n]
    assert not [n for n in names if "localkafka" in n or "devrun" in n or n.endswith("pom.xml")]
    assert packaged_rules == (ROOT / "config" / "rules.yaml").read_bytes()
    assert {f"service/contracts/published/{name}" for name in published.documents()} <= set(names)
    assert "moderation = service.cli:main" in entry_points
    assert "service/cli/common.py" in names and "service/core/decide.py" in names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           "--quiet", str(wheel)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_project_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv / "bin"


def run_installed(bin_dir: Path, cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "KAFKA_", "PYTHON"))}
    return subprocess.run([str(bin_dir / "moderation"), *argv], cwd=cwd, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_installed_wheel_checks_events_in_an_empty_directory(installed, tmp_path):
    where = subprocess.run([str(installed / "python"), "-c", "import service; print(service.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(installed.parent)), "service must come from the wheel, not the checkout"
    (tmp_path / "event.md").write_bytes(SEED.read_bytes())
    done = run_installed(installed, tmp_path, "check", "--now", "2026-11-26T00:00:00Z", "event.md")
    assert done.returncode == 0, done.stderr
    row = orjson.loads(done.stdout)
    assert row["decision"] == "rejected" and row["reasons"][0]["code"] == "signature.missing"
    done = run_installed(installed, tmp_path, "check", "--no-verify", "--now", "2026-11-26T00:00:00Z", "event.md")
    row = orjson.loads(done.stdout)
    assert done.returncode == 0 and row["rulesFired"] == ["quality-floor"] and row["signature"] == "skipped"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["event.md"], "nothing written where it ran"


def test_the_installed_wheel_knows_its_version_and_where_schemas_go(installed, tmp_path):
    from service.version import VERSION

    done = run_installed(installed, tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"moderation {VERSION}"
    done = run_installed(installed, tmp_path, "schemas")
    assert done.returncode == 2 and "give --dir" in done.stderr, "no checkout: nothing written into site-packages"
    done = run_installed(installed, tmp_path, "schemas", "--dir", "contracts")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "contracts").iterdir()) == sorted(published.documents())


def test_the_installed_service_loads_its_packaged_policy_and_refuses_to_start_without_keys(installed, tmp_path):
    done = run_installed(installed, tmp_path, "run", MODERATION_BOOTSTRAP_SERVERS="127.0.0.1:1",
                         MODERATION_HTTP_PORT="0")
    assert done.returncode == 2, done.stderr
    assert '"policy_loaded"' in done.stderr, "the default policy comes from the package"
    last = done.stderr.strip().splitlines()[-1]
    assert '"startup_failed"' in last and "keys_dir keys (MODERATION_KEYS_DIR)" in last
