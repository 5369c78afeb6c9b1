"""The published contracts as files: ``article.schema.json``, ``decision.schema.json`` and ``asyncapi.yaml``.

They are generated from the models (``schemas.py``, ``asyncapi.py``) and checked in twice: in a checkout's
``schemas/`` (what people link to) and in the package, ``service/contracts/published/`` (shipped in the wheel,
so an installed service carries its contract; read them with ``importlib.resources``). A unit test fails when
either copy drifts; ``moderation schemas`` run from a checkout rewrites both.
"""

from __future__ import annotations

from pathlib import Path

from service.contracts import asyncapi, schemas

PACKAGED = Path(__file__).parent / "published"
_ROOT = Path(__file__).parents[2]


def documents() -> dict[str, str]:
    """File name -> text, as the models generate them."""
    return {**schemas.generated(), asyncapi.PATH.name: asyncapi.render()}


def checkout_dir() -> Path | None:
    """The repository's ``schemas/`` when this package runs from a checkout (not from an installed wheel)."""
    marker = _ROOT / "pyproject.toml"
    if marker.is_file() and 'name = "article-moderation"' in marker.read_text(encoding="utf-8"):
        return _ROOT / "schemas"
    return None


def write(directory: Path) -> list[Path]:
    return schemas.write(directory, documents())


def drifted(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that are missing or differ from the models."""
    return schemas.drifted(directory, documents())
